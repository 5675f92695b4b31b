//! Frames on the controller listener: fjord's own protocol between nodes.
//!
//! A frame is `[u32 length][u8 kind][body]`, length counting kind and body.
//! Every connection starts with a `Hello` naming the sender and why it
//! connects: a voter sending raft messages, or a broker making requests of
//! the active controller (registration, heartbeats, forwarded admin
//! commands). Raft messages are raft-rs's protobuf; requests and responses
//! are JSON, matched by a correlation id.
//!
//! Decoding is sans-IO and total: any byte string gives a frame or an
//! error, never a panic, and a length above [`MAX_FRAME`] is refused before
//! anything is allocated.

use serde::{Deserialize, Serialize};

use super::commands::{Command, Refusal, Reply};
use super::image::MetadataImage;
use super::registry::HeartbeatReply;

/// Largest frame accepted (a snapshot of a large image travels in one).
pub const MAX_FRAME: usize = 256 << 20;

const KIND_HELLO: u8 = 1;
const KIND_RAFT: u8 = 2;
const KIND_REQUEST: u8 = 3;
const KIND_RESPONSE: u8 = 4;
const KIND_SASL: u8 = 5;

/// Why a connection was opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Purpose {
    /// Raft messages from a voter to this voter.
    Raft,
    /// Requests from a broker to the active controller. Its close fences
    /// the broker at once.
    Broker,
    /// Requests from a tool or a broker that is not registering (a
    /// forwarded admin command, a metadata fetch); closing it means nothing.
    Client,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    pub node_id: i32,
    pub purpose: Purpose,
}

/// What a node asks of the active controller.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ControllerRequest {
    /// Commit a change; answered once committed and applied on the
    /// controller.
    Command(Command),
    Heartbeat {
        node_id: i32,
        epoch: i64,
        metadata_offset: u64,
        want_shutdown: bool,
    },
    /// The image, once it is past `after` (waits up to `wait_ms` for a
    /// change). How nodes that are not voters follow the metadata.
    FetchImage { after: u64, wait_ms: u64 },
    /// The quorum's state (DescribeQuorum).
    DescribeQuorum,
}

/// One voter as the leader sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VoterState {
    pub node_id: i32,
    pub log_end_offset: u64,
    /// Milliseconds since the leader last heard from it (-1: unknown).
    pub last_contact_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuorumState {
    pub leader_id: i32,
    pub leader_epoch: u64,
    pub high_watermark: u64,
    pub voters: Vec<VoterState>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ControllerResponse {
    /// The command's records are committed at `offset` (the image's offset
    /// after applying them; for a registration, the broker epoch).
    Committed {
        offset: u64,
        reply: Reply,
    },
    Refused(Refusal),
    /// This node is not the active controller; try `leader` if known.
    NotController {
        leader: Option<i32>,
    },
    Heartbeat(HeartbeatReply),
    Image(Box<MetadataImage>),
    /// Nothing new within the wait.
    Unchanged,
    Quorum(QuorumState),
}

/// A SASL login on a SASL controller listener, before the `Hello`: the
/// node asks for a mechanism, then sends tokens, each answered.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub enum SaslMessage {
    Handshake {
        mechanism: String,
    },
    Token(Vec<u8>),
    Answer(Vec<u8>),
    /// The login failed; the server closes the connection after this.
    Refused(String),
}

impl std::fmt::Debug for SaslMessage {
    // Tokens may hold a password (PLAIN): never shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SaslMessage::Handshake { mechanism } => write!(f, "Handshake({mechanism})"),
            SaslMessage::Token(_) => f.write_str("Token(..)"),
            SaslMessage::Answer(_) => f.write_str("Answer(..)"),
            SaslMessage::Refused(why) => write!(f, "Refused({why})"),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    Hello(Hello),
    /// A raft-rs message, protobuf-encoded.
    Raft(Vec<u8>),
    Request {
        id: u64,
        body: ControllerRequest,
    },
    Response {
        id: u64,
        body: ControllerResponse,
    },
    Sasl(SaslMessage),
}

/// Encodes `frame` with its length prefix.
pub fn encode(frame: &Frame) -> Vec<u8> {
    let (kind, body) = match frame {
        Frame::Hello(hello) => (KIND_HELLO, json(hello)),
        Frame::Raft(bytes) => (KIND_RAFT, bytes.clone()),
        Frame::Request { id, body } => (KIND_REQUEST, with_id(*id, json(body))),
        Frame::Response { id, body } => (KIND_RESPONSE, with_id(*id, json(body))),
        Frame::Sasl(message) => (KIND_SASL, json(message)),
    };
    let mut out = Vec::with_capacity(5 + body.len());
    out.extend_from_slice(&((body.len() + 1) as u32).to_be_bytes());
    out.push(kind);
    out.extend_from_slice(&body);
    out
}

