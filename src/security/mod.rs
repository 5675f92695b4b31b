//! ACL bindings and SCRAM credentials: the state behind CreateAcls,
//! DescribeAcls, DeleteAcls, DescribeUserScramCredentials and
//! AlterUserScramCredentials.
//!
//! Owns: the set of ACL bindings and each user's SCRAM credentials. Only the
//! controller shard (0) holds them ([`SecurityStore`] in
//! `Shard::security`); other shards send a [`SecurityCall`] there. Every
//! change is written to `DATA_DIR/security/` (atomically, synced) before it
//! is acknowledged, so it survives a restart. Nothing is broadcast: no other
//! shard reads this state.
//!
//! Must not: enforce anything. fjord has no authentication, so every client
//! is the ANONYMOUS principal and every operation is allowed. ACLs are
//! stored, validated, filtered and answered exactly as a Kafka broker with
//! StandardAuthorizer does, so admin tools that manage them work, but they
//! restrict nobody (and authorized-operation fields report everything
//! allowed, see [`acl::authorized_operations`]). SCRAM credentials are kept
//! for the same reason and no login uses them. It must never return or log
//! a secret: only mechanisms and iteration counts leave this module.

pub mod acl;
pub mod scram;
mod store;
#[cfg(test)]
mod tests;

pub use store::SecurityStore;

use acl::{AclBinding, AclFilter};

/// An error code and message for one item of a request.
pub type Outcome = (i16, Option<String>);

/// One SCRAM upsertion as the client sent it. The salted password lives
/// only until the keys are derived from it.
#[derive(Clone)]
pub struct ScramUpsertion {
    pub user: String,
    pub mechanism: i8,
    pub iterations: i32,
    pub salt: bytes::Bytes,
    pub salted_password: bytes::Bytes,
}

impl std::fmt::Debug for ScramUpsertion {
    // Never print the salted password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramUpsertion")
            .field("user", &self.user)
            .field("mechanism", &self.mechanism)
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// What one user's credentials look like from outside: (mechanism,
/// iterations) pairs, or an error for that user.
#[derive(Clone, Debug)]
pub struct UserCredentials {
    pub user: String,
    pub error_code: i16,
    pub error_message: Option<String>,
    pub credentials: Vec<(i8, i32)>,
}

/// A call to the controller's security state.
#[derive(Clone, Debug)]
pub enum SecurityCall {
    CreateAcls(Vec<AclBinding>),
    DescribeAcls(AclFilter),
    DeleteAcls(Vec<AclFilter>),
    /// `None` (or an empty list) describes every user with credentials.
    DescribeScram(Option<Vec<String>>),
    AlterScram {
        deletions: Vec<(String, i8)>,
        upsertions: Vec<ScramUpsertion>,
    },
}

/// The answer to a [`SecurityCall`], variant for variant.
#[derive(Debug)]
pub enum SecurityReply {
    /// One outcome per binding, in request order.
    AclsCreated(Vec<Outcome>),
    Acls(Result<Vec<AclBinding>, Outcome>),
    /// Per filter: the bindings it removed, or why it was refused.
    AclsDeleted(Vec<Result<Vec<AclBinding>, Outcome>>),
    Scram(Vec<UserCredentials>),
    /// One (user, outcome) per distinct user altered.
    ScramAltered(Vec<(String, Outcome)>),
}

/// Controller: runs `call` against the store.
pub fn handle(store: &mut SecurityStore, call: SecurityCall) -> SecurityReply {
    match call {
        SecurityCall::CreateAcls(bindings) => {
            SecurityReply::AclsCreated(store.create_acls(bindings))
        }
        SecurityCall::DescribeAcls(filter) => SecurityReply::Acls(store.describe_acls(&filter)),
        SecurityCall::DeleteAcls(filters) => {
            SecurityReply::AclsDeleted(store.delete_acls(&filters))
        }
        SecurityCall::DescribeScram(users) => SecurityReply::Scram(store.describe_scram(users)),
        SecurityCall::AlterScram {
            deletions,
            upsertions,
        } => SecurityReply::ScramAltered(store.alter_scram(deletions, upsertions)),
    }
}

/// The answer when the security state is not here (a call that reached a
/// shard other than the controller): every item fails with NOT_CONTROLLER.
pub fn not_controller(call: SecurityCall) -> SecurityReply {
    let code = kafka_protocol::error::ResponseError::NotController.code();
    let refusal = || {
        (
            code,
            Some("the security state lives on the controller".into()),
        )
    };
    match call {
        SecurityCall::CreateAcls(b) => SecurityReply::AclsCreated(vec![refusal(); b.len()]),
        SecurityCall::DescribeAcls(_) => SecurityReply::Acls(Err(refusal())),
        SecurityCall::DeleteAcls(f) => {
            SecurityReply::AclsDeleted(f.iter().map(|_| Err(refusal())).collect())
        }
        SecurityCall::DescribeScram(users) => SecurityReply::Scram(
            users
                .unwrap_or_default()
                .into_iter()
                .map(|user| UserCredentials {
                    user,
                    error_code: code,
                    error_message: refusal().1,
                    credentials: Vec::new(),
                })
                .collect(),
        ),
        SecurityCall::AlterScram {
            deletions,
            upsertions,
        } => SecurityReply::ScramAltered(
            deletions
                .into_iter()
                .map(|d| d.0)
                .chain(upsertions.into_iter().map(|u| u.user))
                .map(|user| (user, refusal()))
                .collect(),
        ),
    }
}
