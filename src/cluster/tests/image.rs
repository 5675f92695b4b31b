//! `MetadataImage::apply` for every record kind, the queries, the snapshot.

use super::*;
use crate::cluster::image::{BrokerRegistration, PartitionImage, NO_LEADER};
use crate::cluster::records;

fn topic_record(name: &str, id: u128) -> MetadataRecord {
    MetadataRecord::Topic {
        name: name.into(),
        id: Uuid::from_u128(id),
    }
}

#[test]
fn cluster_id_and_offset() {
    let cluster = Cluster::new();
    assert_eq!(cluster.image.cluster_id.as_deref(), Some("fjord-test"));
    assert_eq!(cluster.image.offset, 1);
}

#[test]
fn an_entry_without_records_advances_the_offset() {
    let mut cluster = Cluster::new();
    cluster.commit(&[]);
    assert_eq!(cluster.image.offset, 2);
}

#[test]
fn brokers_register_fenced_with_the_offset_as_epoch() {
    let mut cluster = Cluster::new();
    let epoch = cluster.register(4, Some("r1"));
    assert_eq!(epoch, 2);
    let expected = BrokerRegistration {
        node_id: 4,
        incarnation: Uuid::from_u128(4),
        epoch: 2,
        host: "broker4".into(),
        port: 9092,
        rack: Some("r1".into()),
        fenced: true,
        listeners: vec![
            listener("PLAINTEXT", "broker4", 9092),
            listener("SASL_SSL", "broker4", 9094),
        ],
    };
    assert_eq!(cluster.image.brokers[&4], expected);
    assert!(cluster.image.live_brokers().is_empty());
    // Clients are told the endpoint of the listener they came in on; a
    // listener the broker lacks has none.
    let broker = &cluster.image.brokers[&4];
    assert_eq!(broker.endpoint("SASL_SSL"), Some(("broker4", 9094)));
    assert_eq!(broker.endpoint("SSL"), None);
}

#[test]
fn registrations_from_before_listeners_serve_every_listener() {
    let mut cluster = Cluster::new();
    let record = MetadataRecord::RegisterBroker {
        node_id: 1,
        incarnation: Uuid::from_u128(1),
        host: "old".into(),
        port: 9092,
        rack: None,
        listeners: Vec::new(),
    };
    // A record written by an older fjord has no listeners field at all.
    let json = serde_json::to_string(&record).unwrap();
    assert!(!json.contains("listeners"), "{json}");
    let decoded: MetadataRecord = serde_json::from_str(&json).unwrap();
    cluster.commit(&[decoded]);
    assert_eq!(
        cluster.image.brokers[&1].endpoint("SASL_SSL"),
        Some(("old", 9092))
    );
}

#[test]
fn re_registration_replaces_the_earlier_one() {
    let mut cluster = Cluster::with_brokers(1);
    let record = MetadataRecord::RegisterBroker {
        node_id: 1,
        incarnation: Uuid::from_u128(99),
        host: "elsewhere".into(),
        port: 9093,
        rack: None,
        listeners: Vec::new(),
    };
    let offset = cluster.commit(&[record]);
    let broker = &cluster.image.brokers[&1];
    assert_eq!((broker.epoch, broker.fenced), (offset as i64, true));
    assert_eq!(broker.incarnation, Uuid::from_u128(99));
    assert_eq!(cluster.image.leader_endpoint(1), Some(("elsewhere", 9093)));
}

#[test]
fn fence_and_unfence_need_the_current_epoch() {
    let mut cluster = Cluster::new();
    let epoch = cluster.register(1, None);
    cluster.commit(&[MetadataRecord::UnfenceBroker {
        node_id: 1,
        epoch: epoch - 1,
    }]);
    assert!(cluster.image.brokers[&1].fenced, "stale unfence applied");
    cluster.commit(&[MetadataRecord::UnfenceBroker { node_id: 1, epoch }]);
    assert!(cluster.image.is_live(1));
    cluster.commit(&[MetadataRecord::FenceBroker {
        node_id: 1,
        epoch: epoch + 7,
    }]);
    assert!(cluster.image.is_live(1), "stale fence applied");
    cluster.commit(&[MetadataRecord::FenceBroker { node_id: 1, epoch }]);
    assert!(!cluster.image.is_live(1));
    // Unknown brokers: nothing happens.
    cluster.commit(&[MetadataRecord::FenceBroker { node_id: 8, epoch }]);
    assert!(!cluster.image.brokers.contains_key(&8));
}

#[test]
fn unregister_removes_the_broker() {
    let mut cluster = Cluster::with_brokers(2);
    cluster.commit(&[
        MetadataRecord::UnregisterBroker { node_id: 1 },
        MetadataRecord::UnregisterBroker { node_id: 5 },
    ]);
    assert_eq!(cluster.image.brokers.keys().collect::<Vec<_>>(), vec![&2]);
}

#[test]
fn live_brokers_are_the_unfenced_ones_by_id() {
    let mut cluster = Cluster::new();
    for id in [5, 2, 9] {
        cluster.register(id, None);
    }
    cluster.unfence(9);
    cluster.unfence(2);
    let live: Vec<i32> = cluster
        .image
        .live_brokers()
        .iter()
        .map(|b| b.node_id)
        .collect();
    assert_eq!(live, vec![2, 9]);
    assert_eq!(cluster.image.leader_endpoint(5), Some(("broker5", 9092)));
    assert_eq!(cluster.image.leader_endpoint(6), None);
}

