//! The client's framing and decoding against well-formed and hostile input:
//! frames built by the broker's own encoder, truncated and oversized frames,
//! wrong correlation ids, and fake brokers that misbehave over TCP.

use std::io::Cursor;
use std::net::TcpListener;
use std::thread;

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::metadata_response::{MetadataResponseBroker, MetadataResponseTopic};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::decode_request_header_from_buffer;

use super::*;
use crate::protocol::codec::encode_response;

fn metadata_response() -> MetadataResponse {
    MetadataResponse::default()
        .with_cluster_id(Some(StrBytes::from_static_str("c1")))
        .with_brokers(vec![MetadataResponseBroker::default()
            .with_node_id(BrokerId(1))
            .with_host(StrBytes::from_static_str("127.0.0.1"))
            .with_port(9092)])
        .with_topics(vec![MetadataResponseTopic::default()
            .with_name(Some(TopicName(StrBytes::from_static_str("t1"))))])
}

/// A response frame as the broker encodes it (with its length prefix).
fn frame(api: ApiKey, version: i16, cid: i32, body: &impl Encodable) -> Bytes {
    encode_response(api, version, cid, body).unwrap()
}

fn read_and_decode<T: Decodable>(
    api: ApiKey,
    version: i16,
    cid: i32,
    bytes: &[u8],
) -> Result<T, ClientError> {
    let frame = read_frame(&mut Cursor::new(bytes))?;
    decode_response(api, version, cid, frame)
}

#[test]
fn decodes_what_the_broker_encodes() {
    for version in [1, 9, 12] {
        let bytes = frame(ApiKey::Metadata, version, 7, &metadata_response());
        let decoded: MetadataResponse =
            read_and_decode(ApiKey::Metadata, version, 7, &bytes).unwrap();
        assert_eq!(decoded.brokers[0].port, 9092, "v{version}");
        assert_eq!(decoded.topics[0].name.as_ref().unwrap().0.as_str(), "t1");
    }
}

#[test]
fn request_frame_carries_header_and_length() {
    let request = MetadataRequest::default();
    let mut bytes = encode_request(ApiKey::Metadata, 12, 42, &request).unwrap();
    let len = bytes::Buf::get_i32(&mut bytes);
    assert_eq!(len as usize, bytes.len());
    let header = decode_request_header_from_buffer(&mut bytes).unwrap();
    assert_eq!(header.request_api_key, ApiKey::Metadata as i16);
    assert_eq!(header.request_api_version, 12);
    assert_eq!(header.correlation_id, 42);
    assert_eq!(header.client_id.unwrap().as_str(), "fjord-cli");
}

#[test]
fn wrong_correlation_id_is_an_error() {
    let bytes = frame(ApiKey::Metadata, 12, 8, &metadata_response());
    let err = read_and_decode::<MetadataResponse>(ApiKey::Metadata, 12, 7, &bytes).unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::CorrelationId {
                expected: 7,
                got: 8
            }
        ),
        "{err}"
    );
}

#[test]
fn truncated_prefix_and_body_are_errors() {
    let err = read_frame(&mut Cursor::new(&[] as &[u8])).unwrap_err();
    assert!(matches!(err, ClientError::Closed), "{err}");
    let err = read_frame(&mut Cursor::new(&[0u8, 0][..])).unwrap_err();
    assert!(matches!(err, ClientError::Frame(_)), "{err}");
    let bytes = frame(ApiKey::Metadata, 12, 1, &metadata_response());
    for cut in 4..bytes.len() {
        let err = read_frame(&mut Cursor::new(&bytes[..cut])).unwrap_err();
        assert!(err.to_string().contains("truncated"), "cut {cut}: {err}");
    }
}

#[test]
fn hostile_lengths_are_refused_before_allocating() {
    for len in [-1i32, i32::MIN, (MAX_FRAME + 1) as i32, i32::MAX] {
        let mut bytes = len.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0; 16]);
        let err = read_frame(&mut Cursor::new(bytes)).unwrap_err();
        assert!(matches!(err, ClientError::Frame(_)), "{len}: {err}");
    }
}

#[test]
fn every_truncated_body_fails_to_decode_without_panicking() {
    let full = frame(ApiKey::Metadata, 12, 3, &metadata_response());
    let body = full.slice(4..);
    // Every strict prefix of the body, its length prefix made consistent.
    for cut in 0..body.len() {
        let result =
            decode_response::<MetadataResponse>(ApiKey::Metadata, 12, 3, body.slice(..cut));
        assert!(result.is_err(), "cut at {cut} decoded");
    }
}

#[test]
fn garbage_bodies_fail_to_decode_without_panicking() {
    // Correlation id 1, then a huge array count and string lengths.
    let hostile: [&[u8]; 4] = [
        &[0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff],
        &[0, 0, 0, 1, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 1],
        &[0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f],
        &[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0x7f, 0xff],
    ];
    for (i, body) in hostile.iter().enumerate() {
        for version in [1, 9, 12] {
            let result = decode_response::<MetadataResponse>(
                ApiKey::Metadata,
                version,
                1,
                Bytes::copy_from_slice(body),
            );
            assert!(result.is_err(), "body {i} v{version} decoded");
        }
    }
}