fn json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("controller messages always serialize")
}

fn with_id(id: u64, body: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + body.len());
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// How many bytes the frame at the start of `buf` takes, once its length
/// prefix is there (`Ok(None)`: not yet). Refuses oversized and empty frames.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, String> {
    let Some(prefix) = buf.get(..4) else {
        return Ok(None);
    };
    let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
    if len == 0 || len > MAX_FRAME {
        return Err(format!("controller frame of {len} bytes"));
    }
    Ok(Some(4 + len))
}

/// Decodes one whole frame (length prefix included, as `frame_len` measured).
pub fn decode(frame: &[u8]) -> Result<Frame, String> {
    let Some(&kind) = frame.get(4) else {
        return Err("controller frame without a kind".into());
    };
    let body = &frame[5..];
    match kind {
        KIND_HELLO => Ok(Frame::Hello(parse(body)?)),
        KIND_RAFT => Ok(Frame::Raft(body.to_vec())),
        KIND_REQUEST => {
            let (id, body) = split_id(body)?;
            Ok(Frame::Request {
                id,
                body: parse(body)?,
            })
        }
        KIND_RESPONSE => {
            let (id, body) = split_id(body)?;
            Ok(Frame::Response {
                id,
                body: parse(body)?,
            })
        }
        KIND_SASL => Ok(Frame::Sasl(parse(body)?)),
        other => Err(format!("unknown controller frame kind {other}")),
    }
}

fn split_id(body: &[u8]) -> Result<(u64, &[u8]), String> {
    if body.len() < 8 {
        return Err("controller frame too short for its id".into());
    }
    let (id, rest) = body.split_at(8);
    let id = u64::from_be_bytes(id.try_into().map_err(|_| "id".to_string())?);
    Ok((id, rest))
}

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("controller frame body: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(frame: Frame) {
        let bytes = encode(&frame);
        assert_eq!(frame_len(&bytes).unwrap(), Some(bytes.len()));
        assert_eq!(decode(&bytes).unwrap(), frame);
    }

    #[test]
    fn frames_round_trip() {
        round_trip(Frame::Hello(Hello {
            node_id: 3,
            purpose: Purpose::Broker,
        }));
        round_trip(Frame::Raft(vec![1, 2, 3]));
        round_trip(Frame::Request {
            id: 7,
            body: ControllerRequest::Heartbeat {
                node_id: 2,
                epoch: 40,
                metadata_offset: 41,
                want_shutdown: false,
            },
        });
        round_trip(Frame::Response {
            id: u64::MAX,
            body: ControllerResponse::NotController { leader: Some(1) },
        });
        round_trip(Frame::Sasl(SaslMessage::Handshake {
            mechanism: "PLAIN".into(),
        }));
        round_trip(Frame::Sasl(SaslMessage::Token(b"\0node\0secret".to_vec())));
        round_trip(Frame::Sasl(SaslMessage::Refused("no".into())));
    }

    #[test]
    fn sasl_tokens_are_never_printed() {
        let frame = Frame::Sasl(SaslMessage::Token(b"\0node\0secret".to_vec()));
        assert!(!format!("{frame:?}").contains("secret"));
    }

    #[test]
    fn bad_lengths_are_refused_before_allocating() {
        assert_eq!(frame_len(&[0, 0]).unwrap(), None);
        assert!(frame_len(&[0, 0, 0, 0]).is_err());
        assert!(frame_len(&[0xff, 0xff, 0xff, 0xff, 1]).is_err());
    }

    #[test]
    fn hostile_bytes_never_panic() {
        // A deterministic walk over mutated and random frames.
        let good = encode(&Frame::Request {
            id: 1,
            body: ControllerRequest::FetchImage {
                after: 5,
                wait_ms: 10,
            },
        });
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let sasl = encode(&Frame::Sasl(SaslMessage::Token(b"\0node\0secret".to_vec())));
        for round in 0..20_000 {
            let mut bytes = if round % 2 == 0 {
                good.clone()
            } else {
                sasl.clone()
            };
            let flips = next() % 4 + 1;
            for _ in 0..flips {
                let at = (next() as usize) % bytes.len();
                bytes[at] = next() as u8;
            }
            let cut = (next() as usize) % (bytes.len() + 1);
            bytes.truncate(cut.max(5));
            let _ = frame_len(&bytes);
            let _ = decode(&bytes);
            let random: Vec<u8> = (0..(next() % 64)).map(|_| next() as u8).collect();
            let _ = decode(&random);
        }
    }
}
