//! The cluster's ACL bindings and SCRAM credentials as the metadata image
//! holds them, and Kafka's answers over them: validation, filter matching,
//! and which changes a request makes. Pure: a request and the current state
//! in, per-item outcomes and the changes out. The metadata log carries the
//! changes (`crate::cluster`); applying them is the only way this state
//! changes.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use serde::{Deserialize, Serialize};

use super::acl::{AclBinding, AclFilter};
use super::acl_index::AclIndex;
use super::scram::{self, ScramCredential};
use super::{DerivedUpsertion, Outcome, UserCredentials};

/// Each user's credentials, by mechanism. A user without any is absent.
pub type Users = BTreeMap<String, BTreeMap<i8, ScramCredential>>;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "Stored")]
pub struct SecurityState {
    /// Sorted so that bindings of one resource pattern are adjacent, which
    /// is how DescribeAcls groups them. Private: it changes only through
    /// [`SecurityState::add_acl`] and [`SecurityState::remove_acl`], which
    /// keep `acl_index` in step.
    acls: BTreeSet<AclBinding>,
    pub users: Users,
    /// `acls` arranged for the authorizer. Not stored: rebuilt when a
    /// state is read. Shared between the images that clone this state
    /// until one of them changes its ACLs.
    #[serde(skip)]
    acl_index: Arc<AclIndex>,
}

/// The stored form of a [`SecurityState`], which the index is rebuilt from.
#[derive(Deserialize)]
struct Stored {
    #[serde(default)]
    acls: BTreeSet<AclBinding>,
    #[serde(default)]
    users: Users,
}

impl From<Stored> for SecurityState {
    fn from(stored: Stored) -> SecurityState {
        SecurityState {
            acl_index: Arc::new(AclIndex::build(&stored.acls)),
            acls: stored.acls,
            users: stored.users,
        }
    }
}

/// What one DeleteAcls filter matched, or why it was refused.
pub type AclMatches = Result<Vec<AclBinding>, Outcome>;

/// One change to the SCRAM credentials.
#[derive(Clone, Debug, PartialEq)]
pub enum ScramChange {
    Upsert {
        user: String,
        credential: ScramCredential,
    },
    Delete {
        user: String,
        mechanism: i8,
    },
}

fn ok() -> Outcome {
    (0, None)
}

fn refused(error: ResponseError, message: String) -> Outcome {
    (error.code(), Some(message))
}

impl SecurityState {
    /// CreateAcls: one outcome per binding, and the bindings to add (each
    /// once, none already present). A binding already present is a success
    /// that changes nothing, as in Kafka.
    pub fn create_acls(&self, bindings: &[AclBinding]) -> (Vec<Outcome>, Vec<AclBinding>) {
        let mut added = Vec::new();
        let outcomes = bindings
            .iter()
            .map(|b| match b.validate() {
                Ok(()) => {
                    if !self.acls.contains(b) && !added.contains(b) {
                        added.push(b.clone());
                    }
                    ok()
                }
                Err(msg) => refused(ResponseError::InvalidRequest, msg),
            })
            .collect();
        (outcomes, added)
    }

    /// DescribeAcls: the bindings `filter` matches, in sorted order.
    pub fn describe_acls(&self, filter: &AclFilter) -> Result<Vec<AclBinding>, Outcome> {
        filter
            .validate()
            .map_err(|msg| refused(ResponseError::InvalidRequest, msg))?;
        Ok(self
            .acls
            .iter()
            .filter(|a| filter.matches(a))
            .cloned()
            .collect())
    }

    /// DeleteAcls: per filter, every binding it matched before any is
    /// removed (a binding two filters match is reported by both, as in
    /// Kafka), and the bindings to remove, each once.
    pub fn delete_acls(&self, filters: &[AclFilter]) -> (Vec<AclMatches>, Vec<AclBinding>) {
        let results: Vec<AclMatches> = filters.iter().map(|f| self.describe_acls(f)).collect();
        let removed: BTreeSet<&AclBinding> = results.iter().flatten().flatten().collect();
        let removed = removed.into_iter().cloned().collect();
        (results, removed)
    }

    /// DescribeUserScramCredentials: every user with credentials when none
    /// are named; otherwise each distinct name once, a repeated name
    /// refused (DUPLICATE_RESOURCE).
    pub fn describe_scram(&self, users: Option<Vec<String>>) -> Vec<UserCredentials> {
        let users = users.filter(|u| !u.is_empty());
        let Some(names) = users else {
            return self.users.keys().map(|u| self.describe_user(u)).collect();
        };
        let counts = count(names.iter());
        distinct(&names)
            .into_iter()
            .map(|name| {
                if counts[name] > 1 {
                    let msg = format!("user {name:?} is named more than once");
                    user_error(name, refused(ResponseError::DuplicateResource, msg))
                } else {
                    self.describe_user(name)
                }
            })
            .collect()
    }

    fn describe_user(&self, name: &str) -> UserCredentials {
        match self.users.get(name) {
            Some(creds) if !creds.is_empty() => UserCredentials {
                user: name.to_string(),
                error_code: 0,
                error_message: None,
                credentials: creds
                    .values()
                    .map(|c| (c.mechanism, c.iterations))
                    .collect(),
            },
            _ => {
                let msg = format!("user {name:?} has no SCRAM credentials");
                user_error(name, refused(ResponseError::ResourceNotFound, msg))
            }
        }
    }

