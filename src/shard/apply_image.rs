//! A shard applying a new metadata image: topics that are gone (or were
//! re-created under a new id) are deleted here first, then every topic that
//! changed is (re)learned — the partitions this shard owns and this node
//! holds a replica of are opened, their configs updated — and only then is
//! the new image and topic table visible to requests, so no request finds
//! a topic without its logs. Leadership (and with it the group coordinator)
//! follows in `replication::reconcile`.

use std::rc::Rc;
use std::sync::Arc;

use super::messages::TopicMeta;
use super::{topics, Shard};
use crate::cluster::image::{MetadataImage, TopicImage};
use crate::config::topic::TopicConfig;
use crate::storage::PartitionLog;

pub(super) async fn apply(shard: &Rc<Shard>, image: Arc<MetadataImage>, controller_id: i32) {
    let old = shard.image.borrow().clone();
    for (name, topic) in &old.topics {
        match image.topics.get(name) {
            Some(now) if now.id == topic.id => {}
            _ => remove(shard, name).await,
        }
    }
    for (name, topic) in &image.topics {
        if old.topics.get(name) != Some(topic) {
            upsert(shard, topic).await;
        }
    }
    let quotas_changed = old.client_quotas != image.client_quotas;
    shard.throttle.update(&image.client_quotas, quotas_changed);
    shard.connections.update(&image, shard.node_id());
    *shard.image.borrow_mut() = image;
    shard.controller_id.set(controller_id);
    super::replication::reconcile(shard);
    shard.image_received.set(true);
}

/// Partitions of `topic` this shard owns and this node holds.
fn held_here(shard: &Shard, topic: &TopicImage) -> Vec<i32> {
    let me = shard.node_id();
    topic
        .partitions
        .iter()
        .enumerate()
        .map(|(p, state)| (p as i32, state))
        .filter(|(p, state)| {
            state.replicas.contains(&me) && shard.owner_of(&topic.name, *p) == shard.id
        })
        .map(|(p, _)| p)
        .collect()
}

async fn upsert(shard: &Rc<Shard>, topic: &TopicImage) {
    let topic_config = Rc::new(TopicConfig::resolve(&shard.config, &topic.configs));
    let log_config = super::topic_log_config(&shard.config, &topic_config);
    let held = held_here(shard, topic);
    drop_replicas_moved_away(shard, &topic.name, &held).await;
    for p in held {
        if let Some(log) = shard.log(&topic.name, p) {
            log.update_config(log_config.clone());
            continue;
        }
        if let Err(e) = topics::ensure_partition_dir(&shard.data_dir, &topic.name, p, topic.id) {
            tracing::error!(
                topic = topic.name,
                partition = p,
                "create partition dir: {e}"
            );
            continue;
        }
        let dir = topics::partition_dir(&shard.data_dir, &topic.name, p);
        match PartitionLog::open_shared(dir, log_config.clone(), &shard.storage).await {
            Ok(log) => {
                shard
                    .logs
                    .borrow_mut()
                    .entry(topic.name.clone())
                    .or_default()
                    .insert(p, log);
            }
            Err(e) => tracing::error!(topic = topic.name, partition = p, "open log: {e}"),
        }
    }
    shard
        .topic_configs
        .borrow_mut()
        .insert(topic.name.clone(), topic_config);
    shard.topics.borrow_mut().upsert(TopicMeta {
        name: topic.name.clone(),
        id: topic.id,
        partitions: topic.partitions.len() as i32,
        configs: topic.configs.clone(),
    });
}

/// A reassignment took this node out of a partition's replicas: its copy
/// is deleted, as Kafka deletes a replica it stops hosting.
async fn drop_replicas_moved_away(shard: &Rc<Shard>, topic: &str, held: &[i32]) {
    let gone: Vec<(i32, PartitionLog)> = {
        let mut logs = shard.logs.borrow_mut();
        let Some(partitions) = logs.get_mut(topic) else {
            return;
        };
        let ids: Vec<i32> = partitions
            .keys()
            .copied()
            .filter(|p| !held.contains(p))
            .collect();
        ids.into_iter()
            .filter_map(|p| partitions.remove(&p).map(|log| (p, log)))
            .collect()
    };
    for (p, log) in gone {
        tracing::info!(
            topic,
            partition = p,
            "no longer a replica here: deleting the local copy"
        );
        if let Err(e) = log.delete().await {
            tracing::error!(topic, partition = p, "delete log: {e}");
        }
    }
}

async fn remove(shard: &Rc<Shard>, name: &str) {
    shard.topics.borrow_mut().remove(name);
    shard.topic_configs.borrow_mut().remove(name);
    let logs = shard.logs.borrow_mut().remove(name);
    for (p, log) in logs.into_iter().flatten() {
        if let Err(e) = log.delete().await {
            tracing::error!(topic = name, partition = p, "delete log: {e}");
        }
    }
    if let Err(e) = topics::write_topic_configs(&shard.data_dir, name, &Default::default()) {
        tracing::debug!(topic = name, "removing legacy topic configs: {e}");
    }
}
