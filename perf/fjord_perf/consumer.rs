//! One consumer thread: an rdkafka `BaseConsumer` that either joins the
//! run's consumer group (`group = true`) or is assigned every partition
//! without a group, and records each message's bytes and end-to-end latency
//! (receive time − the producer's timestamp in the payload's first 8 bytes).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::producer::epoch_micros;
use crate::stats::Recorder;
use crate::workload::Workload;

/// What one consumer thread does.
pub struct Job {
    pub bootstrap: String,
    pub topic: String,
    pub group_id: String,
    pub workload: Workload,
    /// Read from the beginning (backlog) rather than from the end.
    pub from_start: bool,
    /// Set by the thread: partitions it currently holds.
    pub assigned: Arc<AtomicUsize>,
    /// Messages read by all consumers (to see when a backlog is drained).
    pub total: Arc<AtomicU64>,
    pub stop: Arc<AtomicBool>,
    pub recorder: Arc<Recorder>,
}

pub fn run(job: Job) -> Result<(), String> {
    let w = &job.workload;
    let mut config = super::client::config(&job.bootstrap);
    config
        .set("group.id", &job.group_id)
        .set("enable.auto.commit", "false")
        .set("client.id", "fjord-perf")
        .set(
            "auto.offset.reset",
            if job.from_start { "earliest" } else { "latest" },
        );
    for (k, v) in &w.consumers.config {
        config.set(k, v);
    }
    let consumer: BaseConsumer = config.create().map_err(|e| format!("consumer: {e}"))?;
    if w.consumers.group {
        consumer
            .subscribe(&[&job.topic])
            .map_err(|e| format!("subscribe: {e}"))?;
    } else {
        let start = if job.from_start {
            Offset::Beginning
        } else {
            Offset::End
        };
        let mut list = TopicPartitionList::new();
        for p in 0..w.partitions {
            list.add_partition_offset(&job.topic, p, start)
                .map_err(|e| format!("assign: {e}"))?;
        }
        consumer.assign(&list).map_err(|e| format!("assign: {e}"))?;
    }
    let mut last_check = Instant::now() - Duration::from_secs(1);
    while !job.stop.load(Ordering::Relaxed) {
        if last_check.elapsed() >= Duration::from_millis(200) {
            last_check = Instant::now();
            if let Ok(a) = consumer.assignment() {
                job.assigned.store(a.count(), Ordering::Relaxed);
            }
        }
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(m)) => {
                let now = Instant::now();
                let payload = m.payload().unwrap_or(&[]);
                let latency = payload.get(..8).map(|b| {
                    let sent = u64::from_be_bytes(b.try_into().expect("8 bytes"));
                    epoch_micros(now).saturating_sub(sent)
                });
                job.recorder.record(payload.len(), latency, now);
                job.total.fetch_add(1, Ordering::Relaxed);
            }
            Some(Err(_)) => job.recorder.error(),
        }
    }
    Ok(())
}
