//! The checker's transactional half: Jepsen's anomalies for transactions.
//! It knows each transaction's records (from its producer), whether its
//! producer sent and had acknowledged an EndTxn commit or abort, and what
//! each read_committed consumer returned, dropped, and passed.
//!
//! Invariants (numbered on from `checker`'s):
//! 6. No aborted reads: a read_committed consumer returns no record of a
//!    transaction whose producer never sent a commit, or whose abort was
//!    acknowledged; and none that the abort marker it then passes ends.
//! 7. No torn transactions: a consumer passing a commit marker returned
//!    every record of that transaction before it in that partition; a
//!    transaction is seen committed in every partition or aborted in
//!    every partition; after the liveness phase each transaction whose
//!    commit was sent is visible whole or not at all.
//! 8. No lost writes: after the liveness phase every record of a
//!    transaction whose commit was acknowledged has been returned, in
//!    every partition it wrote; no consumer dropped one.
//! 9. A consumer's last stable offset never goes back and is never above
//!    its high watermark; it reads only below it, each offset once, in
//!    order, and what the committed history holds there.
//! 10. A record belongs to the transaction its producer wrote it in: a
//!    marker ends the records of one transaction only, and a transaction
//!    ends once per partition. A late copy of a finished transaction's
//!    batch (transaction version 2's concern) that joined a later
//!    transaction, or reopened its own, breaks this even when invariants
//!    6 and 7 cannot tell (say, both transactions aborted).
//!
//! Must not: change the world; it only looks.

use std::collections::{HashMap, HashSet};

use super::txn_consumer::Item;

#[derive(Default)]
struct Txn {
    producer_id: i64,
    records: usize,
    commit_sent: bool,
    /// The EndTxn acknowledged: Some(commit).
    ended: Option<bool>,
    /// What consumers saw: Some(committed), from the first partition.
    observed: Option<(bool, i32)>,
    returned: HashSet<u64>,
}

/// One read_committed consumer's view of its partition.
#[derive(Default)]
struct View {
    max_hw: i64,
    max_lso: i64,
    next: i64,
    /// Transactional records since each producer's last marker: (txn,
    /// offset, returned).
    open: HashMap<i64, Vec<(usize, i64, bool)>>,
    /// Transactions a marker has ended here.
    closed: HashSet<usize>,
}

/// See the module doc.
#[derive(Default)]
pub struct TxnChecker {
    error: Option<String>,
    txns: Vec<Txn>,
    /// The transaction of each transactional record id.
    owner: HashMap<u64, usize>,
    views: Vec<View>,
    pub markers_read: u64,
}

impl TxnChecker {
    pub fn new(partitions: usize) -> TxnChecker {
        TxnChecker {
            views: (0..partitions).map(|_| View::default()).collect(),
            ..TxnChecker::default()
        }
    }

    pub fn error(&self) -> Option<&String> {
        self.error.as_ref()
    }

    fn fail(&mut self, msg: String) {
        self.error.get_or_insert(msg);
    }

    /// A producer starts a transaction as `producer_id`: its name.
    pub fn begin(&mut self, producer_id: i64) -> usize {
        self.txns.push(Txn {
            producer_id,
            ..Txn::default()
        });
        self.txns.len() - 1
    }

    /// Transaction `t` will write `ids` (whether or not they get there).
    pub fn write(&mut self, t: usize, ids: &[u64]) {
        self.txns[t].records += ids.len();
        for id in ids {
            assert!(self.owner.insert(*id, t).is_none(), "record ids are unique");
        }
    }

    pub fn commit_sent(&mut self, t: usize) {
        self.txns[t].commit_sent = true;
    }

    /// Its producer had EndTxn acknowledged.
    pub fn ended(&mut self, t: usize, commit: bool) {
        self.txns[t].ended = Some(commit);
        if let Some((seen, p)) = self.txns[t].observed.filter(|o| o.0 != commit) {
            let what = if seen { "committed" } else { "aborted" };
            self.fail(format!(
                "txn {t}: EndTxn({commit}) acknowledged, p{p} shows it {what}"
            ));
        }
    }

    pub fn transactions(&self) -> usize {
        self.txns.len()
    }

    /// Invariant 9 for one answer; `committed(offset)` is the committed
    /// history's record id there.
    pub fn check_read(
        &mut self,
        p: i32,
        hw: i64,
        lso: i64,
        items: &[Item],
        committed: impl Fn(i64) -> Option<u64>,
    ) {
        let view = &mut self.views[p as usize];
        let (max_hw, max_lso) = (view.max_hw, view.max_lso);
        if lso > hw || lso < max_lso || hw < max_hw {
            let msg = format!(
                "p{p}: read_committed got lso {lso} hw {hw} after lso {max_lso} hw {max_hw}"
            );
            return self.fail(msg);
        }
        (view.max_hw, view.max_lso) = (hw, lso);
        for item in items {
            let (offset, id) = match *item {
                Item::Returned { offset, id } | Item::Dropped { offset, id } => (offset, id),
                Item::Marker { offset, id, .. } => (offset, id),
            };
            let view = &mut self.views[p as usize];
            if offset != view.next || offset >= lso || committed(offset) != Some(id) {
                let (next, at) = (view.next, committed(offset));
                return self.fail(format!(
                    "p{p}: read_committed {item:?} (lso {lso}), expected offset {next}, \
                     committed there: {at:?}"
                ));
            }
            view.next += 1;
            self.apply(p, *item);
        }
    }