    /// AlterUserScramCredentials: one (user, outcome) per distinct user in
    /// request order (deletions first), and the changes to make. A user
    /// altered twice in one request is refused entirely
    /// (DUPLICATE_RESOURCE), as in Kafka.
    pub fn alter_scram(
        &self,
        deletions: &[(String, i8)],
        upsertions: &[DerivedUpsertion],
    ) -> (Vec<(String, Outcome)>, Vec<ScramChange>) {
        let all: Vec<&String> = deletions
            .iter()
            .map(|d| &d.0)
            .chain(upsertions.iter().map(|u| &u.user))
            .collect();
        let counts = count(all.iter().copied());
        let mut changes = Vec::new();
        let mut outcomes: HashMap<&str, Outcome> = HashMap::new();
        for (user, mechanism) in deletions {
            let outcome = match counts[user.as_str()] {
                1 => self.delete_credential_change(user, *mechanism, &mut changes),
                _ => duplicate(user),
            };
            outcomes.insert(user, outcome);
        }
        for u in upsertions {
            let outcome = match counts[u.user.as_str()] {
                1 => upsert_change(u, &mut changes),
                _ => duplicate(&u.user),
            };
            outcomes.insert(&u.user, outcome);
        }
        let replies = distinct(&all)
            .into_iter()
            .map(|user| (user.to_string(), outcomes[user].clone()))
            .collect();
        (replies, changes)
    }

    fn delete_credential_change(
        &self,
        user: &str,
        mechanism: i8,
        changes: &mut Vec<ScramChange>,
    ) -> Outcome {
        if let Err((error, msg)) = scram::check_user_and_mechanism(user, mechanism) {
            return refused(error, msg);
        }
        if !self
            .users
            .get(user)
            .is_some_and(|c| c.contains_key(&mechanism))
        {
            let msg = format!("user {user:?} has no credential for mechanism {mechanism}");
            return refused(ResponseError::ResourceNotFound, msg);
        }
        changes.push(ScramChange::Delete {
            user: user.to_string(),
            mechanism,
        });
        ok()
    }

    /// Every ACL binding, sorted.
    pub fn acls(&self) -> &BTreeSet<AclBinding> {
        &self.acls
    }

    /// The bindings arranged for the authorizer.
    pub(super) fn acl_index(&self) -> &AclIndex {
        &self.acl_index
    }

    /// Applies an added binding (already present: no change).
    pub fn add_acl(&mut self, binding: AclBinding) {
        if !self.acls.contains(&binding) {
            Arc::make_mut(&mut self.acl_index).insert(&binding);
            self.acls.insert(binding);
        }
    }

    /// Applies a removed binding; false if it was not there.
    pub fn remove_acl(&mut self, binding: &AclBinding) -> bool {
        let removed = self.acls.remove(binding);
        if removed {
            Arc::make_mut(&mut self.acl_index).remove(binding);
        }
        removed
    }

    /// Applies an upserted credential.
    pub fn upsert_credential(&mut self, user: &str, credential: ScramCredential) {
        let creds = self.users.entry(user.to_string()).or_default();
        creds.insert(credential.mechanism, credential);
    }

    /// Applies a deleted credential; false if there was none. A user left
    /// without credentials is forgotten.
    pub fn delete_credential(&mut self, user: &str, mechanism: i8) -> bool {
        let removed = self
            .users
            .get_mut(user)
            .and_then(|c| c.remove(&mechanism))
            .is_some();
        self.users.retain(|_, c| !c.is_empty());
        removed
    }
}

/// An upsertion derived where it arrived: its derivation's refusal, or the
/// credential checked again here (it crossed the network).
fn upsert_change(u: &DerivedUpsertion, changes: &mut Vec<ScramChange>) -> Outcome {
    let credential = match &u.credential {
        Ok(credential) => credential,
        Err(outcome) => return outcome.clone(),
    };
    if let Err((error, msg)) = credential.check(&u.user) {
        return refused(error, msg);
    }
    changes.push(ScramChange::Upsert {
        user: u.user.clone(),
        credential: credential.clone(),
    });
    ok()
}

fn duplicate(user: &str) -> Outcome {
    let msg = format!("user {user:?} is altered more than once in one request");
    refused(ResponseError::DuplicateResource, msg)
}

fn user_error(name: &str, (code, message): Outcome) -> UserCredentials {
    UserCredentials {
        user: name.to_string(),
        error_code: code,
        error_message: message,
        credentials: Vec::new(),
    }
}

fn count<'a>(names: impl Iterator<Item = &'a String>) -> HashMap<&'a str, usize> {
    let mut counts = HashMap::new();
    for n in names {
        *counts.entry(n.as_str()).or_insert(0) += 1;
    }
    counts
}

/// Names in first-appearance order, each once.
fn distinct<S: AsRef<str>>(names: &[S]) -> Vec<&str> {
    let mut seen = HashSet::new();
    names
        .iter()
        .map(AsRef::as_ref)
        .filter(|n| seen.insert(*n))
        .collect()
}
