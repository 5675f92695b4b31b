//! OffsetForLeaderEpoch: clients ask where an epoch ended to detect log
//! truncation after a leader change. A single broker has only ever had epoch
//! 0, so epoch 0 (or any earlier one) ends at the log end; a later epoch is
//! unknown; a fenced current_leader_epoch above ours is FENCED/UNKNOWN.

use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use super::topics;
use crate::shard::messages::OffsetQuery;
use crate::shard::{router, Shard};

const EPOCH: i32 = 0;
const LATEST: i64 = -1;

pub async fn handle(
    shard: &Rc<Shard>,
    _version: i16,
    request: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let mut results = Vec::new();
    for t in request.topics {
        let meta = topics::resolve(shard, t.topic.0.as_str(), false).await;
        let mut partitions = Vec::new();
        for p in t.partitions {
            let answer = EpochEndOffset::default().with_partition(p.partition);
            let known = matches!(&meta, Ok(m) if (0..m.partitions).contains(&p.partition));
            let answer = if !known {
                answer
                    .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                    .with_leader_epoch(-1)
                    .with_end_offset(-1)
            } else if p.current_leader_epoch > EPOCH {
                answer
                    .with_error_code(ResponseError::UnknownLeaderEpoch.code())
                    .with_leader_epoch(-1)
                    .with_end_offset(-1)
            } else if p.leader_epoch > EPOCH {
                answer.with_leader_epoch(-1).with_end_offset(-1)
            } else {
                let query = OffsetQuery {
                    topic: t.topic.0.to_string(),
                    partition: p.partition,
                    timestamp: LATEST,
                };
                let end = router::list_offsets(shard, vec![query]).await.remove(0);
                answer
                    .with_error_code(end.error_code)
                    .with_leader_epoch(EPOCH)
                    .with_end_offset(end.offset)
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
