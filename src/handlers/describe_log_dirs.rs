//! DescribeLogDirs: the one data directory, its capacity, and the bytes on
//! disk of each partition (segment and index files). Sizes come from the
//! file system, so they are read here without asking the owning shards.

use std::path::Path;
use std::rc::Rc;

use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::shard::topics::partition_dir;
use crate::shard::Shard;

pub async fn handle(
    shard: &Rc<Shard>,
    version: i16,
    request: DescribeLogDirsRequest,
) -> DescribeLogDirsResponse {
    let wanted: Vec<(String, Vec<i32>)> = match &request.topics {
        Some(topics) => topics
            .iter()
            .map(|t| (t.topic.to_string(), t.partitions.clone()))
            .collect(),
        None => shard
            .topics
            .borrow()
            .iter()
            .map(|m| (m.name.clone(), (0..m.partitions).collect()))
            .collect(),
    };
    let mut topics = Vec::new();
    for (name, partitions) in wanted {
        let count = shard.topics.borrow().get(&name).map_or(0, |m| m.partitions);
        let partitions: Vec<DescribeLogDirsPartition> = partitions
            .into_iter()
            .filter(|p| (0..count).contains(p))
            .map(|p| {
                DescribeLogDirsPartition::default()
                    .with_partition_index(p)
                    .with_partition_size(dir_size(&partition_dir(&shard.data_dir, &name, p)) as i64)
            })
            .collect();
        if !partitions.is_empty() {
            topics.push(
                DescribeLogDirsTopic::default()
                    .with_name(TopicName(StrBytes::from_string(name)))
                    .with_partitions(partitions),
            );
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

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
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
