use super::*;
use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};

fn tp(topic: &str, partition: i32) -> Tp {
    (topic.to_string(), partition)
}

fn request(partitions: Vec<Tp>) -> MarkerRequest {
    MarkerRequest {
        producer_id: 4000,
        producer_epoch: 3,
        commit: true,
        coordinator_epoch: 7,
        partitions,
    }
}

#[test]
fn answers_that_end_retry_or_fence_a_marker() {
    use ResponseError::*;
    assert_eq!(classify(0, true), Outcome::Done);
    assert_eq!(classify(0, false), Outcome::Done);
    assert_eq!(
        classify(UnsupportedForMessageFormat.code(), true),
        Outcome::Done
    );
    // Deleted topic: done; a leader behind on metadata: again.
    assert_eq!(
        classify(UnknownTopicOrPartition.code(), false),
        Outcome::Done
    );
    assert_eq!(
        classify(UnknownTopicOrPartition.code(), true),
        Outcome::Retry
    );
    for fenced in [InvalidProducerEpoch, TransactionCoordinatorFenced] {
        assert_eq!(classify(fenced.code(), true), Outcome::Fenced, "{fenced:?}");
    }
    for retriable in [
        NotLeaderOrFollower,
        LeaderNotAvailable,
        NotEnoughReplicas,
        NotEnoughReplicasAfterAppend,
        RequestTimedOut,
        KafkaStorageError,
        ClusterAuthorizationFailed,
        CorruptMessage,
    ] {
        assert_eq!(
            classify(retriable.code(), true),
            Outcome::Retry,
            "{retriable:?}"
        );
    }
    // A code this broker does not know is not taken for success.
    assert_eq!(classify(30_000, true), Outcome::Retry);
}

#[test]
fn backoff_doubles_from_100_ms_to_1_s() {
    let ms: Vec<u128> = (0..7).map(|a| backoff(a).as_millis()).collect();
    assert_eq!(ms, vec![100, 200, 400, 800, 1000, 1000, 1000]);
    assert_eq!(backoff(u32::MAX).as_millis(), 1000);
}

#[test]
fn partitions_go_to_their_leaders() {
    let partitions = vec![
        tp("a", 0),
        tp("a", 1),
        tp("b", 0),
        tp("gone", 0),
        tp("a", 2),
        tp("b", 1),
        tp("c", 0),
    ];
    let leader_of = |topic: &str, partition: i32| match (topic, partition) {
        ("gone", _) => None,
        ("a", 0) | ("b", 1) => Some(1),
        ("a", 1) | ("a", 2) => Some(2),
        ("b", 0) => Some(3),
        _ => Some(-1),
    };
    let routes = route(&partitions, 1, leader_of);
    assert_eq!(
        routes,
        Routes {
            local: vec![tp("a", 0), tp("b", 1)],
            remote: BTreeMap::from([(2, vec![tp("a", 1), tp("a", 2)]), (3, vec![tp("b", 0)])]),
            no_leader: vec![tp("c", 0)],
            gone: vec![tp("gone", 0)],
        }
    );
}

#[test]
fn repeated_partitions_are_written_once() {
    let partitions = vec![tp("a", 1), tp("b", 0), tp("a", 1), tp("a", 0), tp("b", 0)];
    assert_eq!(
        distinct(&partitions),
        vec![tp("a", 1), tp("b", 0), tp("a", 0)]
    );
}

#[test]
fn one_request_per_leader_with_topics_grouped_as_the_leader_decodes_it() {
    let partitions = vec![tp("a", 1), tp("b", 0), tp("a", 0)];
    let body = marker_request(&request(partitions.clone()), &partitions);
    let frame = crate::protocol::client_codec::encode_request(
        ApiKey::WriteTxnMarkers,
        WRITE_TXN_MARKERS_VERSION,
        9,
        CLIENT_ID,
        &body,
    )
    .expect("encodes at v1");
    // As the leader's broker reads it (length prefix off).
    let (header, decoded): (_, WriteTxnMarkersRequest) =
        crate::protocol::dispatch::decode_request(frame.slice(4..)).expect("decodes");
    assert_eq!(header.request_api_version, 1);
    assert_eq!(decoded, body);
    let [marker] = decoded.markers.as_slice() else {
        panic!("one marker: {decoded:?}");
    };
    assert_eq!(
        (
            marker.producer_id.0,
            marker.producer_epoch,
            marker.transaction_result,
            marker.coordinator_epoch
        ),
        (4000, 3, true, 7)
    );
    let topics: Vec<(&str, &[i32])> = marker
        .topics
        .iter()
        .map(|t| (t.name.0.as_str(), t.partition_indexes.as_slice()))
        .collect();
    assert_eq!(topics, vec![("a", &[1, 0][..]), ("b", &[0][..])]);
}

#[test]
fn codes_are_read_back_per_partition_and_missing_ones_are_none() {
    let result = |topic: &str, codes: &[(i32, i16)]| {
        WritableTxnMarkerTopicResult::default()
            .with_name(TopicName(StrBytes::from_string(topic.into())))
            .with_partitions(
                codes
                    .iter()
                    .map(|(p, c)| {
                        WritableTxnMarkerPartitionResult::default()
                            .with_partition_index(*p)
                            .with_error_code(*c)
                    })
                    .collect(),
            )
    };
    let response = WriteTxnMarkersResponse::default().with_markers(vec![
        // Another producer's answer is not this one's.
        WritableTxnMarkerResult::default()
            .with_producer_id(1.into())
            .with_topics(vec![result("b", &[(0, 0)])]),
        WritableTxnMarkerResult::default()
            .with_producer_id(4000.into())
            .with_topics(vec![
                result("a", &[(1, 6), (0, 0)]),
                result("b", &[(0, 47)]),
            ]),
    ]);
    let partitions = vec![tp("a", 0), tp("a", 1), tp("b", 0), tp("b", 1)];
    assert_eq!(
        answered_codes(&response, 4000, &partitions),
        vec![Some(0), Some(6), Some(47), None]
    );
}
