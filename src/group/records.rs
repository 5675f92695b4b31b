//! The records of `__consumer_offsets`, in Kafka's own layout so Kafka's
//! tools can read the topic: an offset commit is key v1 (group, topic,
//! partition) with value v3; a group's metadata is key v2 (group) with value
//! v3. A null value is a tombstone. Decoding is bounds-checked: a record fjord
//! cannot read is skipped at load, never trusted.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// A committed offset as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct OffsetValue {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
}

/// A member as stored in the group's metadata record.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// A group's metadata as stored after each rebalance and when it empties.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupValue {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub state_timestamp: i64,
    pub members: Vec<StoredMember>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Key {
    Offset {
        group: String,
        topic: String,
        partition: i32,
    },
    Group(String),
}

pub fn offset_key(group: &str, topic: &str, partition: i32) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(1);
    put_str(&mut b, group);
    put_str(&mut b, topic);
    b.put_i32(partition);
    b.freeze()
}

pub fn group_key(group: &str) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(2);
    put_str(&mut b, group);
    b.freeze()
}

pub fn encode_offset(v: &OffsetValue) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(3);
    b.put_i64(v.offset);
    b.put_i32(v.leader_epoch);
    put_str(&mut b, &v.metadata);
    b.put_i64(v.commit_timestamp);
    b.freeze()
}

pub fn encode_group(v: &GroupValue) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(3);
    put_str(&mut b, &v.protocol_type);
    b.put_i32(v.generation);
    put_opt_str(&mut b, v.protocol.as_deref());
    put_opt_str(&mut b, v.leader.as_deref());
    b.put_i64(v.state_timestamp);
    b.put_i32(v.members.len() as i32);
    for m in &v.members {
        put_str(&mut b, &m.member_id);
        put_opt_str(&mut b, m.instance_id.as_deref());
        put_str(&mut b, &m.client_id);
        put_str(&mut b, &m.client_host);
        b.put_i32(m.rebalance_timeout_ms);
        b.put_i32(m.session_timeout_ms);
        put_bytes(&mut b, &m.subscription);
        put_bytes(&mut b, &m.assignment);
    }
    b.freeze()
}

pub fn decode_key(mut b: &[u8]) -> Option<Key> {
    match get_i16(&mut b)? {
        0 | 1 => Some(Key::Offset {
            group: get_str(&mut b)?,
            topic: get_str(&mut b)?,
            partition: get_i32(&mut b)?,
        }),
        2 => Some(Key::Group(get_str(&mut b)?)),
        _ => None,
    }
}

pub fn decode_offset(mut b: &[u8]) -> Option<OffsetValue> {
    let version = get_i16(&mut b)?;
    let offset = get_i64(&mut b)?;
    let leader_epoch = if version >= 3 { get_i32(&mut b)? } else { -1 };
    let metadata = get_str(&mut b)?;
    let commit_timestamp = get_i64(&mut b)?;
    Some(OffsetValue {
        offset,
        leader_epoch,
        metadata,
        commit_timestamp,
    })
}

pub fn decode_group(mut b: &[u8]) -> Option<GroupValue> {
    let version = get_i16(&mut b)?;
    if !(0..=3).contains(&version) {
        return None;
    }
    let protocol_type = get_str(&mut b)?;
    let generation = get_i32(&mut b)?;
    let protocol = get_opt_str(&mut b)?;
    let leader = get_opt_str(&mut b)?;
    let state_timestamp = if version >= 2 { get_i64(&mut b)? } else { -1 };
    let count = get_i32(&mut b)?.max(0) as usize;
    let mut members = Vec::with_capacity(count.min(b.len() / 8));
    for _ in 0..count {
        let member_id = get_str(&mut b)?;
        let instance_id = if version >= 3 {
            get_opt_str(&mut b)?
        } else {
            None
        };
        let client_id = get_str(&mut b)?;
        let client_host = get_str(&mut b)?;
        let rebalance_timeout_ms = if version >= 1 { get_i32(&mut b)? } else { 0 };
        let session_timeout_ms = get_i32(&mut b)?;
        members.push(StoredMember {
            member_id,
            instance_id,
            client_id,
            client_host,
            rebalance_timeout_ms: if version >= 1 {
                rebalance_timeout_ms
            } else {
                session_timeout_ms
            },
            session_timeout_ms,
            subscription: get_bytes(&mut b)?,
            assignment: get_bytes(&mut b)?,
        });
    }
    Some(GroupValue {
        protocol_type,
        generation,
        protocol,
        leader,
        state_timestamp,
        members,
    })
}

