//! DescribeLogDirs: the one data directory, its capacity, and each
//! partition held on this broker with its bytes on disk and its offset lag
//! (0 on the leader; on a follower, how far its log end trails the leader's
//! high watermark as last fetched). Partitions are asked of their owning
//! shards (`router::log_dirs`); one not held here is left out, as Kafka
//! leaves out partitions it has no replica of. Needs DESCRIBE on the
//! cluster (no results and CLUSTER_AUTHORIZATION_FAILED, as in Kafka).

use std::path::Path;
use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::authorize;
use crate::security::acl::operation;
use crate::security::session::Session;
use crate::shard::{router, Shard};

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    version: i16,
    request: DescribeLogDirsRequest,
) -> DescribeLogDirsResponse {
    if !authorize::cluster(shard, session, operation::DESCRIBE) {
        let code = ResponseError::ClusterAuthorizationFailed.code();
        return DescribeLogDirsResponse::default().with_error_code(code);
    }
    let parts = wanted(shard, &request);
    let entries = router::log_dirs(shard, parts.clone()).await;
    let mut topics: Vec<DescribeLogDirsTopic> = Vec::new();
    for ((name, p), entry) in parts.into_iter().zip(entries) {
        let Some(entry) = entry else {
            continue;
        };
        let partition = DescribeLogDirsPartition::default()
            .with_partition_index(p)
            .with_partition_size(entry.size)
            .with_offset_lag(entry.offset_lag);
        match topics.last_mut().filter(|t| t.name.0.as_str() == name) {
            Some(t) => t.partitions.push(partition),
            None => topics.push(
                DescribeLogDirsTopic::default()
                    .with_name(TopicName(StrBytes::from_string(name)))
                    .with_partitions(vec![partition]),
            ),
        }
    }
    let dir = std::fs::canonicalize(&shard.data_dir).unwrap_or_else(|_| shard.data_dir.clone());
    let mut result = DescribeLogDirsResult::default()
        .with_log_dir(StrBytes::from_string(dir.display().to_string()))
        .with_topics(topics);
    if version >= 4 {
        let (total, usable) = capacity(&dir).unwrap_or((-1, -1));
        result = result.with_total_bytes(total).with_usable_bytes(usable);
    }
    DescribeLogDirsResponse::default().with_results(vec![result])
}

/// The (topic, partition)s asked about, in topic order: every partition of
/// the named topics (all topics when none are named) that this broker is
/// a replica of in its metadata image.
fn wanted(shard: &Shard, request: &DescribeLogDirsRequest) -> Vec<(String, i32)> {
    let image = shard.image.borrow().clone();
    let me = shard.node_id();
    let named: Vec<(String, Option<Vec<i32>>)> = match &request.topics {
        Some(topics) => topics
            .iter()
            .map(|t| (t.topic.to_string(), Some(t.partitions.clone())))
            .collect(),
        None => image.topics.keys().map(|n| (n.clone(), None)).collect(),
    };
    let mut out = Vec::new();
    for (name, only) in named {
        let Some(topic) = image.topic(&name) else {
            continue;
        };
        for (p, state) in (0..).zip(&topic.partitions) {
            let asked = only.as_ref().is_none_or(|o| o.contains(&p));
            if asked && state.replicas.contains(&me) {
                out.push((name.clone(), p));
            }
        }
    }
    out
}

fn capacity(dir: &Path) -> Option<(i64, i64)> {
    let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).ok()?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a valid C string and `stat` a writable statvfs.
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    let block = stat.f_frsize as i64;
    Some((stat.f_blocks as i64 * block, stat.f_bavail as i64 * block))
}
