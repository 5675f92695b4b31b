//! A small synchronous Kafka client for the operator commands.
//!
//! One blocking `TcpStream` per client, with connect, read and write
//! timeouts. A request is framed as Kafka frames it: a 4-byte big-endian
//! length, the `RequestHeader` (at the version `ApiKey::request_header_version`
//! names), then the body. Responses are read the same way, their header at
//! `ApiKey::response_header_version`, and must carry the correlation id of
//! the request. The first request on a connection is ApiVersions; every later
//! request is sent at the highest version both sides implement.
//!
//! Nothing a broker sends can panic the client: frame lengths are bounded,
//! and kafka-protocol's decoders (which slice without checks in places) run
//! under `catch_unwind`, as the broker's own request decoding does.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::{Decodable, Encodable, Message, Request, StrBytes, VersionRange};

pub use crate::protocol::client_codec::MAX_FRAME;
use crate::protocol::client_codec::{self, CodecError};

const CLIENT_ID: &str = "fjord-cli";

/// Why a request did not get a usable answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{addr}: {source}")]
    Connect { addr: String, source: io::Error },
    #[error("no broker answered ({0})")]
    NoBroker(String),
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    #[error("connection closed by the broker")]
    Closed,
    #[error("the broker did not answer in time")]
    Timeout,
    #[error("bad response frame: {0}")]
    Frame(String),
    #[error("response has correlation id {got}, expected {expected}")]
    CorrelationId { expected: i32, got: i32 },
    #[error("cannot decode {api:?} v{version} response: {reason}")]
    Decode {
        api: ApiKey,
        version: i16,
        reason: String,
    },
    #[error("cannot encode {api:?} v{version} request: {reason}")]
    Encode {
        api: ApiKey,
        version: i16,
        reason: String,
    },
    #[error("the broker does not support {0:?} at any version this client knows")]
    Unsupported(ApiKey),
    #[error("{}", kafka_message(.code, .message))]
    Kafka { code: i16, message: Option<String> },
}

impl ClientError {
    /// The error a Kafka error code (and optional message) stands for, if any.
    pub fn from_code(code: i16, message: Option<&StrBytes>) -> Result<(), ClientError> {
        if code == 0 {
            return Ok(());
        }
        Err(ClientError::Kafka {
            code,
            message: message.map(|m| m.to_string()).filter(|m| !m.is_empty()),
        })
    }
}

fn kafka_message(code: &i16, message: &Option<String>) -> String {
    match message {
        Some(m) => format!("{}: {m}", error_name(*code)),
        None => format!("{} (error code {code})", error_name(*code)),
    }
}

/// Kafka's name for an error code, as its Java tools print it
/// (`TOPIC_ALREADY_EXISTS`); `UNKNOWN_ERROR_CODE_<n>` for codes it lacks.
pub fn error_name(code: i16) -> String {
    match ResponseError::try_from_code(code) {
        None => "NONE".into(),
        Some(ResponseError::Unknown(n)) => format!("UNKNOWN_ERROR_CODE_{n}"),
        Some(e) => {
            let camel = format!("{e:?}");
            let mut name = String::with_capacity(camel.len() + 8);
            for (i, c) in camel.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    name.push('_');
                }
                name.push(c.to_ascii_uppercase());
            }
            name
        }
    }
}

/// A request frame: length prefix, header, body.
pub fn encode_request<T: Encodable>(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &T,
) -> Result<Bytes, ClientError> {
    client_codec::encode_request(api, version, correlation_id, CLIENT_ID, body).map_err(|e| {
        let reason = match e {
            CodecError::Encode(reason) => reason,
            other => format!("{other:?}"),
        };
        ClientError::Encode {
            api,
            version,
            reason,
        }
    })
}

/// Reads one length-prefixed frame (without its prefix).
pub fn read_frame(reader: &mut impl Read) -> Result<Bytes, ClientError> {
    let mut prefix = [0u8; 4];
    read_full(reader, &mut prefix, true)?;
    let len = i32::from_be_bytes(prefix);
    if len < 0 || len as usize > MAX_FRAME {
        return Err(ClientError::Frame(format!(
            "length {len} outside 0..={MAX_FRAME}"
        )));
    }
    let mut body = vec![0u8; len as usize];
    read_full(reader, &mut body, false)?;
    Ok(Bytes::from(body))
}

/// `read_exact`, telling a clean close before a frame from one inside it.
fn read_full(reader: &mut impl Read, buf: &mut [u8], at_start: bool) -> Result<(), ClientError> {
    let mut done = 0;
    while done < buf.len() {
        match reader.read(&mut buf[done..]) {
            Ok(0) if done == 0 && at_start => return Err(ClientError::Closed),
            Ok(0) => {
                return Err(ClientError::Frame(format!(
                    "truncated: got {done} of {} bytes",
                    buf.len()
                )))
            }
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error(e)),
        }
    }
    Ok(())
}

/// A socket timeout (`WouldBlock` on Unix) as `Timeout`.
fn io_error(e: io::Error) -> ClientError {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ClientError::Timeout,
        _ => ClientError::Io(e),
    }
}

/// Decodes a response frame (without its length prefix): the header, whose
/// correlation id must be `correlation_id`, then `T` at `version`.
pub fn decode_response<T: Decodable>(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    frame: Bytes,
) -> Result<T, ClientError> {
    client_codec::decode_response(api, version, correlation_id, frame).map_err(|e| match e {
        CodecError::CorrelationId { expected, got } => ClientError::CorrelationId { expected, got },
        CodecError::Decode(reason) | CodecError::Encode(reason) => ClientError::Decode {
            api,
            version,
            reason,
        },
    })
}

