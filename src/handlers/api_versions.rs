//! ApiVersions: the APIs and version ranges fjord implements, and the
//! features clients look for.

use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::{
    ApiVersion, FinalizedFeatureKey, SupportedFeatureKey,
};
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::protocol::versions::{supported_range, SUPPORTED};
use crate::security::session::Session;
use crate::shard::Shard;

pub async fn handle(
    _: &Rc<Shard>,
    _session: &Session,
    _version: i16,
    _: ApiVersionsRequest,
) -> ApiVersionsResponse {
    ApiVersionsResponse::default()
        .with_api_keys(api_keys())
        .with_supported_features(vec![SupportedFeatureKey::default()
            .with_name(StrBytes::from_static_str(TRANSACTION_VERSION))
            .with_min_version(0)
            .with_max_version(2)])
        .with_finalized_features_epoch(0)
        .with_finalized_features(vec![FinalizedFeatureKey::default()
            .with_name(StrBytes::from_static_str(TRANSACTION_VERSION))
            .with_min_version_level(2)
            .with_max_version_level(2)])
}

/// The feature Kafka 4.x clients read to use transaction version 2
/// (KIP-890: EndTxn v5 bumps the epoch, Produce v12 adds partitions). It
/// is finalized at 2 as on a new Kafka 4 cluster; clients that don't look
/// (librdkafka) keep version 1, which fjord serves alongside.
const TRANSACTION_VERSION: &str = "transaction.version";

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
