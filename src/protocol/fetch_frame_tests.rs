//! fetch_frame's bytes against kafka-protocol's own FetchResponse encoding.

use super::*;
use kafka_protocol::messages::fetch_response as kp;
use kafka_protocol::messages::{ApiKey, BrokerId, FetchResponse, ProducerId};
use kafka_protocol::protocol::StrBytes;

/// What a sample response holds besides records.
#[derive(Clone, Copy)]
enum Leaders {
    /// No KIP-951 fields at all.
    None,
    /// Partitions not led here name their leader; the response lists
    /// the leaders' endpoints.
    Named,
}

const OTHER_LEADER: CurrentLeader = CurrentLeader {
    leader_id: 2,
    leader_epoch: 7,
};

fn endpoints() -> Vec<NodeEndpoint> {
    vec![
        NodeEndpoint {
            node_id: 2,
            host: "broker-2.example".into(),
            port: 9092,
            rack: Some("rack-b".into()),
        },
        NodeEndpoint {
            node_id: 300,
            host: "10.0.0.3".into(),
            port: 39_093,
            rack: None,
        },
    ]
}

fn kp_endpoints() -> Vec<kp::NodeEndpoint> {
    endpoints()
        .into_iter()
        .map(|e| {
            kp::NodeEndpoint::default()
                .with_node_id(BrokerId(e.node_id))
                .with_host(StrBytes::from_string(e.host))
                .with_port(e.port)
                .with_rack(e.rack.map(StrBytes::from_string))
        })
        .collect()
}

/// Partition `p` of topic `t`: its error and current leader. With leaders
/// named, partition 1 is led elsewhere, and partition 0 of the last topic
/// has no leader to name (the default, which is never written).
fn partition_state(leaders: Leaders, t: u8, p: i32) -> (i16, Option<CurrentLeader>) {
    match (leaders, t, p) {
        (Leaders::Named, _, 1) => (6, Some(OTHER_LEADER)),
        (Leaders::Named, 2, 0) => (3, Some(CurrentLeader::UNKNOWN)),
        (_, _, 2) => (1, None),
        _ => (0, None),
    }
}

fn sample(version: i16, leaders: Leaders) -> (Vec<TopicData>, FetchResponse) {
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for t in 0..3u8 {
        let name = TopicName(format!("topic-{t}").into());
        let id = Uuid::from_bytes([t + 1; 16]);
        let mut parts = Vec::new();
        let mut kparts = Vec::new();
        for p in 0..(t as i32 + 1) {
            let batches: Vec<Bytes> = (0..p)
                .map(|b| Bytes::from(vec![b as u8 + t; 100 + 37 * b as usize]))
                .collect();
            let all: Vec<u8> = batches.iter().flat_map(|b| b.to_vec()).collect();
            let (error_code, current_leader) = partition_state(leaders, t, p);
            let diverging_epoch = (t == 2 && p == 1).then_some((4, 77i64));
            // A read_committed answer with aborted transactions on one.
            let aborted: Vec<(i64, i64)> = match (t, p) {
                (1, 1) => vec![(9, 1000), (12, 1003)],
                _ => Vec::new(),
            };
            parts.push(PartitionData {
                aborted: aborted.clone(),
                diverging_epoch,
                index: p,
                error_code,
                high_watermark: 1000 + p as i64,
                last_stable_offset: 1000 + p as i64,
                log_start_offset: if version >= 5 { 7 } else { -1 },
                records: ReadData::Memory(batches),
                // Always given: the encoder leaves it out where the
                // version has no such field.
                current_leader,
            });
            let mut kpart = kp::PartitionData::default()
                .with_partition_index(p)
                .with_error_code(error_code)
                .with_high_watermark(1000 + p as i64)
                .with_last_stable_offset(1000 + p as i64)
                .with_log_start_offset(if version >= 5 { 7 } else { -1 })
                .with_records(Some(Bytes::from(all)))
                .with_aborted_transactions(Some(
                    aborted
                        .iter()
                        .map(|&(pid, first)| {
                            kp::AbortedTransaction::default()
                                .with_producer_id(ProducerId(pid))
                                .with_first_offset(first)
                        })
                        .collect(),
                ));
            if let Some((epoch, end)) = diverging_epoch.filter(|_| version >= 12) {
                kpart = kpart.with_diverging_epoch(
                    kp::EpochEndOffset::default()
                        .with_epoch(epoch)
                        .with_end_offset(end),
                );
            }
            if let Some(l) = current_leader.filter(|_| version >= 12) {
                kpart = kpart.with_current_leader(
                    kp::LeaderIdAndEpoch::default()
                        .with_leader_id(BrokerId(l.leader_id))
                        .with_leader_epoch(l.leader_epoch),
                );
            }
            kparts.push(kpart);
        }
        ours.push(TopicData {
            name: name.clone(),
            id,
            partitions: parts,
        });
        theirs.push(
            kp::FetchableTopicResponse::default()
                .with_topic(if version <= 12 {
                    name
                } else {
                    TopicName::default()
                })
                .with_topic_id(if version >= 13 { id } else { Uuid::nil() })
                .with_partitions(kparts),
        );
    }
    let mut response = FetchResponse::default().with_responses(theirs);
    if matches!(leaders, Leaders::Named) && version >= 16 {
        response = response.with_node_endpoints(kp_endpoints());
    }
    (ours, response)
}

