//! Replies for APIs fjord knows but does not implement.
//!
//! A client that sends such a request (ignoring ApiVersions, or probing) gets
//! the API's own response with UNSUPPORTED_VERSION in its top-level error
//! code, so it fails the call instead of hanging. Only responses that carry a
//! top-level error code can say this; for the rest, and for versions whose
//! schema lacks the field, the caller closes the connection and logs why, as
//! Kafka does for requests it cannot parse.

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{self as m, ApiKey};

use super::codec::encode_response;

/// The framed error reply for `api_key` at `version`, or `None` when fjord
/// cannot express "unsupported" in that API's response.
pub fn error_reply(api_key: ApiKey, version: i16, correlation_id: i32) -> Option<Bytes> {
    let range = api_key.valid_versions();
    if !(range.min..=range.max).contains(&version) {
        return None;
    }
    let code = ResponseError::UnsupportedVersion.code();
    macro_rules! reply {
        ($($key:ident => $response:ty),* $(,)?) => {
            match api_key {
                $(ApiKey::$key => {
                    let body = <$response>::default().with_error_code(code);
                    encode_response(api_key, version, correlation_id, &body).ok()
                })*
                _ => None,
            }
        };
    }
    reply! {
        FindCoordinator => m::FindCoordinatorResponse,
        JoinGroup => m::JoinGroupResponse,
        SyncGroup => m::SyncGroupResponse,
        Heartbeat => m::HeartbeatResponse,
        LeaveGroup => m::LeaveGroupResponse,
        ListGroups => m::ListGroupsResponse,
        OffsetFetch => m::OffsetFetchResponse,
        OffsetDelete => m::OffsetDeleteResponse,
        AddPartitionsToTxn => m::AddPartitionsToTxnResponse,
        AddOffsetsToTxn => m::AddOffsetsToTxnResponse,
        EndTxn => m::EndTxnResponse,
        ListTransactions => m::ListTransactionsResponse,
        DescribeLogDirs => m::DescribeLogDirsResponse,
        CreateDelegationToken => m::CreateDelegationTokenResponse,
        RenewDelegationToken => m::RenewDelegationTokenResponse,
        ExpireDelegationToken => m::ExpireDelegationTokenResponse,
        DescribeDelegationToken => m::DescribeDelegationTokenResponse,
        UpdateFeatures => m::UpdateFeaturesResponse,
        GetTelemetrySubscriptions => m::GetTelemetrySubscriptionsResponse,
        PushTelemetry => m::PushTelemetryResponse,
        ConsumerGroupHeartbeat => m::ConsumerGroupHeartbeatResponse,
        ShareGroupHeartbeat => m::ShareGroupHeartbeatResponse,
    }
}
