//! ACL bindings and SCRAM credentials: the state behind CreateAcls,
//! DescribeAcls, DeleteAcls, DescribeUserScramCredentials and
//! AlterUserScramCredentials.
//!
//! Owns: Kafka's rules for that state — validating bindings and filters,
//! matching filters, checking and deriving SCRAM credentials — as pure
//! functions over [`SecurityState`], the part of the metadata image that
//! holds it (`crate::cluster::image`). Changes are records in the metadata
//! log, planned by the active controller (`crate::cluster`); reads answer
//! from each shard's image. [`legacy`] reads what a single-node fjord kept
//! in `DATA_DIR/security/`, to seed a new log.
//!
//! Also owns the authorization decision ([`authorizer`]): Kafka's
//! StandardAuthorizer rules over those bindings, as pure functions of the
//! image's [`SecurityState`], the authorizer configuration and who asks;
//! and the SASL server mechanisms ([`sasl`]: PLAIN, SCRAM, OAUTHBEARER) as
//! sans-IO state machines the connection drives. [`session`] is who a
//! connection authenticated as. This module decides; the handlers and the
//! connection enforce.
//!
//! Must not: do I/O on the request path, take locks, or enforce anything
//! itself. With the authorizer disabled (the default) every decision is
//! "allowed" and costs nothing. This module must never return or log a
//! secret: only mechanisms and iteration counts leave it.

pub mod acl;
mod acl_index;
pub mod authorizer;
#[cfg(test)]
mod authorizer_props;
#[cfg(test)]
mod authorizer_tests;
pub mod legacy;
pub mod sasl;
pub mod scram;
pub mod session;
pub mod state;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use state::SecurityState;

use scram::ScramCredential;

/// An error code and message for one item of a request.
pub type Outcome = (i16, Option<String>);

/// One SCRAM upsertion as the client sent it. The salted password lives
/// only until the keys are derived from it ([`ScramUpsertion::derive`]).
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

/// An upsertion once its keys are derived, on the broker that received it:
/// the credential to store, or why the upsertion is refused. This is what
/// travels to the controller; the salted password never does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DerivedUpsertion {
    pub user: String,
    pub credential: Result<ScramCredential, Outcome>,
}

impl ScramUpsertion {
    pub fn derive(self) -> DerivedUpsertion {
        let credential = ScramCredential::derive(
            &self.user,
            self.mechanism,
            self.iterations,
            &self.salt,
            &self.salted_password,
        )
        .map_err(|(error, msg)| (error.code(), Some(msg)));
        DerivedUpsertion {
            user: self.user,
            credential,
        }
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
