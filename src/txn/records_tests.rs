//! The `__transaction_state` records: Kafka's exact layouts, round trips,
//! and decoding that refuses rather than panics.

use super::*;

fn ongoing() -> TxnLogValue {
    TxnLogValue {
        producer_id: 1000,
        prev_producer_id: NO_PRODUCER_ID,
        next_producer_id: NO_PRODUCER_ID,
        producer_epoch: 2,
        timeout_ms: 60_000,
        state: TxnState::Ongoing,
        partitions: [
            ("t".to_string(), 0),
            ("t".to_string(), 1),
            ("u".to_string(), 7),
        ]
        .into_iter()
        .collect(),
        last_update_ms: 5,
        start_ms: 4,
        client_txn_version: 0,
    }
}

#[test]
fn key_round_trips_and_unknown_versions_are_refused() {
    let key = encode_key("txn-1");
    assert_eq!(&key[..], b"\x00\x00\x00\x05txn-1");
    assert_eq!(decode_key(&key), Ok("txn-1".to_string()));
    assert_eq!(
        decode_key(b"\x00\x01\x00\x00"),
        Err(RecordError::KeyVersion(1))
    );
}

#[test]
fn version_0_has_kafkas_layout() {
    let mut v = ongoing();
    v.partitions.retain(|(t, _)| t == "t");
    let mut want = vec![0, 0];
    want.extend(1000i64.to_be_bytes());
    want.extend(2i16.to_be_bytes());
    want.extend(60_000i32.to_be_bytes());
    want.push(1); // Ongoing
    want.extend(1i32.to_be_bytes()); // one topic
    want.extend(b"\x00\x01t");
    want.extend(2i32.to_be_bytes());
    want.extend(0i32.to_be_bytes());
    want.extend(1i32.to_be_bytes());
    want.extend(5i64.to_be_bytes());
    want.extend(4i64.to_be_bytes());
    assert_eq!(&encode_value(&v, 0)[..], &want[..]);
    assert_eq!(decode_value(&want), Ok(v));
}

#[test]
fn version_1_is_flexible_with_tagged_producer_ids() {
    let mut v = ongoing();
    v.partitions.retain(|(t, _)| t == "u");
    v.prev_producer_id = 999;
    v.client_txn_version = 1;
    let mut want = vec![0, 1];
    want.extend(1000i64.to_be_bytes());
    want.extend(2i16.to_be_bytes());
    want.extend(60_000i32.to_be_bytes());
    want.push(1);
    want.push(2); // compact array: one topic
    want.extend(b"\x02u"); // compact string "u"
    want.push(2); // one partition id
    want.extend(7i32.to_be_bytes());
    want.push(0); // the topic's tagged fields
    want.extend(5i64.to_be_bytes());
    want.extend(4i64.to_be_bytes());
    want.push(2); // two tagged fields: 0 (prev id) and 2 (client version)
    want.extend([0, 8]);
    want.extend(999i64.to_be_bytes());
    want.extend([2, 2]);
    want.extend(1i16.to_be_bytes());
    assert_eq!(&encode_value(&v, 1)[..], &want[..]);
    assert_eq!(decode_value(&want), Ok(v));
}

#[test]
fn both_versions_round_trip() {
    let mut with_ids = ongoing();
    with_ids.prev_producer_id = 7;
    with_ids.next_producer_id = 8;
    for v in [ongoing(), with_ids.clone()] {
        assert_eq!(decode_value(&encode_value(&v, 1)), Ok(v));
    }
    // Version 0 has no room for the tagged fields: they read back as -1.
    let back = decode_value(&encode_value(&with_ids, 0)).unwrap();
    assert_eq!((back.prev_producer_id, back.next_producer_id), (-1, -1));
    assert_eq!(back.partitions, with_ids.partitions);
}

#[test]
fn empty_is_written_with_null_partitions_and_read_without_them() {
    let mut v = ongoing();
    v.state = TxnState::Empty;
    // Null, as Kafka writes it: -1 for version 0, compact 0 for version 1.
    assert_eq!(&encode_value(&v, 0)[17..21], &[0xff; 4]);
    assert_eq!(encode_value(&v, 1)[17], 0);
    for version in [0, 1] {
        let back = decode_value(&encode_value(&v, version)).unwrap();
        assert_eq!(back.state, TxnState::Empty);
        assert!(back.partitions.is_empty(), "version {version}");
    }
    // Partitions present in an Empty record are ignored, as Kafka does.
    let mut full = ongoing();
    let mut bytes = encode_value(&full, 0).to_vec();
    bytes[16] = 0; // status byte: Empty
    full.state = TxnState::Empty;
    full.partitions.clear();
    assert_eq!(decode_value(&bytes), Ok(full));
}

#[test]
fn unknown_tags_are_skipped_and_wrong_sizes_refused() {
    let v = ongoing();
    let mut bytes = encode_value(&v, 1).to_vec();
    assert_eq!(bytes.pop(), Some(0)); // no tagged fields
    bytes.extend([1, 3, 2, 0x7f, 0x7f]); // tag 3 (a newer Kafka's), 2 bytes
    assert_eq!(decode_value(&bytes), Ok(v.clone()));
    let mut bad = encode_value(&v, 1).to_vec();
    bad.pop();
    bad.extend([1, 0, 2, 0, 1]); // previous producer id in 2 bytes
    assert_eq!(
        decode_value(&bad),
        Err(RecordError::Malformed("tagged field size"))
    );
}

#[test]
fn bad_versions_states_and_truncations_are_errors() {
    let bytes = encode_value(&ongoing(), 0);
    for cut in 0..bytes.len() {
        assert!(decode_value(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    let mut v2 = bytes.to_vec();
    v2[1] = 2;
    assert_eq!(decode_value(&v2), Err(RecordError::ValueVersion(2)));
    let mut state = bytes.to_vec();
    state[16] = 9;
    assert_eq!(decode_value(&state), Err(RecordError::State(9)));
}

#[test]
fn a_null_value_is_a_tombstone() {
    assert_eq!(
        decode(&encode_key("gone"), None),
        Ok(("gone".to_string(), None))
    );
    let value = encode_value(&ongoing(), 0);
    assert_eq!(
        decode(&encode_key("x"), Some(&value)),
        Ok(("x".to_string(), Some(ongoing())))
    );
}

#[test]
fn hostile_bytes_never_panic() {
    // A deterministic walk over mutated and random records.
    let mut with_ids = ongoing();
    with_ids.prev_producer_id = 3;
    let seeds = [
        encode_value(&ongoing(), 0).to_vec(),
        encode_value(&with_ids, 1).to_vec(),
        encode_key("transactional-id").to_vec(),
    ];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut decoded = 0;
    for round in 0..30_000 {
        let mut bytes = seeds[round % seeds.len()].clone();
        for _ in 0..next() % 4 + 1 {
            let at = (next() as usize) % bytes.len();
            bytes[at] = next() as u8;
        }
        bytes.truncate((next() as usize) % (bytes.len() + 1));
        decoded += decode_value(&bytes).is_ok() as usize;
        let _ = decode_key(&bytes);
        let _ = decode(&bytes, Some(&bytes));
        let random: Vec<u8> = (0..(next() % 64)).map(|_| next() as u8).collect();
        let _ = decode_value(&random);
        let _ = decode_key(&random);
    }
    // The walk must reach past the first checks, or it tests nothing.
    assert!(decoded > 0);
}