    /// Invariants 6 to 8 for one item.
    fn apply(&mut self, p: i32, item: Item) {
        match item {
            Item::Returned { offset, id } => {
                let Some(&t) = self.owner.get(&id) else {
                    return; // a plain record
                };
                let txn = &mut self.txns[t];
                if !txn.commit_sent || txn.ended == Some(false) || !txn.returned.insert(id) {
                    let (sent, ended) = (txn.commit_sent, txn.ended);
                    let msg = format!(
                        "p{p}: aborted read of {id} at {offset}: txn {t} commit sent {sent}, \
                         ended {ended:?} (or returned twice)"
                    );
                    return self.fail(msg);
                }
                self.observe(t, true, p);
                self.open(p, t, offset, true);
            }
            Item::Dropped { offset, id } => {
                let Some(&t) = self.owner.get(&id) else {
                    return self.fail(format!("p{p}: dropped plain record {id} at {offset}"));
                };
                if self.txns[t].ended == Some(true) {
                    return self.fail(format!(
                        "p{p}: lost write {id} at {offset} of committed txn {t}"
                    ));
                }
                self.observe(t, false, p);
                self.open(p, t, offset, false);
            }
            Item::Marker {
                offset,
                producer_id,
                commit,
                ..
            } => {
                self.markers_read += 1;
                let ended = self.views[p as usize].open.remove(&producer_id);
                let ended = ended.unwrap_or_default();
                if let Some(msg) = self.ends_one(p, offset, &ended) {
                    return self.fail(msg);
                }
                for (t, at, returned) in ended {
                    if returned != commit {
                        let msg = format!(
                            "p{p}: marker (commit {commit}) at {offset} ends txn {t}, whose \
                             record at {at} was {}",
                            if returned { "returned" } else { "dropped" }
                        );
                        return self.fail(msg);
                    }
                }
            }
        }
    }

    /// Invariant 10 for the records a marker at `offset` ends.
    fn ends_one(&mut self, p: i32, offset: i64, ended: &[(usize, i64, bool)]) -> Option<String> {
        let (&(t, ..), rest) = ended.split_first()?;
        if let Some(&(u, at, _)) = rest.iter().find(|e| e.0 != t) {
            return Some(format!(
                "p{p}: marker at {offset} ends txn {t} and txn {u} (its record at {at}): \
                 a batch joined another transaction"
            ));
        }
        let first_end = self.views[p as usize].closed.insert(t);
        let again =
            format!("p{p}: marker at {offset} ends txn {t} again: a late batch reopened it");
        (!first_end).then_some(again)
    }

    fn open(&mut self, p: i32, t: usize, offset: i64, returned: bool) {
        let pid = self.txns[t].producer_id;
        let open = self.views[p as usize].open.entry(pid).or_default();
        open.push((t, offset, returned));
    }

    /// Invariants 6 and 7: one outcome per transaction, everywhere.
    fn observe(&mut self, t: usize, committed: bool, p: i32) {
        let txn = &mut self.txns[t];
        let ended = txn.ended;
        match *txn.observed.get_or_insert((committed, p)) {
            (seen, q) if seen != committed => self.fail(format!(
                "txn {t} torn: committed {seen} in p{q}, {committed} in p{p}"
            )),
            _ if ended.is_some_and(|e| e != committed) => self.fail(format!(
                "txn {t}: p{p} shows committed {committed}, EndTxn said {ended:?}"
            )),
            _ => {}
        }
    }

    /// Invariants 7 and 8 once everything is read after the liveness phase.
    pub fn verify_final(&mut self) {
        let mut failures = Vec::new();
        for (t, txn) in self.txns.iter().enumerate() {
            let (seen, all) = (txn.returned.len(), txn.records);
            let lost = txn.ended == Some(true) && seen != all;
            let torn = txn.commit_sent && seen != 0 && seen != all;
            let aborted = !txn.commit_sent && seen != 0;
            if lost || torn || aborted {
                failures.push(format!(
                    "txn {t}: {seen} of {all} records visible after liveness \
                     (commit sent {}, ended {:?})",
                    txn.commit_sent, txn.ended
                ));
            }
        }
        for (p, view) in self.views.iter().enumerate() {
            if let Some((pid, open)) = view.open.iter().find(|(_, o)| !o.is_empty()) {
                failures.push(format!(
                    "p{p}: producer {pid}'s records {open:?} never ended"
                ));
            }
        }
        if let Some(first) = failures.into_iter().next() {
            self.fail(first);
        }
    }
}
