//! OffsetForLeaderEpoch: clients ask where an epoch ended to detect log
//! truncation after a leader change. The leader answers from its log's
//! leader-epoch cache (Kafka's `endOffsetFor`: the nearest epoch at or below
//! the one asked and where it ends; the current epoch ends at the log end;
//! unknown: -1, -1). The client's current_leader_epoch is checked as Kafka
//! does (UNKNOWN / FENCED_LEADER_EPOCH), and a partition led elsewhere gets
//! NOT_LEADER_OR_FOLLOWER. A topic needs DESCRIBE, or the cluster
//! CLUSTER_ACTION (TOPIC_AUTHORIZATION_FAILED).

use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use super::authorize::{self, TopicRef};
use crate::security::acl::operation;
use crate::security::session::Session;
use crate::shard::messages::{OffsetKind, OffsetQuery};
use crate::shard::{router, Shard};

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    _version: i16,
    request: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    // Kafka: CLUSTER_ACTION (the inter-broker use) allows every topic, else
    // the consumer's use (KIP-320) needs DESCRIBE on each.
    let cluster_action = authorize::cluster(shard, session, operation::CLUSTER_ACTION);
    let describe =
        |name: &str| cluster_action || authorize::topic(shard, session, operation::DESCRIBE, name);
    let mut results = Vec::new();
    for t in request.topics {
        let named = TopicRef::Name(t.topic.0.as_str());
        let meta = authorize::topic_meta(shard, named, &describe, None).await;
        let mut partitions = Vec::new();
        for p in t.partitions {
            let answer = EpochEndOffset::default().with_partition(p.partition);
            let name = t.topic.0.as_str();
            let checked = match &meta {
                Err(code) => Err(*code),
                Ok(m) if !(0..m.partitions).contains(&p.partition) => {
                    Err(ResponseError::UnknownTopicOrPartition.code())
                }
                Ok(_) => shard.check_leader_epoch(name, p.partition, p.current_leader_epoch),
            };
            let answer = match checked {
                Err(code) => answer
                    .with_error_code(code)
                    .with_leader_epoch(-1)
                    .with_end_offset(-1),
                Ok(current) if p.leader_epoch > current => {
                    answer.with_leader_epoch(-1).with_end_offset(-1)
                }
                Ok(_) => {
                    let query = OffsetQuery {
                        topic: name.to_string(),
                        partition: p.partition,
                        kind: OffsetKind::EpochEnd(p.leader_epoch),
                    };
                    let end = router::list_offsets(shard, vec![query]).await.remove(0);
                    answer
                        .with_error_code(end.error_code)
                        .with_leader_epoch(end.timestamp as i32)
                        .with_end_offset(end.offset)
                }
            };
            partitions.push(answer);
        }
        results.push(
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic)
                .with_partitions(partitions),
        );
    }
    OffsetForLeaderEpochResponse::default().with_topics(results)
}
