//! Bounded fuzzing of the request decoder, run by `cargo test`: arbitrary
//! bytes, and mutations of valid requests, for every API and version fjord
//! supports, must decode or fail cleanly, never panic or abort. The 1-in-4
//! huge-count cases exercise `crate::alloc_guard`.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{self as m, ApiKey, RequestHeader};
use kafka_protocol::protocol::Encodable;
use proptest::prelude::*;

use super::dispatch::decode_request;
use super::versions::{supported_range, SUPPORTED};

fn decode_any(api_key: ApiKey, frame: Bytes) {
    // The result does not matter; returning at all does.
    let _ = match api_key {
        ApiKey::Produce => decode_request::<m::ProduceRequest>(frame).map(|_| ()),
        ApiKey::Fetch => decode_request::<m::FetchRequest>(frame).map(|_| ()),
        ApiKey::ListOffsets => decode_request::<m::ListOffsetsRequest>(frame).map(|_| ()),
        ApiKey::Metadata => decode_request::<m::MetadataRequest>(frame).map(|_| ()),
        ApiKey::ApiVersions => decode_request::<m::ApiVersionsRequest>(frame).map(|_| ()),
        ApiKey::CreateTopics => decode_request::<m::CreateTopicsRequest>(frame).map(|_| ()),
        ApiKey::DeleteTopics => decode_request::<m::DeleteTopicsRequest>(frame).map(|_| ()),
        ApiKey::InitProducerId => decode_request::<m::InitProducerIdRequest>(frame).map(|_| ()),
        ApiKey::DescribeConfigs => decode_request::<m::DescribeConfigsRequest>(frame).map(|_| ()),
        ApiKey::CreateAcls => decode_request::<m::CreateAclsRequest>(frame).map(|_| ()),
        ApiKey::DescribeAcls => decode_request::<m::DescribeAclsRequest>(frame).map(|_| ()),
        ApiKey::DeleteAcls => decode_request::<m::DeleteAclsRequest>(frame).map(|_| ()),
        ApiKey::DescribeUserScramCredentials => {
            decode_request::<m::DescribeUserScramCredentialsRequest>(frame).map(|_| ())
        }
        ApiKey::AlterUserScramCredentials => {
            decode_request::<m::AlterUserScramCredentialsRequest>(frame).map(|_| ())
        }
        ApiKey::DescribeCluster => decode_request::<m::DescribeClusterRequest>(frame).map(|_| ()),
        ApiKey::DescribeQuorum => decode_request::<m::DescribeQuorumRequest>(frame).map(|_| ()),
        ApiKey::DescribeTopicPartitions => {
            decode_request::<m::DescribeTopicPartitionsRequest>(frame).map(|_| ())
        }
        ApiKey::CreatePartitions => decode_request::<m::CreatePartitionsRequest>(frame).map(|_| ()),
        ApiKey::FindCoordinator => decode_request::<m::FindCoordinatorRequest>(frame).map(|_| ()),
        ApiKey::ElectLeaders => decode_request::<m::ElectLeadersRequest>(frame).map(|_| ()),
        ApiKey::AlterPartitionReassignments => {
            decode_request::<m::AlterPartitionReassignmentsRequest>(frame).map(|_| ())
        }
        ApiKey::ListPartitionReassignments => {
            decode_request::<m::ListPartitionReassignmentsRequest>(frame).map(|_| ())
        }
        ApiKey::SaslHandshake => decode_request::<m::SaslHandshakeRequest>(frame).map(|_| ()),
        ApiKey::SaslAuthenticate => decode_request::<m::SaslAuthenticateRequest>(frame).map(|_| ()),
        ApiKey::DescribeClientQuotas => {
            decode_request::<m::DescribeClientQuotasRequest>(frame).map(|_| ())
        }
        ApiKey::AlterClientQuotas => {
            decode_request::<m::AlterClientQuotasRequest>(frame).map(|_| ())
        }
        _ => Ok(()),
    };
}

/// A well-formed header for `api_key` at `version`, then `body`.
fn frame(api_key: ApiKey, version: i16, body: &[u8]) -> Bytes {
    let header = RequestHeader::default()
        .with_request_api_key(api_key as i16)
        .with_request_api_version(version)
        .with_correlation_id(7);
    let mut buf = BytesMut::new();
    header
        .encode(&mut buf, api_key.request_header_version(version))
        .expect("header encodes");
    buf.put_slice(body);
    buf.freeze()
}

fn api_and_version() -> impl Strategy<Value = (ApiKey, i16)> {
    (0..SUPPORTED.len(), 0i16..20).prop_map(|(i, v)| {
        let key = SUPPORTED[i];
        let (min, max) = supported_range(key).expect("supported");
        (key, min + v % (max - min + 1))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bodies_never_panic((key, version) in api_and_version(),
                                    body in proptest::collection::vec(any::<u8>(), 0..256)) {
        decode_any(key, frame(key, version, &body));
    }

    #[test]
    fn huge_counts_never_abort((key, version) in api_and_version(),
                               prefix in proptest::collection::vec(any::<u8>(), 0..24),
                               count in prop_oneof![Just(i32::MAX), Just(0x7fff_fff0), any::<i32>()]) {
        // A plausible prefix, then a 4-byte big count, then a varint one.
        let mut body = prefix;
        body.extend_from_slice(&count.to_be_bytes());
        body.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        decode_any(key, frame(key, version, &body));
    }

    #[test]
    fn arbitrary_frames_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let frame = Bytes::from(bytes);
        if frame.len() >= 2 {
            if let Ok(key) = ApiKey::try_from(i16::from_be_bytes([frame[0], frame[1]])) {
                decode_any(key, frame);
            }
        }
    }
}
