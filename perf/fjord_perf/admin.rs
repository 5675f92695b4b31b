//! Creating and deleting the run's topic through rdkafka's AdminClient, so
//! the tool works against any Kafka-compatible broker.

use std::time::Duration;

use futures_lite::future::block_on;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

fn client(bootstrap: &str) -> Result<AdminClient<DefaultClientContext>, String> {
    super::client::config(bootstrap)
        .create()
        .map_err(|e| format!("admin client: {e}"))
}

fn options() -> AdminOptions {
    AdminOptions::new()
        .operation_timeout(Some(Duration::from_secs(30)))
        .request_timeout(Some(Duration::from_secs(30)))
}

/// Creates `topic`; an existing topic is kept as it is.
pub fn create_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    replication: i32,
) -> Result<(), String> {
    let admin = client(bootstrap)?;
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(replication));
    let results =
        block_on(admin.create_topics(&[new], &options())).map_err(|e| format!("create: {e}"))?;
    for r in results {
        match r {
            Ok(_) => {}
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {
                eprintln!("topic {topic} exists already; using it as it is")
            }
            Err((t, code)) => return Err(format!("create topic {t}: {code}")),
        }
    }
    Ok(())
}

pub fn delete_topic(bootstrap: &str, topic: &str) -> Result<(), String> {
    let admin = client(bootstrap)?;
    let results =
        block_on(admin.delete_topics(&[topic], &options())).map_err(|e| format!("delete: {e}"))?;
    for r in results {
        r.map_err(|(t, code)| format!("delete topic {t}: {code}"))?;
    }
    Ok(())
}
