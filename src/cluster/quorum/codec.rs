//! Raft messages on the wire: protobuf bytes in, protobuf bytes out.
//!
//! Decoding takes hostile input: it is size-capped, never panics, and only
//! parses; whether a well-formed message may be stepped is `guard`'s call.

use protobuf::Message as _;
use raft::eraftpb::Message;

/// The largest encoded message accepted. Appends are capped far lower by
/// `max_size_per_msg`; a snapshot carries the whole metadata image.
pub const MAX_MESSAGE_BYTES: usize = 256 << 20;

/// Encodes a message for a peer.
///
/// proto3 has no required fields, so serialisation cannot fail for a
/// message raft-rs built (its size is bounded by `max_size_per_msg` or, for
/// snapshots, by the image size, both far below protobuf's 2 GiB limit). If
/// it ever did, the empty frame decodes to a default message that every
/// receiver refuses: the same as a lost message, which raft tolerates.
pub fn encode_message(m: &Message) -> Vec<u8> {
    m.write_to_bytes().unwrap_or_default()
}

/// Decodes a message from a peer; any malformed input is an error.
pub fn decode_message(bytes: &[u8]) -> Result<Message, String> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(format!(
            "raft message of {} bytes exceeds {MAX_MESSAGE_BYTES}",
            bytes.len()
        ));
    }
    Message::parse_from_bytes(bytes).map_err(|e| format!("malformed raft message: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft::eraftpb::{Entry, MessageType};

    fn sample() -> Message {
        let mut m = Message::default();
        m.set_msg_type(MessageType::MsgAppend);
        m.to = 2;
        m.from = 1;
        m.term = 7;
        m.index = 41;
        m.log_term = 6;
        m.commit = 40;
        let e = Entry {
            index: 42,
            term: 7,
            data: b"record".to_vec().into(),
            ..Entry::default()
        };
        m.mut_entries().push(e);
        m
    }

    #[test]
    fn round_trips() {
        let m = sample();
        assert_eq!(decode_message(&encode_message(&m)).unwrap(), m);
    }

    /// Truncations, bit flips and random bytes must come back as Ok or Err,
    /// never as a panic or an abort.
    #[test]
    fn hostile_bytes_never_panic() {
        let good = encode_message(&sample());
        for cut in 0..good.len() {
            let _ = decode_message(&good[..cut]);
        }
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let mut b = good.clone();
            for _ in 0..(next() % 4 + 1) {
                let i = (next() as usize) % b.len();
                b[i] = next() as u8;
            }
            let _ = decode_message(&b);
            let len = (next() % 64) as usize;
            let random: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let _ = decode_message(&random);
        }
        // A length prefix claiming far more than is there.
        let _ = decode_message(&[0x32, 0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(decode_message(&vec![0; MAX_MESSAGE_BYTES + 1]).is_err());
    }
}
