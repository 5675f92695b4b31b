//! The controller's security state and its files: `DATA_DIR/security/
//! acls.toml` (one `[[acl]]` table per binding) and `scram.toml` (one
//! `[[user]]` table per user with its credentials). A change is computed on
//! a copy, written (aside, synced, renamed, directory synced) and only then
//! made current, so a failed write changes nothing and reports
//! KAFKA_STORAGE_ERROR.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use kafka_protocol::error::ResponseError;
use serde::{Deserialize, Serialize};

use super::acl::{AclBinding, AclFilter};
use super::scram::{self, ScramCredential};
use super::{Outcome, ScramUpsertion, UserCredentials};

const DIR: &str = "security";
const ACLS_FILE: &str = "acls.toml";
const SCRAM_FILE: &str = "scram.toml";

type Users = BTreeMap<String, BTreeMap<i8, ScramCredential>>;

pub struct SecurityStore {
    dir: PathBuf,
    acls: BTreeSet<AclBinding>,
    users: Users,
}

#[derive(Default, Serialize, Deserialize)]
struct AclsFile {
    #[serde(default)]
    acl: Vec<AclBinding>,
}

#[derive(Default, Serialize, Deserialize)]
struct ScramFile {
    #[serde(default)]
    user: Vec<UserEntry>,
}

#[derive(Serialize, Deserialize)]
struct UserEntry {
    name: String,
    #[serde(default)]
    credential: Vec<ScramCredential>,
}

fn ok() -> Outcome {
    (0, None)
}

fn refused(error: ResponseError, message: String) -> Outcome {
    (error.code(), Some(message))
}

fn storage_error(e: &std::io::Error) -> Outcome {
    refused(ResponseError::KafkaStorageError, e.to_string())
}

impl SecurityStore {
    /// Reads the stored state (none yet is empty). A file that does not
    /// parse is an error: starting without the ACLs an operator set would
    /// silently drop them.
    pub fn load(data_dir: &Path) -> std::io::Result<SecurityStore> {
        let dir = data_dir.join(DIR);
        let acls: AclsFile = read_toml(&dir.join(ACLS_FILE))?;
        let scram: ScramFile = read_toml(&dir.join(SCRAM_FILE))?;
        let users = scram
            .user
            .into_iter()
            .map(|u| {
                let creds = u.credential.into_iter().map(|c| (c.mechanism, c)).collect();
                (u.name, creds)
            })
            .collect();
        Ok(SecurityStore {
            dir,
            acls: acls.acl.into_iter().collect(),
            users,
        })
    }

    /// Adds every valid binding; one already present is a success that
    /// changes nothing (as in Kafka).
    pub fn create_acls(&mut self, bindings: Vec<AclBinding>) -> Vec<Outcome> {
        let mut next = self.acls.clone();
        let mut outcomes: Vec<Outcome> = bindings
            .into_iter()
            .map(|b| match b.validate() {
                Ok(()) => {
                    next.insert(b);
                    ok()
                }
                Err(msg) => refused(ResponseError::InvalidRequest, msg),
            })
            .collect();
        if next != self.acls {
            if let Err(e) = self.save_acls(&next) {
                tracing::error!("writing ACLs: {e}");
                for o in outcomes.iter_mut().filter(|o| o.0 == 0) {
                    *o = storage_error(&e);
                }
                return outcomes;
            }
            tracing::info!(count = next.len(), "ACLs changed");
            self.acls = next;
        }
        outcomes
    }

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

    /// Each filter reports every binding it matched before any is removed
    /// (a binding two filters match is reported by both), as Kafka does.
    pub fn delete_acls(&mut self, filters: &[AclFilter]) -> Vec<Result<Vec<AclBinding>, Outcome>> {
        let mut results: Vec<Result<Vec<AclBinding>, Outcome>> =
            filters.iter().map(|f| self.describe_acls(f)).collect();
        let mut next = self.acls.clone();
        for matched in results.iter().flatten() {
            for binding in matched {
                next.remove(binding);
            }
        }
        if next != self.acls {
            if let Err(e) = self.save_acls(&next) {
                tracing::error!("writing ACLs: {e}");
                for r in results.iter_mut().filter(|r| r.is_ok()) {
                    *r = Err(storage_error(&e));
                }
                return results;
            }
            tracing::info!(count = next.len(), "ACLs changed");
            self.acls = next;
        }
        results
    }

