//! Kafka request frames as a client writes them and response frames as it
//! reads them: used by fjord's own clients (the operator CLI, a follower
//! fetching from its leader, a transaction coordinator writing markers).
//!
//! Nothing a peer sends can panic the caller: kafka-protocol's decoders
//! (which slice without checks in places) run under `catch_unwind`, as the
//! broker's own request decoding does.

use std::panic::{catch_unwind, AssertUnwindSafe};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

/// The largest response frame a client accepts (Kafka's default
/// socket.request.max.bytes).
pub const MAX_FRAME: usize = 100 * 1024 * 1024;

/// Why a frame could not be written or read.
#[derive(Debug, PartialEq)]
pub enum CodecError {
    Encode(String),
    Decode(String),
    CorrelationId { expected: i32, got: i32 },
}

/// A request frame: length prefix, header (at the version `api` names for
/// `version`), body.
pub fn encode_request<T: Encodable>(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    client_id: &'static str,
    body: &T,
) -> Result<Bytes, CodecError> {
    let header_version = api.request_header_version(version);
    let header = RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str(client_id)));
    let size = header
        .compute_size(header_version)
        .and_then(|h| body.compute_size(version).map(|b| h + b))
        .map_err(|e| CodecError::Encode(e.to_string()))?;
    if size > i32::MAX as usize {
        return Err(CodecError::Encode(format!("{size} bytes is too large")));
    }
    let mut frame = BytesMut::with_capacity(4 + size);
    frame.put_i32(size as i32);
    header
        .encode(&mut frame, header_version)
        .and_then(|()| body.encode(&mut frame, version))
        .map_err(|e| CodecError::Encode(e.to_string()))?;
    Ok(frame.freeze())
}

/// Decodes a response frame (without its length prefix): the header, whose
/// correlation id must be `correlation_id`, then `T` at `version`. Decoding
/// from `Bytes` keeps record sets as slices of `frame`, uncopied.
pub fn decode_response<T: Decodable>(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    mut frame: Bytes,
) -> Result<T, CodecError> {
    let header_version = api.response_header_version(version);
    let header: ResponseHeader = guarded(&mut frame, header_version)?;
    if header.correlation_id != correlation_id {
        return Err(CodecError::CorrelationId {
            expected: correlation_id,
            got: header.correlation_id,
        });
    }
    guarded(&mut frame, version)
}

fn guarded<T: Decodable>(buf: &mut Bytes, version: i16) -> Result<T, CodecError> {
    match catch_unwind(AssertUnwindSafe(|| T::decode(buf, version))) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(CodecError::Decode(e.to_string())),
        Err(_) => Err(CodecError::Decode("malformed (decoder panicked)".into())),
    }
}
