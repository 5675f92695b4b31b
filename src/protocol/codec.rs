//! Decoding request bodies and encoding framed responses.
//!
//! kafka-protocol's decoders trust lengths read off the wire, and a few slice
//! without bounds checks; decoding therefore runs under `catch_unwind` (the
//! huge up-front allocations a hostile array count can cause are handled by
//! `crate::alloc_guard`). A request that fails to decode is a protocol error:
//! the caller logs it and closes the connection, as Kafka does.

use std::panic::{catch_unwind, AssertUnwindSafe};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable};

/// Decodes `T` at `version` from the rest of a request frame.
pub fn decode<T: Decodable>(body: &mut Bytes, version: i16) -> Result<T, String> {
    match catch_unwind(AssertUnwindSafe(|| T::decode(body, version))) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(format!("malformed request: {e}")),
        Err(_) => Err("malformed request (decoder panicked)".to_string()),
    }
}

/// A complete response frame: length prefix, response header, body.
pub fn encode_response<T: Encodable>(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &T,
) -> Result<Bytes, String> {
    let header_version = api_key.response_header_version(version);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let size = header
        .compute_size(header_version)
        .and_then(|h| body.compute_size(version).map(|b| h + b))
        .map_err(|e| format!("sizing {api_key:?} v{version} response: {e}"))?;
    let mut frame = BytesMut::with_capacity(4 + size);
    frame.put_i32(size as i32);
    header
        .encode(&mut frame, header_version)
        .and_then(|()| body.encode(&mut frame, version))
        .map_err(|e| format!("encoding {api_key:?} v{version} response: {e}"))?;
    debug_assert_eq!(frame.len(), 4 + size);
    Ok(frame.freeze())
}
