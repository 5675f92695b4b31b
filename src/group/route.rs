//! Which shard coordinates a group, and getting a call there.

use std::rc::Rc;

use kafka_protocol::error::ResponseError as E;

use super::types::{GroupCall, GroupReply};
use super::OFFSETS_TOPIC;
use crate::shard::messages::{ShardRequest, ShardResponse};
use crate::shard::Shard;

pub use crate::util::java_hash;

pub fn partition_for(group_id: &str, partitions: i32) -> i32 {
    (java_hash(group_id) & 0x7fff_ffff) % partitions.max(1)
}

/// The group's partition, if `__consumer_offsets` exists yet.
pub fn group_partition(shard: &Shard, group_id: &str) -> Option<i32> {
    let partitions = shard.topics.borrow().get(OFFSETS_TOPIC)?.partitions;
    Some(partition_for(group_id, partitions))
}

/// Runs `call` on the coordinator shard of `group_id`.
pub async fn call(shard: &Rc<Shard>, group_id: &str, call: GroupCall) -> Result<GroupReply, E> {
    let partition = group_partition(shard, group_id).ok_or(E::CoordinatorNotAvailable)?;
    // Another broker leads the group's partition: the client looks again.
    if shard.check_leader(OFFSETS_TOPIC, partition).is_err() {
        return Err(E::NotCoordinator);
    }
    let owner = shard.owner_of(OFFSETS_TOPIC, partition);
    if owner == shard.id {
        return super::handle(shard, partition, call).await;
    }
    let request = ShardRequest::Group { partition, call };
    match shard.mesh.send(owner, request).await.await {
        Ok(ShardResponse::Group(reply)) => reply,
        _ => Err(E::CoordinatorNotAvailable),
    }
}

/// ListGroups: every shard's groups.
pub async fn list_all(shard: &Rc<Shard>) -> Vec<super::types::GroupListing> {
    let mut out = Vec::new();
    for s in 0..shard.shard_count() {
        let reply = if s == shard.id {
            super::handle(shard, -1, GroupCall::List).await.ok()
        } else {
            match shard
                .mesh
                .send(
                    s,
                    ShardRequest::Group {
                        partition: -1,
                        call: GroupCall::List,
                    },
                )
                .await
                .await
            {
                Ok(ShardResponse::Group(reply)) => reply.ok(),
                _ => None,
            }
        };
        if let Some(GroupReply::List(groups)) = reply {
            out.extend(groups);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_hash_matches_java() {
        // Values computed by java.lang.String#hashCode.
        assert_eq!(java_hash(""), 0);
        assert_eq!(java_hash("a"), 97);
        assert_eq!(java_hash("hello"), 99162322);
        // Hashes to i32::MIN: the sign bit is masked off, not abs()'d.
        assert_eq!(java_hash("polygenelubricants"), i32::MIN);
        assert_eq!(partition_for("polygenelubricants", 50), 0);
        assert_eq!(partition_for("hello", 50), 99162322 % 50);
    }
}
