//! A data partition leader's transactional side: which batches it takes
//! (the real producer checks through `TxnView::admit`: fenced epochs,
//! sequences, duplicates of a retried batch, markers of a fenced
//! coordinator), and read_committed reads: up to the last stable offset
//! fjord's `TxnState` computes, with the aborted transactions the records
//! overlap.
//!
//! Must not: hand a read_committed consumer anything at or past the last
//! stable offset, or append a batch the checks refuse.

use kafka_protocol::error::ResponseError;

use super::broker::Broker;
use super::log::{Batch, Kind, Log};
use super::net::{Msg, Node, Stable};
use super::txn_log::Admit;
use super::world::Ctx;

/// Batches in one read_committed answer.
const READ_BATCHES: usize = 4;

/// Puts a produce of `ids` and `kind` in the leader's log at `epoch`:
/// (base offset, whether it was appended) — a retried batch already in the
/// log is not appended again — or why it is refused.
pub fn place(
    log: &mut Log,
    epoch: i32,
    ids: &[u64],
    kind: Kind,
) -> Result<(i64, bool), ResponseError> {
    let batch = Batch {
        base: log.end(),
        epoch,
        ids: ids.to_vec(),
        kind,
    };
    match log.txn().admit(&batch)? {
        Admit::Append => Ok((log.append_kind(epoch, batch.ids, batch.kind), true)),
        Admit::Duplicate(meta) => Ok((meta.base_offset, false)),
    }
}

impl Broker {
    /// A read_committed read of `p` from `offset`.
    pub(super) fn on_read_committed(
        &mut self,
        from: Node,
        id: u64,
        p: i32,
        offset: i64,
        epoch: i32,
        ctx: &mut Ctx,
    ) {
        let hw = self.consumer_leader(p, epoch).map(|l| l.high_watermark());
        let log = &mut self.parts[p as usize].log;
        let result = hw.map(|hw| {
            let lso = log.txn_mut().last_stable_offset(hw);
            let batches = log.read(offset, lso, READ_BATCHES);
            let to = batches.last().map_or(offset, Batch::end);
            let aborted = log.txn().aborted_between(offset, to);
            Stable {
                hw,
                lso,
                batches,
                aborted,
            }
        });
        let result = result.map_err(|e| e.code());
        ctx.send(self.me(), from, Msg::ReadCommittedReply { id, result });
    }
}
