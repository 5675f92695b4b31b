//! The rdkafka crate against a three-node cluster: a topic created through
//! one node is led by all three, a producer that knows only one node
//! reaches every leader, and a consumer that knows only another reads
//! back exactly what was acknowledged, at the offsets acknowledged.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::Cluster;
use futures_lite::future::block_on;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

const PARTITIONS: i32 = 6;
const MESSAGES: usize = 120;

fn config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    config
}

fn leaders(bootstrap: &str, topic: &str) -> Vec<i32> {
    let consumer: BaseConsumer = config(bootstrap).create().expect("consumer");
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    md.topics()[0]
        .partitions()
        .iter()
        .map(|p| p.leader())
        .collect()
}

/// Waits until `bootstrap` lists `n` brokers (nodes register just after
/// they start listening; placement uses the brokers registered).
fn wait_brokers(bootstrap: &str, n: usize) {
    let consumer: BaseConsumer = config(bootstrap).create().expect("consumer");
    for _ in 0..100 {
        let md = consumer.fetch_metadata(None, Duration::from_secs(5));
        if md.is_ok_and(|md| md.brokers().len() == n) {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{bootstrap} never listed {n} brokers");
}

#[test]
fn clients_knowing_one_node_reach_the_whole_cluster() {
    let cluster = Cluster::start(3);
    let [one, two, three] = [0, 1, 2].map(|i| cluster.nodes[i].bootstrap.clone());
    wait_brokers(&one, 3);

    let admin: AdminClient<DefaultClientContext> = config(&one).create().expect("admin");
    let topic = NewTopic::new("spread", PARTITIONS, TopicReplication::Fixed(1));
    let created = block_on(admin.create_topics([&topic], &AdminOptions::new())).expect("create");
    assert!(created.iter().all(|r| r.is_ok()), "{created:?}");

    let seen = leaders(&one, "spread");
    assert_eq!(seen.len(), PARTITIONS as usize);
    assert_eq!(
        seen.iter().copied().collect::<BTreeSet<_>>(),
        BTreeSet::from([1, 2, 3])
    );
    assert_eq!(leaders(&two, "spread"), seen);
    assert_eq!(leaders(&three, "spread"), seen);

    let producer: FutureProducer = config(&two).set("acks", "all").create().expect("producer");
    let mut acked: BTreeMap<(i32, i64), String> = BTreeMap::new();
    for i in 0..MESSAGES {
        let value = format!("value-{i}");
        let partition = (i % PARTITIONS as usize) as i32;
        let record = FutureRecord::to("spread")
            .partition(partition)
            .key("k")
            .payload(&value);
        let delivery = block_on(producer.send(record, Duration::from_secs(20))).expect("ack");
        acked.insert((delivery.partition, delivery.offset), value);
    }

    let consumer: BaseConsumer = config(&three)
        .set("group.id", "unused")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset("spread", p, Offset::Beginning)
            .expect("tpl");
    }
    consumer.assign(&tpl).expect("assign");
    let mut got: BTreeMap<(i32, i64), String> = BTreeMap::new();
    let mut idle = 0;
    while got.len() < MESSAGES && idle < 40 {
        match consumer.poll(Duration::from_millis(500)) {
            None => idle += 1,
            Some(Err(e)) => panic!("consume error: {e}"),
            Some(Ok(m)) => {
                let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
                got.insert((m.partition(), m.offset()), value);
            }
        }
    }
    assert_eq!(got, acked);
    for p in 0..PARTITIONS {
        let offsets: Vec<i64> = got
            .keys()
            .filter(|(q, _)| *q == p)
            .map(|(_, o)| *o)
            .collect();
        assert_eq!(offsets, (0..offsets.len() as i64).collect::<Vec<_>>());
    }
}
