//! AlterClientQuotas: set and remove quotas of user, client-id and ip
//! entities through the active controller (validate_only checks without
//! committing); one result per distinct entity, with Kafka's errors
//! (INVALID_REQUEST for unknown keys, entity types and combinations, bad
//! values). See `crate::quota::admin`.

use std::rc::Rc;

use kafka_protocol::messages::alter_client_quotas_response::{EntityData, EntryData};
use kafka_protocol::messages::{AlterClientQuotasRequest, AlterClientQuotasResponse};

use kafka_protocol::error::ResponseError;

use super::authorize;
use super::security_common::{mismatch, outcome, submit, wire, wire_opt};
use crate::cluster::commands::{Command, Reply};
use crate::cluster::quota_commands::ClientQuotasCommand;
use crate::quota::admin::{Alteration, RawEntity};
use crate::security::acl::operation;
use crate::security::session::Session;
use crate::shard::Shard;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    _version: i16,
    request: AlterClientQuotasRequest,
) -> AlterClientQuotasResponse {
    let alterations: Vec<Alteration> = request
        .entries
        .iter()
        .map(|e| Alteration {
            entity: e
                .entity
                .iter()
                .map(|c| {
                    let name = c.entity_name.as_ref().map(|n| n.to_string());
                    (c.entity_type.to_string(), name)
                })
                .collect(),
            ops: e
                .ops
                .iter()
                // The command travels as JSON, which has no NaN or
                // infinity: those go as -1, refused like any value <= 0.
                .map(|op| {
                    let value = if op.value.is_finite() { op.value } else { -1.0 };
                    (op.key.to_string(), (!op.remove).then_some(value))
                })
                .collect(),
        })
        .collect();
    let entities: Vec<RawEntity> = alterations.iter().map(|a| a.entity.clone()).collect();
    if !authorize::cluster(shard, session, operation::ALTER_CONFIGS) {
        let denied = authorize::denied(ResponseError::ClusterAuthorizationFailed);
        return respond(entities.into_iter().map(|e| (e, denied.clone())).collect());
    }
    let command = Command::ClientQuotas(ClientQuotasCommand {
        alterations,
        validate_only: request.validate_only,
    });
    let outcomes = match submit(shard, command).await {
        Ok(Reply::QuotasAltered(outcomes)) => outcomes,
        Ok(_) => entities.into_iter().map(|e| (e, mismatch())).collect(),
        Err(refusal) => {
            let outcome = outcome(refusal);
            entities.into_iter().map(|e| (e, outcome.clone())).collect()
        }
    };
    respond(outcomes)
}

fn respond(outcomes: Vec<(RawEntity, (i16, Option<String>))>) -> AlterClientQuotasResponse {
    let entries = outcomes
        .into_iter()
        .map(|(entity, (code, message))| {
            let entity = entity
                .into_iter()
                .map(|(entity_type, name)| {
                    EntityData::default()
                        .with_entity_type(wire(entity_type))
                        .with_entity_name(wire_opt(name))
                })
                .collect();
            EntryData::default()
                .with_error_code(code)
                .with_error_message(wire_opt(message))
                .with_entity(entity)
        })
        .collect();
    AlterClientQuotasResponse::default().with_entries(entries)
}
