//! ListOffsets: earliest (-2), latest (-1), max timestamp (-3) or the first
//! offset at or after a timestamp, per partition, from its owner. A partition
//! this broker does not lead gets the error `check_leader` gives; a topic
//! the session may not DESCRIBE, TOPIC_AUTHORIZATION_FAILED.

use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::authorize::{self, TopicRef};
use crate::security::acl::operation;
use crate::security::session::Session;
use crate::shard::messages::{OffsetAnswer, OffsetKind, OffsetQuery};
use crate::shard::{router, Shard};

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    version: i16,
    request: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let describe = |name: &str| authorize::topic(shard, session, operation::DESCRIBE, name);
    let mut queries = Vec::new();
    // Per topic: its name and, per partition, an error or a query index.
    let mut layout = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let named = TopicRef::Name(topic.name.0.as_str());
        let meta = authorize::topic_meta(shard, named, &describe, None).await;
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in topic.partitions {
            let slot = match &meta {
                Err(code) => Err(*code),
                Ok(m) if p.partition_index < 0 || p.partition_index >= m.partitions => {
                    Err(ResponseError::UnknownTopicOrPartition.code())
                }
                // Led elsewhere: ListOffsets has no field to say where.
                Ok(m) => match shard.check_leader_epoch(
                    &m.name,
                    p.partition_index,
                    p.current_leader_epoch,
                ) {
                    Err(code) => Err(code),
                    Ok(epoch) => {
                        queries.push(OffsetQuery {
                            topic: m.name.clone(),
                            partition: p.partition_index,
                            kind: match (request.isolation_level, p.timestamp) {
                                (1, -1) => OffsetKind::LastStable,
                                (_, t) => OffsetKind::Timestamp(t),
                            },
                        });
                        Ok((queries.len() - 1, epoch))
                    }
                },
            };
            partitions.push((p.partition_index, slot));
        }
        layout.push((topic.name, partitions));
    }
    let answers = router::list_offsets(shard, queries).await;
    let topics_out = layout
        .into_iter()
        .map(|(name, partitions)| {
            let partitions = partitions
                .into_iter()
                .map(|(index, slot)| {
                    let (answer, epoch) = match slot {
                        Err(code) => (
                            OffsetAnswer {
                                error_code: code,
                                offset: -1,
                                timestamp: -1,
                            },
                            -1,
                        ),
                        Ok((i, epoch)) => (
                            answers.get(i).cloned().unwrap_or(OffsetAnswer {
                                error_code: ResponseError::UnknownServerError.code(),
                                offset: -1,
                                timestamp: -1,
                            }),
                            epoch,
                        ),
                    };
                    ListOffsetsPartitionResponse::default()
                        .with_partition_index(index)
                        .with_error_code(answer.error_code)
                        .with_offset(answer.offset)
                        .with_timestamp(answer.timestamp)
                        .with_leader_epoch(if answer.error_code == 0 && version >= 4 {
                            epoch
                        } else {
                            -1
                        })
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics_out)
}
