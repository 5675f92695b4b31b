//! Topic administration through the rdkafka crate's AdminClient: create with
//! configs, alter, describe (with sources), grow partitions, delete records.

mod common;

use std::time::Duration;

use common::Broker;
use futures_lite::future::block_on;
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, ConfigSource, NewPartitions, NewTopic,
    ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

fn admin(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client")
}

fn describe(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
) -> Vec<(String, Option<String>, String)> {
    let opts = AdminOptions::new().request_timeout(Some(Duration::from_secs(20)));
    let results = block_on(admin.describe_configs(&[ResourceSpecifier::Topic(topic)], &opts))
        .expect("describe");
    let resource = results
        .into_iter()
        .next()
        .expect("one resource")
        .expect("described");
    resource
        .entries
        .into_iter()
        .map(|e| (e.name, e.value, format!("{:?}", e.source)))
        .collect()
}

fn value(entries: &[(String, Option<String>, String)], name: &str) -> (Option<String>, String) {
    let (_, v, s) = entries
        .iter()
        .find(|(n, _, _)| n == name)
        .expect("config present");
    (v.clone(), s.clone())
}

#[test]
fn create_alter_describe_grow_and_trim() {
    let broker = Broker::start(&[]);
    let admin = admin(&broker.bootstrap);
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(20)));

    let topic =
        NewTopic::new("rk-admin", 2, TopicReplication::Fixed(1)).set("retention.bytes", "1048576");
    let created = block_on(admin.create_topics(&[topic], &opts)).expect("create");
    assert!(created[0].is_ok(), "{created:?}");
    let entries = describe(&admin, "rk-admin");
    assert_eq!(
        value(&entries, "retention.bytes"),
        (
            Some("1048576".into()),
            format!("{:?}", ConfigSource::DynamicTopic)
        )
    );
    assert_eq!(
        value(&entries, "cleanup.policy"),
        (
            Some("delete".into()),
            format!("{:?}", ConfigSource::Default)
        )
    );

    // Legacy AlterConfigs replaces the overrides: retention.bytes goes back
    // to the broker default.
    let alter =
        AlterConfig::new(ResourceSpecifier::Topic("rk-admin")).set("max.message.bytes", "5000");
    let altered = block_on(admin.alter_configs(&[alter], &opts)).expect("alter");
    assert!(altered[0].is_ok(), "{altered:?}");
    let entries = describe(&admin, "rk-admin");
    assert_eq!(
        value(&entries, "max.message.bytes").0.as_deref(),
        Some("5000")
    );
    assert_eq!(value(&entries, "retention.bytes").0.as_deref(), Some("-1"));

    let bad = AlterConfig::new(ResourceSpecifier::Topic("rk-admin")).set("segment.ms", "-5");
    // The crate reports every AlterConfigs resource as Ok (it does not read
    // the per-resource error), so check the effect: nothing changed.
    block_on(admin.alter_configs(&[bad], &opts)).expect("alter call");
    let entries = describe(&admin, "rk-admin");
    assert_eq!(
        value(&entries, "segment.ms").0.as_deref(),
        Some("604800000")
    );
    assert_eq!(
        value(&entries, "max.message.bytes").0.as_deref(),
        Some("5000")
    );

    let grown = block_on(admin.create_partitions(&[NewPartitions::new("rk-admin", 5)], &opts))
        .expect("grow");
    assert!(grown[0].is_ok(), "{grown:?}");

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &broker.bootstrap)
        .create()
        .expect("producer");
    for i in 0..10 {
        let value = format!("v{i}");
        block_on(
            producer.send(
                FutureRecord::<(), _>::to("rk-admin")
                    .payload(&value)
                    .partition(4),
                Duration::from_secs(10),
            ),
        )
        .expect("produce to a new partition");
    }
    let mut trim = TopicPartitionList::new();
    trim.add_partition_offset("rk-admin", 4, Offset::Offset(6))
        .expect("tpl");
    let trimmed = block_on(admin.delete_records(&trim, &opts)).expect("delete records");
    assert_eq!(trimmed.elements()[0].offset(), Offset::Offset(6));

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &broker.bootstrap)
        .set("group.id", "unused")
        .create()
        .expect("consumer");
    let (low, high) = consumer
        .fetch_watermarks("rk-admin", 4, Duration::from_secs(10))
        .expect("watermarks");
    assert_eq!((low, high), (6, 10));
    let metadata = consumer
        .fetch_metadata(Some("rk-admin"), Duration::from_secs(10))
        .expect("metadata");
    assert_eq!(metadata.topics()[0].partitions().len(), 5);
}