fn flatten(frame: Frame) -> Vec<u8> {
    match frame {
        Frame::Whole(b) => b.to_vec(),
        Frame::Chunks(chunks) => chunks
            .into_iter()
            .flat_map(|c| match c {
                Chunk::Memory(b) => b.to_vec(),
                Chunk::File(_) => panic!("memory only in this test"),
            })
            .collect(),
    }
}

fn theirs(version: i16, response: &FetchResponse) -> Vec<u8> {
    super::super::codec::encode_response(ApiKey::Fetch, version, 42, response)
        .expect("encode")
        .to_vec()
}

#[test]
fn identical_to_kafka_protocol_for_every_version() {
    for version in 4..=18 {
        let (ours, response) = sample(version, Leaders::None);
        let got = flatten(encode(version, 42, ours, &[]));
        assert_eq!(got, theirs(version, &response), "Fetch v{version}");
    }
}

#[test]
fn current_leader_and_node_endpoints_identical_for_every_version() {
    for version in 4..=18 {
        let (ours, response) = sample(version, Leaders::Named);
        let got = flatten(encode(version, 42, ours, &endpoints()));
        assert_eq!(got, theirs(version, &response), "Fetch v{version}");
        // The fields are really there where the version has them.
        let (plain, _) = sample(version, Leaders::None);
        let without = flatten(encode(version, 42, plain, &[]));
        assert_eq!(got.len() > without.len(), version >= 12, "v{version}");
    }
}

#[test]
fn node_endpoints_alone_from_v16() {
    // Endpoints with no partition naming a leader: still written (the
    // handler decides what is named; the frame writes what it is given).
    for version in 12..=18 {
        let (ours, mut response) = sample(version, Leaders::None);
        if version >= 16 {
            response = response.with_node_endpoints(kp_endpoints());
        }
        let got = flatten(encode(version, 42, ours, &endpoints()));
        assert_eq!(got, theirs(version, &response), "Fetch v{version}");
    }
}

#[test]
fn throttled_and_empty_responses_identical_for_every_version() {
    for version in 4..=18 {
        let (ours, response) = sample(version, Leaders::None);
        let got = flatten(encode_throttled(version, 42, ours, &[], 1234));
        let response = response.with_throttle_time_ms(1234);
        assert_eq!(got, theirs(version, &response), "Fetch v{version}");
        // A client over its quota gets no topics at all.
        let empty = flatten(encode_throttled(version, 42, Vec::new(), &[], 77));
        let response = FetchResponse::default().with_throttle_time_ms(77);
        assert_eq!(empty, theirs(version, &response), "empty Fetch v{version}");
    }
}

#[test]
fn varints() {
    for v in [0u32, 1, 127, 128, 300, 16_383, 16_384, u32::MAX] {
        let mut b = BytesMut::new();
        put_varint(&mut b, v);
        // Unsigned LEB128, as Kafka's flexible versions write lengths.
        let (mut back, mut shift) = (0u64, 0);
        for (i, byte) in b.iter().enumerate() {
            back |= u64::from(byte & 0x7f) << shift;
            shift += 7;
            assert_eq!(byte & 0x80 == 0, i == b.len() - 1);
        }
        assert_eq!(back, u64::from(v));
    }
}
