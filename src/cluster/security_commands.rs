//! The active controller's planning of ACL, SCRAM and dynamic-config
//! changes, sans-IO: a command and the current image in, the records to
//! commit and the per-item reply out. Kafka's rules (validation, filter
//! matching, duplicate users) are `crate::security` and
//! `crate::config::dynamic`'s pure functions over the image's state; this
//! module only turns their decisions into records.
//!
//! SCRAM keys are derived on the broker that received the request (see
//! `crate::security::DerivedUpsertion`); only the derived credential
//! reaches a plan.

use serde::{Deserialize, Serialize};

use super::commands::{Plan, Refusal, Reply};
use super::image::MetadataImage;
use super::records::MetadataRecord;
use crate::config::dynamic::{self, ConfigEdit, DynamicConfigState, Target};
use crate::security::acl::{AclBinding, AclFilter};
use crate::security::state::ScramChange;
use crate::security::{DerivedUpsertion, SecurityState};

/// A change to the ACLs or SCRAM credentials. Every item gets its own
/// outcome in the reply; the command as a whole is never refused.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SecurityCommand {
    CreateAcls(Vec<AclBinding>),
    DeleteAcls(Vec<AclFilter>),
    AlterScram {
        deletions: Vec<(String, i8)>,
        upsertions: Vec<DerivedUpsertion>,
    },
}

/// A change to one target's dynamic configs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DynamicConfigsCommand {
    pub target: Target,
    pub edit: ConfigEdit,
    pub validate_only: bool,
}

pub fn plan_security(image: &MetadataImage, command: &SecurityCommand) -> Plan {
    let state = &image.security;
    match command {
        SecurityCommand::CreateAcls(bindings) => {
            let (outcomes, added) = state.create_acls(bindings);
            let records = added
                .into_iter()
                .map(|binding| MetadataRecord::AddAcl { binding })
                .collect();
            Plan {
                records,
                reply: Reply::AclsCreated(outcomes),
            }
        }
        SecurityCommand::DeleteAcls(filters) => {
            let (results, removed) = state.delete_acls(filters);
            let records = removed
                .into_iter()
                .map(|binding| MetadataRecord::RemoveAcl { binding })
                .collect();
            Plan {
                records,
                reply: Reply::AclsDeleted(results),
            }
        }
        SecurityCommand::AlterScram {
            deletions,
            upsertions,
        } => {
            let (outcomes, changes) = state.alter_scram(deletions, upsertions);
            Plan {
                records: changes.into_iter().map(scram_record).collect(),
                reply: Reply::ScramAltered(outcomes),
            }
        }
    }
}

/// Replaces the target's configs with the edited ones once they are all
/// valid; nothing is committed for a validate-only request or no change.
pub fn plan_dynamic_configs(
    image: &MetadataImage,
    command: &DynamicConfigsCommand,
) -> Result<Plan, Refusal> {
    let current = image.dynamic_configs.get(&command.target);
    let configs = command.edit.apply(&current);
    dynamic::validate(&command.target, &configs).map_err(|(code, message)| Refusal {
        code,
        message: message.unwrap_or_else(|| "invalid configs".into()),
    })?;
    let records = if command.validate_only || configs == current {
        Vec::new()
    } else {
        vec![MetadataRecord::DynamicConfigs {
            target: command.target.clone(),
            configs,
        }]
    };
    Ok(Plan {
        records,
        reply: Reply::Done,
    })
}

/// The records that recreate `security` and `dynamic` in an empty image
/// (a single-node data dir joining the metadata log). Values a single-node
/// fjord could never have accepted are dropped with a warning rather than
/// carried into the log.
pub fn seed(security: &SecurityState, dynamic: &DynamicConfigState) -> Vec<MetadataRecord> {
    let mut records: Vec<MetadataRecord> = security
        .acls()
        .iter()
        .filter(|b| match b.validate() {
            Ok(()) => true,
            Err(msg) => {
                tracing::warn!(binding = ?b, "not carrying an invalid ACL over: {msg}");
                false
            }
        })
        .map(|binding| MetadataRecord::AddAcl {
            binding: binding.clone(),
        })
        .collect();
    for (user, credentials) in &security.users {
        for credential in credentials.values() {
            if let Err((_, msg)) = credential.check(user) {
                tracing::warn!(user, "not carrying an invalid SCRAM credential over: {msg}");
                continue;
            }
            records.push(MetadataRecord::ScramCredential {
                user: user.clone(),
                credential: credential.clone(),
            });
        }
    }
    let targets = dynamic
        .brokers
        .keys()
        .map(|id| Target::Broker(*id))
        .chain((!dynamic.cluster_default.is_empty()).then_some(Target::ClusterDefault))
        .chain(dynamic.groups.keys().map(|g| Target::Group(g.clone())));
    for target in targets {
        let configs = dynamic.get(&target);
        if let Err((_, msg)) = dynamic::validate(&target, &configs) {
            tracing::warn!(
                ?target,
                "not carrying invalid dynamic configs over: {msg:?}"
            );
            continue;
        }
        records.push(MetadataRecord::DynamicConfigs { target, configs });
    }
    records
}

fn scram_record(change: ScramChange) -> MetadataRecord {
    match change {
        ScramChange::Upsert { user, credential } => {
            MetadataRecord::ScramCredential { user, credential }
        }
        ScramChange::Delete { user, mechanism } => {
            MetadataRecord::RemoveScramCredential { user, mechanism }
        }
    }
}