#[test]
fn topics_partitions_and_configs() {
    let mut cluster = Cluster::new();
    let id = Uuid::from_u128(7);
    cluster.commit(&[
        topic_record("t", 7),
        partition(id, 0, &[1, 2], &[1, 2], 1, (0, 0)),
        partition(id, 1, &[2, 1], &[2, 1], 2, (0, 0)),
        MetadataRecord::TopicConfigs {
            id,
            configs: configs(&[("retention.ms", "1000")]),
        },
    ]);
    let topic = cluster.image.topic_by_id(&id).expect("topic by id");
    assert_eq!(topic.name, "t");
    assert_eq!(topic.partitions.len(), 2);
    assert_eq!(topic.replication_factor(), 2);
    assert_eq!(topic.configs, configs(&[("retention.ms", "1000")]));
    assert_eq!(topic.partition(1).map(|p| p.leader), Some(2));
    assert!(topic.partition(-1).is_none());

    // A change replaces the partition's whole state.
    cluster.commit(&[partition(id, 1, &[2, 1], &[1], 1, (1, 1))]);
    let expected = PartitionImage {
        replicas: vec![2, 1],
        isr: vec![1],
        leader: 1,
        leader_epoch: 1,
        partition_epoch: 1,
        ..PartitionImage::default()
    };
    assert_eq!(cluster.topic("t").partitions[1], expected);
}

#[test]
fn records_that_do_not_fit_are_skipped() {
    let mut cluster = Cluster::new();
    let id = Uuid::from_u128(7);
    let stranger = Uuid::from_u128(8);
    cluster.commit(&[
        topic_record("t", 7),
        partition(id, 0, &[1], &[1], 1, (0, 0)),
        partition(id, 2, &[1], &[1], 1, (0, 0)),  // gap
        partition(id, -1, &[1], &[1], 1, (0, 0)), // negative
        partition(stranger, 0, &[1], &[1], 1, (0, 0)),
        MetadataRecord::TopicConfigs {
            id: stranger,
            configs: configs(&[("a", "b")]),
        },
        MetadataRecord::RemoveTopic { id: stranger },
        topic_record("t", 9), // name taken
        topic_record("u", 7), // id taken
    ]);
    assert_eq!(cluster.image.topics.len(), 1);
    assert_eq!(cluster.topic("t").id, id);
    assert_eq!(cluster.topic("t").partitions.len(), 1);
    assert_eq!(cluster.image.offset, 2);
}

#[test]
fn remove_topic() {
    let mut cluster = Cluster::new();
    cluster.commit(&[topic_record("a", 1), topic_record("b", 2)]);
    cluster.commit(&[MetadataRecord::RemoveTopic {
        id: Uuid::from_u128(1),
    }]);
    assert_eq!(cluster.image.topics.keys().collect::<Vec<_>>(), vec!["b"]);
    assert!(cluster.image.topic_by_id(&Uuid::from_u128(1)).is_none());
}

#[test]
fn producer_ids_only_grow() {
    let mut cluster = Cluster::new();
    let ids = |next_producer_id| MetadataRecord::ProducerIds {
        node_id: 1,
        next_producer_id,
    };
    cluster.commit(&[ids(2000)]);
    cluster.commit(&[ids(1000)]);
    assert_eq!(cluster.image.next_producer_id, 2000);
    cluster.commit(&[ids(3000)]);
    assert_eq!(cluster.image.next_producer_id, 3000);
}

#[test]
fn snapshot_round_trip() {
    let mut cluster = Cluster::with_brokers(3);
    cluster.register(7, Some("rack-b"));
    let id = cluster.create("t", 4, 3);
    cluster.commit(&[
        MetadataRecord::TopicConfigs {
            id,
            configs: configs(&[("cleanup.policy", "compact")]),
        },
        MetadataRecord::ProducerIds {
            node_id: 1,
            next_producer_id: 5000,
        },
    ]);
    let mut leaderless = cluster.topic("t").partitions[0].clone();
    leaderless.leader = NO_LEADER;
    cluster.image.topics.get_mut("t").unwrap().partitions[0] = leaderless;

    let bytes = cluster.image.to_snapshot();
    let back = MetadataImage::from_snapshot(&bytes).expect("snapshot decodes");
    assert_eq!(back, cluster.image);
    assert_eq!(back.brokers[&7].rack.as_deref(), Some("rack-b"));
    assert!(MetadataImage::from_snapshot(b"{\"offset\":").is_err());
}

#[test]
fn record_batches_round_trip() {
    let id = Uuid::from_u128(3);
    let batch = vec![
        MetadataRecord::ClusterId {
            cluster_id: "c".into(),
        },
        MetadataRecord::RegisterBroker {
            node_id: 1,
            incarnation: id,
            host: "h".into(),
            port: 1,
            rack: Some("r".into()),
            listeners: vec![listener("PLAINTEXT", "h", 1)],
        },
        MetadataRecord::FenceBroker {
            node_id: 1,
            epoch: 2,
        },
        MetadataRecord::UnfenceBroker {
            node_id: 1,
            epoch: 2,
        },
        MetadataRecord::UnregisterBroker { node_id: 1 },
        topic_record("t", 3),
        MetadataRecord::TopicConfigs {
            id,
            configs: configs(&[("k", "v")]),
        },
        partition(id, 0, &[1], &[1], 1, (2, 3)),
        MetadataRecord::RemoveTopic { id },
        MetadataRecord::ProducerIds {
            node_id: 1,
            next_producer_id: 1000,
        },
    ];
    assert_eq!(records::decode(&records::encode(&batch)), Ok(batch));
}

#[test]
fn entries_carry_the_proposers_nonce() {
    let batch = vec![MetadataRecord::ClusterId {
        cluster_id: "c".into(),
    }];
    let entry = records::encode_entry(u64::MAX - 7, &batch);
    assert_eq!(records::decode_entry(&entry), Ok((u64::MAX - 7, batch)));
    assert!(records::decode_entry(&entry[..7]).is_err());
    assert!(records::decode_entry(&entry[..9]).is_err());
}