/// A connection to one broker, with the versions it supports.
pub struct Client {
    stream: TcpStream,
    addr: String,
    next_correlation_id: i32,
    versions: HashMap<i16, VersionRange>,
}

impl Client {
    /// Connects to the first of `bootstrap` that answers ApiVersions.
    pub fn connect_any(bootstrap: &[String], timeout: Duration) -> Result<Client, ClientError> {
        let mut failures = Vec::new();
        for addr in bootstrap {
            match Client::connect(addr, timeout) {
                Ok(client) => return Ok(client),
                Err(e @ ClientError::Connect { .. }) => failures.push(e.to_string()),
                Err(e) => failures.push(format!("{addr}: {e}")),
            }
        }
        Err(ClientError::NoBroker(failures.join("; ")))
    }

    /// Connects to `addr` (HOST:PORT) and asks for its API versions.
    pub fn connect(addr: &str, timeout: Duration) -> Result<Client, ClientError> {
        let connect_err = |source| ClientError::Connect {
            addr: addr.to_string(),
            source,
        };
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
        let mut stream = None;
        for sock in addr.to_socket_addrs().map_err(connect_err)? {
            match TcpStream::connect_timeout(&sock, timeout) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let stream = stream.ok_or_else(|| connect_err(last))?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        let mut client = Client {
            stream,
            addr: addr.to_string(),
            next_correlation_id: 1,
            versions: HashMap::new(),
        };
        client.negotiate()?;
        Ok(client)
    }

    /// The address this client is connected to, as given.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// ApiVersions at this client's newest version; a broker that does not
    /// know it answers UNSUPPORTED_VERSION in v0 with its own range, and the
    /// request is repeated within that.
    fn negotiate(&mut self) -> Result<(), ClientError> {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str(CLIENT_ID))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let ours = ApiVersionsRequest::VERSIONS;
        let mut response = self.api_versions(ours.max, &request)?;
        if response.error_code == ResponseError::UnsupportedVersion.code() {
            let theirs = response
                .api_keys
                .iter()
                .find(|k| k.api_key == ApiKey::ApiVersions as i16)
                .map(|k| k.max_version)
                .ok_or(ClientError::Unsupported(ApiKey::ApiVersions))?;
            let version = theirs.min(ours.max);
            if version < ours.min {
                return Err(ClientError::Unsupported(ApiKey::ApiVersions));
            }
            response = self.api_versions(version, &request)?;
        }
        ClientError::from_code(response.error_code, None)?;
        self.versions = response
            .api_keys
            .iter()
            .map(|k| {
                let range = VersionRange {
                    min: k.min_version,
                    max: k.max_version,
                };
                (k.api_key, range)
            })
            .collect();
        Ok(())
    }

    /// One ApiVersions exchange; an UNSUPPORTED_VERSION answer comes in v0.
    fn api_versions(
        &mut self,
        version: i16,
        request: &ApiVersionsRequest,
    ) -> Result<ApiVersionsResponse, ClientError> {
        let api = ApiKey::ApiVersions;
        let correlation_id = self.send_frame(api, version, request)?;
        let frame = read_frame(&mut self.stream)?;
        match decode_response::<ApiVersionsResponse>(api, version, correlation_id, frame.clone()) {
            Ok(r) => Ok(r),
            Err(ClientError::Decode { .. }) if version > 0 => {
                decode_response(api, 0, correlation_id, frame)
            }
            Err(e) => Err(e),
        }
    }

    /// Whether the broker implements `api` at some version.
    pub fn supports(&self, api: ApiKey) -> bool {
        self.versions.contains_key(&(api as i16))
    }

    /// The highest version of `api` within both `ours` and the broker's range.
    pub fn version(&self, api: ApiKey, ours: VersionRange) -> Result<i16, ClientError> {
        let theirs = self
            .versions
            .get(&(api as i16))
            .ok_or(ClientError::Unsupported(api))?;
        let both = ours.intersect(theirs);
        if both.is_empty() {
            return Err(ClientError::Unsupported(api));
        }
        Ok(both.max)
    }

    /// Sends `request` at the highest version both sides implement.
    pub fn send<R: Request>(&mut self, request: &R) -> Result<R::Response, ClientError> {
        let api = api_key::<R>()?;
        let version = self.version(api, R::VERSIONS)?;
        self.send_at(version, request)
    }

    /// Sends `request` at `version` and waits for its response.
    pub fn send_at<R: Request>(
        &mut self,
        version: i16,
        request: &R,
    ) -> Result<R::Response, ClientError> {
        let api = api_key::<R>()?;
        let correlation_id = self.send_frame(api, version, request)?;
        let frame = read_frame(&mut self.stream)?;
        decode_response(api, version, correlation_id, frame)
    }

    fn send_frame<T: Encodable>(
        &mut self,
        api: ApiKey,
        version: i16,
        body: &T,
    ) -> Result<i32, ClientError> {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let frame = encode_request(api, version, correlation_id, body)?;
        self.stream.write_all(&frame).map_err(io_error)?;
        Ok(correlation_id)
    }
}

fn api_key<R: Request>() -> Result<ApiKey, ClientError> {
    ApiKey::try_from(R::KEY).map_err(|_| ClientError::Encode {
        api: ApiKey::ApiVersions,
        version: 0,
        reason: format!("unknown API key {}", R::KEY),
    })
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
