//! AlterConfigs (the legacy API): a topic's overrides become exactly the
//! configs given; every other config returns to the broker default.

use std::rc::Rc;

use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::topic_admin::{self, Outcome, BROKER, TOPIC};
use crate::shard::Shard;

pub async fn handle(
    shard: &Rc<Shard>,
    _version: i16,
    request: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let mut responses = Vec::new();
    for resource in request.resources {
        let (code, message): Outcome = match resource.resource_type {
            TOPIC => {
                let configs = resource
                    .configs
                    .iter()
                    .map(|c| {
                        (
                            c.name.to_string(),
                            c.value.as_ref().map(|v| v.to_string()).unwrap_or_default(),
                        )
                    })
                    .collect();
                topic_admin::set_topic_configs(
                    shard,
                    resource.resource_name.as_str(),
                    configs,
                    request.validate_only,
                )
                .await
            }
            BROKER => topic_admin::broker_refusal(),
            other => topic_admin::unsupported_resource(other),
        };
        responses.push(
            AlterConfigsResourceResponse::default()
                .with_error_code(code)
                .with_error_message(message.map(StrBytes::from_string))
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name),
        );
    }
    AlterConfigsResponse::default().with_responses(responses)
}