fn put_str(b: &mut BytesMut, s: &str) {
    b.put_i16(s.len() as i16);
    b.put_slice(s.as_bytes());
}

fn put_opt_str(b: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_str(b, s),
        None => b.put_i16(-1),
    }
}

fn put_bytes(b: &mut BytesMut, v: &[u8]) {
    b.put_i32(v.len() as i32);
    b.put_slice(v);
}

fn get_i16(b: &mut &[u8]) -> Option<i16> {
    (b.remaining() >= 2).then(|| b.get_i16())
}

fn get_i32(b: &mut &[u8]) -> Option<i32> {
    (b.remaining() >= 4).then(|| b.get_i32())
}

fn get_i64(b: &mut &[u8]) -> Option<i64> {
    (b.remaining() >= 8).then(|| b.get_i64())
}

fn take<'a>(b: &mut &'a [u8], len: usize) -> Option<&'a [u8]> {
    let (head, tail) = (b.len() >= len).then(|| b.split_at(len))?;
    *b = tail;
    Some(head)
}

fn get_opt_str(b: &mut &[u8]) -> Option<Option<String>> {
    let len = get_i16(b)?;
    if len < 0 {
        return Some(None);
    }
    let raw = take(b, len as usize)?;
    Some(Some(String::from_utf8(raw.to_vec()).ok()?))
}

fn get_str(b: &mut &[u8]) -> Option<String> {
    get_opt_str(b)?.or(Some(String::new()))
}

fn get_bytes(b: &mut &[u8]) -> Option<Bytes> {
    let len = get_i32(b)?;
    if len < 0 {
        return Some(Bytes::new());
    }
    Some(Bytes::copy_from_slice(take(b, len as usize)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_commit_round_trips() {
        let key = offset_key("g", "t", 7);
        assert_eq!(
            decode_key(&key),
            Some(Key::Offset {
                group: "g".into(),
                topic: "t".into(),
                partition: 7
            })
        );
        let v = OffsetValue {
            offset: 42,
            leader_epoch: 3,
            metadata: "meta".into(),
            commit_timestamp: 1000,
        };
        assert_eq!(decode_offset(&encode_offset(&v)), Some(v));
    }

    #[test]
    fn group_metadata_round_trips() {
        let v = GroupValue {
            protocol_type: "consumer".into(),
            generation: 5,
            protocol: Some("range".into()),
            leader: Some("m1".into()),
            state_timestamp: 99,
            members: vec![StoredMember {
                member_id: "m1".into(),
                instance_id: Some("i1".into()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 300_000,
                session_timeout_ms: 45_000,
                subscription: Bytes::from_static(b"sub"),
                assignment: Bytes::from_static(b"asg"),
            }],
        };
        assert_eq!(decode_key(&group_key("g")), Some(Key::Group("g".into())));
        assert_eq!(decode_group(&encode_group(&v)), Some(v));
    }

    #[test]
    fn truncated_values_are_rejected_not_trusted() {
        let full = encode_offset(&OffsetValue {
            offset: 1,
            leader_epoch: -1,
            metadata: "x".repeat(10),
            commit_timestamp: 0,
        });
        for cut in 0..full.len() {
            assert_eq!(decode_offset(&full[..cut]), None, "cut at {cut}");
        }
        assert_eq!(decode_group(&[0, 3, 0x7f, 0xff]), None);
    }
}