#[test]
fn error_names_are_kafkas() {
    assert_eq!(error_name(36), "TOPIC_ALREADY_EXISTS");
    assert_eq!(error_name(3), "UNKNOWN_TOPIC_OR_PARTITION");
    assert_eq!(error_name(-1), "UNKNOWN_SERVER_ERROR");
    assert_eq!(error_name(0), "NONE");
    assert_eq!(error_name(9999), "UNKNOWN_ERROR_CODE_9999");
    let err = ClientError::from_code(36, Some(&StrBytes::from_static_str("Topic 't1' exists.")));
    assert_eq!(
        err.unwrap_err().to_string(),
        "TOPIC_ALREADY_EXISTS: Topic 't1' exists."
    );
    let err = ClientError::from_code(3, Some(&StrBytes::from_static_str("")));
    assert_eq!(
        err.unwrap_err().to_string(),
        "UNKNOWN_TOPIC_OR_PARTITION (error code 3)"
    );
    assert!(ClientError::from_code(0, None).is_ok());
}

/// A broker on a loopback port that answers each request frame with what
/// `answer` returns (raw bytes, prefix included), and hangs up after an
/// answer shorter than a whole frame, or on `None`.
fn fake_broker<F>(answer: F) -> String
where
    F: Fn(ApiKey, i16, i32) -> Option<Vec<u8>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        while let Ok(mut request) = read_frame(&mut stream) {
            let Ok(header) = decode_request_header_from_buffer(&mut request) else {
                return;
            };
            let api = ApiKey::try_from(header.request_api_key).unwrap();
            match answer(api, header.request_api_version, header.correlation_id) {
                Some(bytes) => {
                    let whole = bytes.len() >= 4
                        && i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize
                            == bytes.len() - 4;
                    if stream.write_all(&bytes).is_err() || !whole {
                        return;
                    }
                }
                None => return,
            }
        }
    });
    addr
}

fn api_versions(error: i16, apis: &[(ApiKey, i16, i16)]) -> ApiVersionsResponse {
    ApiVersionsResponse::default()
        .with_error_code(error)
        .with_api_keys(
            apis.iter()
                .map(|&(key, min, max)| {
                    ApiVersion::default()
                        .with_api_key(key as i16)
                        .with_min_version(min)
                        .with_max_version(max)
                })
                .collect(),
        )
}

const SHORT: Duration = Duration::from_millis(500);

#[test]
fn a_broker_echoing_the_wrong_correlation_id_is_refused() {
    let addr = fake_broker(|api, version, cid| {
        let body = api_versions(0, &[(ApiKey::ApiVersions, 0, 4)]);
        Some(frame(api, version, cid + 1, &body).to_vec())
    });
    let err = Client::connect(&addr, SHORT).err().unwrap();
    assert!(matches!(err, ClientError::CorrelationId { .. }), "{err}");
}

#[test]
fn api_versions_falls_back_to_the_brokers_version_then_negotiates() {
    let addr = fake_broker(|api, version, cid| match api {
        // Knows ApiVersions up to v2 only: answers newer ones in v0.
        ApiKey::ApiVersions if version > 2 => {
            let body = api_versions(35, &[(ApiKey::ApiVersions, 0, 2)]);
            Some(frame(api, 0, cid, &body).to_vec())
        }
        ApiKey::ApiVersions => {
            let apis = [(ApiKey::ApiVersions, 0, 2), (ApiKey::Metadata, 0, 9)];
            Some(frame(api, version, cid, &api_versions(0, &apis)).to_vec())
        }
        ApiKey::Metadata => {
            assert_eq!(version, 9, "highest common version");
            Some(frame(api, version, cid, &metadata_response()).to_vec())
        }
        _ => None,
    });
    let mut client = Client::connect(&addr, SHORT).unwrap();
    assert!(client.supports(ApiKey::Metadata));
    assert!(!client.supports(ApiKey::DescribeQuorum));
    let err = client
        .version(ApiKey::DescribeQuorum, VersionRange { min: 0, max: 2 })
        .unwrap_err();
    assert!(matches!(err, ClientError::Unsupported(_)));
    let response = client.send(&MetadataRequest::default()).unwrap();
    assert_eq!(response.cluster_id.unwrap().as_str(), "c1");
}

#[test]
fn a_broker_hanging_up_mid_frame_or_staying_silent_is_an_error() {
    let addr = fake_broker(|api, version, cid| match api {
        ApiKey::ApiVersions => {
            let apis = [(ApiKey::ApiVersions, 0, 4), (ApiKey::Metadata, 0, 12)];
            Some(frame(api, version, cid, &api_versions(0, &apis)).to_vec())
        }
        // Half a frame, then the connection closes.
        _ => Some(frame(api, version, cid, &metadata_response())[..10].to_vec()),
    });
    let mut client = Client::connect(&addr, SHORT).unwrap();
    let err = client.send(&MetadataRequest::default()).unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");

    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let err = Client::connect(&addr, SHORT).err().unwrap();
    assert!(matches!(err, ClientError::Timeout), "{err}");
}

#[test]
fn bootstrap_tries_each_address_until_one_answers() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = closed.local_addr().unwrap().to_string();
    drop(closed);
    let live = fake_broker(|api, version, cid| {
        let body = api_versions(0, &[(ApiKey::ApiVersions, 0, 4)]);
        Some(frame(api, version, cid, &body).to_vec())
    });
    let bootstrap = vec!["not-an-address".to_string(), dead.clone(), live.clone()];
    let client = Client::connect_any(&bootstrap, SHORT).unwrap();
    assert_eq!(client.addr(), live);
    let err = Client::connect_any(&bootstrap[..2], SHORT).err().unwrap();
    let text = err.to_string();
    assert!(
        text.contains("not-an-address") && text.contains(&dead),
        "{text}"
    );
}