    /// Kafka's answer: every user with credentials when none are named;
    /// otherwise each distinct name once, a repeated name refused.
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

    /// Applies deletions and upsertions; a user altered twice in one
    /// request is refused entirely (DUPLICATE_RESOURCE), as in Kafka.
    pub fn alter_scram(
        &mut self,
        deletions: Vec<(String, i8)>,
        upsertions: Vec<ScramUpsertion>,
    ) -> Vec<(String, Outcome)> {
        let all: Vec<&String> = deletions
            .iter()
            .map(|d| &d.0)
            .chain(upsertions.iter().map(|u| &u.user))
            .collect();
        let counts = count(all.iter().copied());
        let mut next = self.users.clone();
        let mut outcomes: HashMap<&str, Outcome> = HashMap::new();
        for (user, mechanism) in &deletions {
            let outcome = match counts[user.as_str()] {
                1 => delete_credential(&mut next, user, *mechanism),
                _ => duplicate(user),
            };
            outcomes.insert(user, outcome);
        }
        for u in &upsertions {
            let outcome = match counts[u.user.as_str()] {
                1 => upsert_credential(&mut next, u),
                _ => duplicate(&u.user),
            };
            outcomes.insert(&u.user, outcome);
        }
        if next != self.users {
            match self.save_users(&next) {
                Ok(()) => self.users = next,
                Err(e) => {
                    tracing::error!("writing SCRAM credentials: {e}");
                    for o in outcomes.values_mut().filter(|o| o.0 == 0) {
                        *o = storage_error(&e);
                    }
                }
            }
        }
        distinct(&all)
            .into_iter()
            .map(|user| (user.to_string(), outcomes[user].clone()))
            .collect()
    }

    fn save_acls(&self, acls: &BTreeSet<AclBinding>) -> std::io::Result<()> {
        let file = AclsFile {
            acl: acls.iter().cloned().collect(),
        };
        write_toml(&self.dir, ACLS_FILE, &file)
    }

    fn save_users(&self, users: &Users) -> std::io::Result<()> {
        let user = users
            .iter()
            .filter(|(_, creds)| !creds.is_empty())
            .map(|(name, creds)| UserEntry {
                name: name.clone(),
                credential: creds.values().cloned().collect(),
            })
            .collect();
        write_toml(&self.dir, SCRAM_FILE, &ScramFile { user })
    }
}

fn delete_credential(users: &mut Users, user: &str, mechanism: i8) -> Outcome {
    if let Err((error, msg)) = scram::check_user_and_mechanism(user, mechanism) {
        return refused(error, msg);
    }
    let creds = users.get_mut(user);
    match creds.and_then(|c| c.remove(&mechanism)) {
        Some(_) => {
            users.retain(|_, c| !c.is_empty());
            ok()
        }
        None => refused(
            ResponseError::ResourceNotFound,
            format!("user {user:?} has no credential for mechanism {mechanism}"),
        ),
    }
}

fn upsert_credential(users: &mut Users, u: &ScramUpsertion) -> Outcome {
    match ScramCredential::derive(
        &u.user,
        u.mechanism,
        u.iterations,
        &u.salt,
        &u.salted_password,
    ) {
        Ok(cred) => {
            let creds = users.entry(u.user.clone()).or_default();
            creds.insert(cred.mechanism, cred);
            ok()
        }
        Err((error, msg)) => refused(error, msg),
    }
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
    let mut seen = std::collections::HashSet::new();
    names
        .iter()
        .map(AsRef::as_ref)
        .filter(|n| seen.insert(*n))
        .collect()
}

fn read_toml<T: Default + for<'de> Deserialize<'de>>(path: &Path) -> std::io::Result<T> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).map_err(|e| {
            let msg = format!("{}: {e}", path.display());
            std::io::Error::new(std::io::ErrorKind::InvalidData, msg)
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(e),
    }
}

/// Writes `name` in `dir` durably: aside, fsync, rename, fsync the directory.
fn write_toml<T: Serialize>(dir: &Path, name: &str, value: &T) -> std::io::Result<()> {
    let text = toml::to_string(value).map_err(std::io::Error::other)?;
    std::fs::create_dir_all(dir)?;
    let path = dir.join(name);
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    std::fs::File::open(dir)?.sync_all()
}
