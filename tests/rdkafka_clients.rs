//! librdkafka through the rdkafka crate against the real broker: what is
//! produced comes back with the same keys, values, headers and offsets.

mod common;

use std::time::Duration;

use common::Broker;
// rdkafka's futures need no particular runtime.
use futures_lite::future::block_on;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

/// A consumed message: offset, key, value, headers.
type Received = (i64, Vec<u8>, Vec<u8>, Vec<(String, Vec<u8>)>);

fn producer(bootstrap: &str, extra: &[(&str, &str)]) -> FutureProducer {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    for (k, v) in extra {
        config.set(*k, *v);
    }
    config.create().expect("producer")
}

/// Reads `count` messages of `topic`/`partition` from offset 0.
fn consume(bootstrap: &str, topic: &str, partition: i32, count: usize) -> Vec<Received> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "unused")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Beginning)
        .expect("tpl");
    consumer.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let mut idle = 0;
    while out.len() < count && idle < 20 {
        match consumer.poll(Duration::from_millis(500)) {
            None => idle += 1,
            Some(Err(e)) => panic!("consume error: {e}"),
            Some(Ok(m)) => {
                let headers = m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec()))
                            .collect()
                    })
                    .unwrap_or_default();
                out.push((
                    m.offset(),
                    m.key().unwrap_or_default().to_vec(),
                    m.payload().unwrap_or_default().to_vec(),
                    headers,
                ));
            }
        }
    }
    out
}

async fn produce_all(p: &FutureProducer, topic: &str, n: usize) -> Vec<i64> {
    let mut offsets = Vec::new();
    let sends: Vec<_> = (0..n)
        .map(|i| {
            let key = format!("key-{i}");
            let value = format!("value-{i}").repeat(1 + i % 7);
            let headers = OwnedHeaders::new().insert(Header {
                key: "i",
                value: Some(&i.to_string()),
            });
            p.send_result(
                FutureRecord::to(topic)
                    .key(&key)
                    .payload(&value)
                    .headers(headers),
            )
            .expect("queue")
        })
        .collect();
    for send in sends {
        let delivery = send.await.expect("delivery").expect("acknowledged");
        offsets.push(delivery.offset);
    }
    offsets
}

fn check(got: &[Received], n: usize) {
    assert_eq!(got.len(), n);
    for (i, (offset, key, value, headers)) in got.iter().enumerate() {
        assert_eq!(*offset, i as i64);
        assert_eq!(key, format!("key-{i}").as_bytes());
        assert_eq!(value, format!("value-{i}").repeat(1 + i % 7).as_bytes());
        assert_eq!(
            headers,
            &vec![("i".to_string(), i.to_string().into_bytes())]
        );
    }
}

#[test]
fn round_trip_for_every_acks_setting() {
    let broker = Broker::start(&[]);
    for acks in ["0", "1", "all"] {
        let topic = format!("acks-{acks}");
        let p = producer(&broker.bootstrap, &[("acks", acks), ("linger.ms", "5")]);
        let offsets = block_on(produce_all(&p, &topic, 300));
        if acks != "0" {
            assert_eq!(offsets, (0..300).collect::<Vec<i64>>());
        }
        check(&consume(&broker.bootstrap, &topic, 0, 300), 300);
    }
}

#[test]
fn idempotent_producer_gets_contiguous_offsets_once() {
    let broker = Broker::start(&[]);
    let p = producer(
        &broker.bootstrap,
        &[
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("retries", "10"),
            ("max.in.flight.requests.per.connection", "5"),
            ("linger.ms", "1"),
        ],
    );
    let offsets = block_on(produce_all(&p, "idem", 2000));
    assert_eq!(offsets, (0..2000).collect::<Vec<i64>>());
    check(&consume(&broker.bootstrap, "idem", 0, 2000), 2000);
}
