//! The quorum's I/O loop on the controller shard: ticks, steps received
//! messages, and for each raft-rs Ready persists (fdatasync) before sending
//! or applying anything, then applies committed records to the image. Also
//! takes a snapshot of the image when enough log has accumulated.

use std::rc::Rc;
use std::time::{Duration, Instant};

use super::image::MetadataImage;
use super::node::{raft_to_node, ClusterNode};
use super::quorum::{self, Advanced};
use super::records;
use super::transport::within;

/// One raft tick; election and heartbeat timeouts are counted in ticks.
pub const TICK: Duration = Duration::from_millis(100);

pub(super) async fn run(node: Rc<ClusterNode>) {
    let mut next_tick = Instant::now() + TICK;
    while !node.stopping.get() {
        let now = Instant::now();
        if now < next_tick {
            within(next_tick - now, node.wake.wait()).await;
        }
        if Instant::now() >= next_tick {
            if let Some(q) = &node.quorum {
                q.borrow_mut().tick();
            }
            next_tick = Instant::now() + TICK;
        }
        step_inbox(&node);
        drive(&node).await;
        super::active::on_leadership(&node);
        maybe_snapshot(&node).await;
    }
}

fn step_inbox(node: &ClusterNode) {
    let Some(q) = &node.quorum else {
        node.inbox.borrow_mut().clear();
        return;
    };
    let messages: Vec<_> = node.inbox.borrow_mut().drain(..).collect();
    let mut q = q.borrow_mut();
    for message in messages {
        if let Err(refused) = q.step(message) {
            tracing::warn!("{refused}");
        }
    }
}

/// Runs every pending Ready to completion. Also used at start to replay
/// the committed log into the image before anything is served.
pub(super) async fn drive(node: &ClusterNode) {
    let Some(q) = &node.quorum else {
        return;
    };
    loop {
        let Some(work) = q.borrow_mut().ready() else {
            return;
        };
        let persisted = persist(node, work.persist()).await;
        if let Err(e) = persisted {
            // A voter that cannot make its log durable must not vote or
            // acknowledge: stop the process, as Kafka's controller halts.
            tracing::error!("metadata log write failed, stopping: {e}");
            std::process::exit(1);
        }
        let advanced = q.borrow_mut().advance(work);
        send(node, &advanced);
        apply(node, advanced);
    }
}

/// Makes `p` durable. The persister is only ever used by the raft loop's
/// one task (and by boot before that task starts), so it is taken out of
/// its cell for the write rather than borrowed across the await.
async fn persist(node: &ClusterNode, p: &quorum::Persist) -> std::io::Result<()> {
    let Some(mut persister) = node.persister.borrow_mut().take() else {
        debug_assert!(node.quorum.is_none(), "a voter's persister is in use twice");
        return Ok(());
    };
    let result = persister.persist(p).await;
    *node.persister.borrow_mut() = Some(persister);
    result
}

fn send(node: &ClusterNode, advanced: &Advanced) {
    for message in &advanced.messages {
        let to = raft_to_node(message.to);
        match node.outboxes.get(&to) {
            Some(outbox) => outbox.send(quorum::encode_message(message)),
            None => tracing::warn!(to, "raft message for a node that is not a voter"),
        }
    }
}

fn apply(node: &ClusterNode, advanced: Advanced) {
    if advanced.committed.is_empty() && advanced.snapshot_to_apply.is_none() {
        return;
    }
    let mut image: MetadataImage = (*node.image()).clone();
    if let Some(snapshot) = advanced.snapshot_to_apply {
        match MetadataImage::from_snapshot(&snapshot.data) {
            Ok(restored) => image = restored,
            Err(e) => {
                tracing::error!(
                    "metadata snapshot at {} unreadable, stopping: {e}",
                    snapshot.index
                );
                std::process::exit(1);
            }
        }
        image.offset = snapshot.index;
    }
    for entry in advanced.committed {
        if entry.index <= image.offset {
            continue;
        }
        if entry.data.is_empty() {
            image.offset = entry.index;
        } else {
            match records::decode_entry(&entry.data) {
                Ok((nonce, batch)) => {
                    image.apply_batch(entry.index, &batch);
                    if let Some(waiter) = node.proposals.borrow_mut().remove(&nonce) {
                        let _ = waiter.send(entry.index);
                    }
                }
                Err(e) => {
                    tracing::warn!(index = entry.index, "skipping metadata entry: {e}");
                    image.offset = entry.index;
                }
            }
            let bytes = node.bytes_since_snapshot.get() + entry.data.len() as u64;
            node.bytes_since_snapshot.set(bytes);
        }
    }
    node.set_image(image);
}

async fn maybe_snapshot(node: &ClusterNode) {
    let Some(q) = &node.quorum else {
        return;
    };
    if node.bytes_since_snapshot.get() < node.options.cluster.snapshot_bytes {
        return;
    }
    let image = node.image();
    let data = image.to_snapshot();
    let snapshot = match q.borrow_mut().compact(image.offset, data) {
        Ok(snapshot) => snapshot,
        Err(e) => {
            tracing::warn!("metadata snapshot at {}: {e}", image.offset);
            return;
        }
    };
    let saved = persist(node, &quorum::Persist::snapshot_only(snapshot)).await;
    match saved {
        Ok(()) => {
            node.bytes_since_snapshot.set(0);
            tracing::info!(
                offset = image.offset,
                "metadata snapshot taken, log truncated"
            );
        }
        Err(e) => {
            tracing::error!("metadata snapshot write failed, stopping: {e}");
            std::process::exit(1);
        }
    }
}
