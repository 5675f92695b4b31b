//! DescribeProducers (kafka-transactions.sh describe-producers): the
//! producers each partition keeps state for, with their epoch, last
//! sequence and timestamp, last coordinator epoch and the start of an open
//! transaction, read from the partition's leader. As Kafka: READ on the
//! topic (TOPIC_AUTHORIZATION_FAILED), and a partition this broker does
//! not lead gets NOT_LEADER_OR_FOLLOWER.

use std::rc::Rc;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse};

use super::authorize::{self, TopicRef};
use crate::security::acl::operation;
use crate::security::session::Session;
use crate::shard::{router, Shard};

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    _version: i16,
    request: DescribeProducersRequest,
) -> DescribeProducersResponse {
    let read = |name: &str| authorize::topic(shard, session, operation::READ, name);
    let mut parts = Vec::new();
    let mut layout = Vec::new();
    for topic in request.topics {
        let meta = authorize::topic_meta(shard, TopicRef::Name(&topic.name.0), &read, None).await;
        let mut slots = Vec::new();
        for p in topic.partition_indexes {
            let slot = match &meta {
                Err(code) => Err(*code),
                Ok(m) if !(0..m.partitions).contains(&p) => Err(E::UnknownTopicOrPartition.code()),
                Ok(m) => match shard.check_leader(&m.name, p) {
                    Err(not_here) => Err(not_here.error_code),
                    Ok(_) => {
                        parts.push((m.name.clone(), p));
                        Ok(parts.len() - 1)
                    }
                },
            };
            slots.push((p, slot));
        }
        layout.push((topic.name, slots));
    }
    let mut results = router::describe_producers(shard, parts).await;
    let topics = layout
        .into_iter()
        .map(|(name, slots)| {
            let partitions = slots
                .into_iter()
                .map(|(index, slot)| {
                    let missing = || Err(E::UnknownServerError.code());
                    let found = slot.and_then(|i| {
                        results
                            .get_mut(i)
                            .map_or_else(missing, |r| std::mem::replace(r, missing()))
                    });
                    let out = PartitionResponse::default().with_partition_index(index);
                    match found {
                        Err(code) => out.with_error_code(code),
                        Ok(producers) => out.with_active_producers(
                            producers
                                .into_iter()
                                .map(|p| {
                                    ProducerState::default()
                                        .with_producer_id(p.producer_id.into())
                                        .with_producer_epoch(i32::from(p.producer_epoch))
                                        .with_last_sequence(p.last_sequence)
                                        .with_last_timestamp(p.last_timestamp)
                                        .with_coordinator_epoch(p.coordinator_epoch)
                                        .with_current_txn_start_offset(p.current_txn_start_offset)
                                })
                                .collect(),
                        ),
                    }
                })
                .collect();
            TopicResponse::default()
                .with_name(name)
                .with_partitions(partitions)
        })
        .collect();
    DescribeProducersResponse::default().with_topics(topics)
}
