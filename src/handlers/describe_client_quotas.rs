//! DescribeClientQuotas: the entities a filter matches and their quotas,
//! from this shard's metadata image (no round trip to the controller).
//! Filters and errors are Kafka's (`crate::quota::admin::describe`); an
//! error answers without entries.

use std::rc::Rc;

use kafka_protocol::messages::describe_client_quotas_response::{EntityData, EntryData, ValueData};
use kafka_protocol::messages::{DescribeClientQuotasRequest, DescribeClientQuotasResponse};
use kafka_protocol::protocol::StrBytes;

use kafka_protocol::error::ResponseError;

use super::authorize;
use super::security_common::wire_opt;
use crate::quota::admin::{self, Component};
use crate::security::acl::operation;
use crate::security::session::Session;
use crate::shard::Shard;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    _version: i16,
    request: DescribeClientQuotasRequest,
) -> DescribeClientQuotasResponse {
    let components: Vec<Component> = request
        .components
        .iter()
        .map(|c| Component {
            entity_type: c.entity_type.to_string(),
            match_type: c.match_type,
            name: c._match.as_ref().map(|m| m.to_string()),
        })
        .collect();
    if !authorize::cluster(shard, session, operation::DESCRIBE_CONFIGS) {
        let (code, message) = authorize::denied(ResponseError::ClusterAuthorizationFailed);
        return DescribeClientQuotasResponse::default()
            .with_error_code(code)
            .with_error_message(wire_opt(message))
            .with_entries(None);
    }
    let image = shard.image.borrow().clone();
    match admin::describe(&image.client_quotas, &components, request.strict) {
        Ok(found) => {
            let entries = found
                .into_iter()
                .map(|(entity, quotas)| {
                    let entity = entity
                        .components()
                        .into_iter()
                        .map(|(entity_type, name)| {
                            EntityData::default()
                                .with_entity_type(StrBytes::from_static_str(entity_type))
                                .with_entity_name(name.map(|n| StrBytes::from_string(n.into())))
                        })
                        .collect();
                    let values = quotas
                        .iter()
                        .map(|(key, value)| {
                            ValueData::default()
                                .with_key(StrBytes::from_string(key.clone()))
                                .with_value(*value)
                        })
                        .collect();
                    EntryData::default().with_entity(entity).with_values(values)
                })
                .collect();
            DescribeClientQuotasResponse::default().with_entries(Some(entries))
        }
        Err((code, message)) => DescribeClientQuotasResponse::default()
            .with_error_code(code)
            .with_error_message(wire_opt(message))
            .with_entries(None),
    }
}
