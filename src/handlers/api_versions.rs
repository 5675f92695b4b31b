//! ApiVersions: the APIs and version ranges fjord implements.

use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

use crate::protocol::versions::{supported_range, SUPPORTED};
use crate::security::session::Session;
use crate::shard::Shard;

pub async fn handle(
    _: &Rc<Shard>,
    _session: &Session,
    _version: i16,
    _: ApiVersionsRequest,
) -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_api_keys(api_keys())
}

/// The v0 reply to an ApiVersions request of a version fjord does not know.
pub fn unsupported_version() -> ApiVersionsResponse {
    ApiVersionsResponse::default()
        .with_error_code(ResponseError::UnsupportedVersion.code())
        .with_api_keys(api_keys())
}

fn api_keys() -> Vec<ApiVersion> {
    SUPPORTED
        .iter()
        .filter_map(|&key| {
            let (min, max) = supported_range(key)?;
            Some(
                ApiVersion::default()
                    .with_api_key(key as i16)
                    .with_min_version(min)
                    .with_max_version(max),
            )
        })
        .collect()
}
