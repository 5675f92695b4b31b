//! DeleteRecords: moves each partition's log start offset (low watermark) up
//! to the given offset (-1 = the high watermark) on its owner; whole segments
//! below it are deleted. Offsets above the high watermark get
//! OFFSET_OUT_OF_RANGE. A partition this broker does not lead gets the error
//! `check_leader` gives (NOT_LEADER_OR_FOLLOWER, ...), as in Kafka; a topic
//! the session may not DELETE, TOPIC_AUTHORIZATION_FAILED.

use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use super::authorize::{self, TopicRef};
use crate::security::acl::operation;
use crate::security::session::Session;
use crate::shard::messages::DeleteRecordsPart;
use crate::shard::{router, Shard};

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    _version: i16,
    request: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let delete = |name: &str| authorize::topic(shard, session, operation::DELETE, name);
    let mut parts = Vec::new();
    let mut layout = Vec::new();
    for t in request.topics {
        let named = TopicRef::Name(t.name.0.as_str());
        let meta = authorize::topic_meta(shard, named, &delete, None).await;
        let mut slots = Vec::new();
        for p in t.partitions {
            let slot = match &meta {
                Ok(m) if (0..m.partitions).contains(&p.partition_index) => {
                    match shard.check_leader(&m.name, p.partition_index) {
                        // Led elsewhere: DeleteRecords has no field to say where.
                        Err(not_here) => Err(not_here.error_code),
                        Ok(_) => {
                            parts.push(DeleteRecordsPart {
                                topic: m.name.clone(),
                                partition: p.partition_index,
                                offset: p.offset,
                            });
                            Ok(parts.len() - 1)
                        }
                    }
                }
                Ok(_) => Err(ResponseError::UnknownTopicOrPartition.code()),
                Err(code) => Err(*code),
            };
            slots.push((p.partition_index, slot));
        }
        layout.push((t.name, slots));
    }
    let results = router::delete_records(shard, parts).await;
    let topics = layout
        .into_iter()
        .map(|(name, slots)| {
            let partitions = slots
                .into_iter()
                .map(|(index, slot)| {
                    let (code, low) = match slot {
                        Err(code) => (code, -1),
                        Ok(i) => results
                            .get(i)
                            .map_or((ResponseError::UnknownServerError.code(), -1), |r| {
                                (r.error_code, r.low_watermark)
                            }),
                    };
                    DeleteRecordsPartitionResult::default()
                        .with_partition_index(index)
                        .with_error_code(code)
                        .with_low_watermark(low)
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(name)
                .with_partitions(partitions)
        })
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}
