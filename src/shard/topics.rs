//! The topic table every shard keeps a copy of, partition ownership, and the
//! on-disk record of which topics exist.
//!
//! Each partition directory is `<topic>-<partition>` under the data dir and
//! holds a `partition.metadata` file with the topic id (Kafka's layout), so the
//! topic list is derived from the directories at start and never stored twice.
//! A topic's config overrides live in `topic-configs/<topic>.properties`
//! (`name=value` lines), written atomically by the controller.
//! Only the controller shard creates or removes topics; the others learn of
//! changes by message (see `shard::service`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use uuid::Uuid;

use super::messages::TopicMeta;

pub const METADATA_FILE: &str = "partition.metadata";

/// The shard that owns `partition` of `topic` among `shards` shards. Stable for
/// a given shard count; nothing on disk depends on it.
pub fn owner(topic: &str, partition: i32, shards: usize) -> usize {
    debug_assert!(shards > 0);
    // FNV-1a: cheap, stable across builds and platforms.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in topic.as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (hash.wrapping_add(partition as u64) % shards as u64) as usize
}

pub use crate::config::topic::valid_topic_name;

pub fn partition_dir(data_dir: &Path, topic: &str, partition: i32) -> PathBuf {
    data_dir.join(format!("{topic}-{partition}"))
}

/// Topics by name, as this shard knows them.
#[derive(Default, Clone, Debug)]
pub struct TopicTable {
    topics: BTreeMap<String, TopicMeta>,
}

impl TopicTable {
    pub fn get(&self, name: &str) -> Option<&TopicMeta> {
        self.topics.get(name)
    }

    pub fn by_id(&self, id: Uuid) -> Option<&TopicMeta> {
        self.topics.values().find(|t| t.id == id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &TopicMeta> {
        self.topics.values()
    }

    pub fn upsert(&mut self, meta: TopicMeta) {
        self.topics.insert(meta.name.clone(), meta);
    }

    pub fn remove(&mut self, name: &str) -> Option<TopicMeta> {
        self.topics.remove(name)
    }

    /// Reads the topics present in `data_dir`. Directories that are not
    /// partition directories are ignored; a partition directory without a
    /// readable metadata file gets one (a crash between mkdir and the write).
    pub fn load(data_dir: &Path) -> std::io::Result<TopicTable> {
        let mut table = TopicTable::default();
        let mut partitions: BTreeMap<String, (Option<Uuid>, i32)> = BTreeMap::new();
        for entry in std::fs::read_dir(data_dir)? {
            let entry = entry?;
            if !entry.file_type()?.is_dir() {
                continue;
            }
            let file_name = entry.file_name();
            let Some(name) = file_name.to_str() else {
                continue;
            };
            let Some((topic, index)) = name.rsplit_once('-') else {
                continue;
            };
            let Ok(index) = index.parse::<i32>() else {
                continue;
            };
            if !valid_topic_name(topic) || index < 0 {
                continue;
            }
            let id = read_topic_id(&entry.path());
            let slot = partitions.entry(topic.to_string()).or_insert((None, 0));
            slot.0 = slot.0.or(id);
            slot.1 = slot.1.max(index + 1);
        }
        for (name, (id, count)) in partitions {
            let id = id.unwrap_or_else(Uuid::new_v4);
            for p in 0..count {
                ensure_partition_dir(data_dir, &name, p, id)?;
            }
            let configs = read_topic_configs(data_dir, &name);
            table.upsert(TopicMeta {
                name,
                id,
                partitions: count,
                configs,
            });
        }
        Ok(table)
    }
}

const CONFIGS_DIR: &str = "topic-configs";

fn configs_file(data_dir: &Path, topic: &str) -> PathBuf {
    data_dir
        .join(CONFIGS_DIR)
        .join(format!("{topic}.properties"))
}

/// The config overrides stored for `topic` (none if never altered).
pub fn read_topic_configs(data_dir: &Path, topic: &str) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(configs_file(data_dir, topic)).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .collect()
}

/// Stores `configs` for `topic` durably (write aside, fsync, rename, fsync
/// the directory), or removes the file when there are none.
pub fn write_topic_configs(
    data_dir: &Path,
    topic: &str,
    configs: &BTreeMap<String, String>,
) -> std::io::Result<()> {
    let dir = data_dir.join(CONFIGS_DIR);
    std::fs::create_dir_all(&dir)?;
    let path = configs_file(data_dir, topic);
    if configs.is_empty() {
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    } else {
        let tmp = path.with_extension("tmp");
        let mut file = std::fs::File::create(&tmp)?;
        for (k, v) in configs {
            writeln!(file, "{k}={v}")?;
        }
        file.sync_all()?;
        std::fs::rename(&tmp, &path)?;
    }
    std::fs::File::open(&dir)?.sync_all()
}

fn read_topic_id(dir: &Path) -> Option<Uuid> {
    let text = std::fs::read_to_string(dir.join(METADATA_FILE)).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("topic_id: "))
        .and_then(|id| Uuid::parse_str(id.trim()).ok())
}

/// Creates the partition directory and its metadata file if missing, synced,
/// so a topic that was acknowledged as created survives a crash.
pub fn ensure_partition_dir(
    data_dir: &Path,
    topic: &str,
    partition: i32,
    id: Uuid,
) -> std::io::Result<()> {
    let dir = partition_dir(data_dir, topic, partition);
    if read_topic_id(&dir) == Some(id) {
        return Ok(());
    }
    std::fs::create_dir_all(&dir)?;
    let tmp = dir.join(format!("{METADATA_FILE}.tmp"));
    let mut file = std::fs::File::create(&tmp)?;
    write!(file, "version: 0\ntopic_id: {id}\n")?;
    file.sync_all()?;
    std::fs::rename(&tmp, dir.join(METADATA_FILE))?;
    std::fs::File::open(&dir)?.sync_all()?;
    std::fs::File::open(data_dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(valid_topic_name("orders.v1_a-b"));
        assert!(!valid_topic_name(""));
        assert!(!valid_topic_name(".."));
        assert!(!valid_topic_name("a/b"));
        assert!(!valid_topic_name(&"x".repeat(250)));
    }

    #[test]
    fn owner_spreads_partitions_over_shards() {
        let owners: Vec<usize> = (0..8).map(|p| owner("t", p, 2)).collect();
        assert!(owners.contains(&0) && owners.contains(&1));
        assert!(owners.iter().all(|&o| o < 2));
    }

    #[test]
    fn load_finds_topics_and_ids() {
        let dir = tempfile::tempdir().unwrap();
        let id = Uuid::new_v4();
        for p in 0..3 {
            ensure_partition_dir(dir.path(), "my-topic", p, id).unwrap();
        }
        std::fs::create_dir(dir.path().join("not_a_partition")).unwrap();
        let table = TopicTable::load(dir.path()).unwrap();
        let meta = table.get("my-topic").unwrap();
        assert_eq!(meta.partitions, 3);
        assert_eq!(meta.id, id);
        assert_eq!(table.iter().count(), 1);
    }
}
