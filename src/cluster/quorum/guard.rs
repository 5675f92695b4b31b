//! What a peer's message must look like before raft-rs sees it.
//!
//! raft-rs trusts its peers: a few malformed shapes reach a `fatal!` (a
//! panic) or corrupt its progress tracking. Every shape a correct raft-rs
//! peer sends passes; the rest is refused, which to raft is a lost message.
//! Two layers: `check_shape` needs only the message and the voter set (done
//! when it arrives); `check_against_log` compares it with our log (done when
//! it is actually stepped, which may be after a queued wait).

use raft::eraftpb::{Message, MessageType};

/// The message types peers exchange. Local types (MsgHup, MsgBeat, …) are
/// refused like raft-rs does; so are MsgPropose and MsgReadIndex (we never
/// forward proposals or reads) and leader transfer (we never start one).
fn accepted(t: MessageType) -> bool {
    use MessageType::*;
    matches!(
        t,
        MsgAppend
            | MsgAppendResponse
            | MsgRequestVote
            | MsgRequestVoteResponse
            | MsgRequestPreVote
            | MsgRequestPreVoteResponse
            | MsgSnapshot
            | MsgHeartbeat
            | MsgHeartbeatResponse
    )
}

/// Checks that need no log: addressing, type, and internal consistency.
pub(crate) fn check_shape(m: &Message, me: u64, voters: &[u64]) -> Result<(), String> {
    let t = m.get_msg_type();
    if m.to != me {
        return Err(format!("{t:?} addressed to {}, not to us ({me})", m.to));
    }
    if m.from == me || !voters.contains(&m.from) {
        return Err(format!("{t:?} from {}, which is not a peer voter", m.from));
    }
    if !accepted(t) {
        return Err(format!("{t:?} is not a peer message type"));
    }
    // raft-rs treats term 0 as a local message; peers always set it.
    if m.term == 0 {
        return Err(format!("{t:?} without a term"));
    }
    match t {
        MessageType::MsgAppend => check_append(m),
        MessageType::MsgSnapshot => check_snapshot(m, voters),
        _ => Ok(()),
    }
}

/// Entries must follow (index, log_term) without a gap, with terms that
/// never decrease and never exceed the leader's.
///
/// Every real entry has a term of at least 1, so only index 0 (the empty
/// log) may have log term 0. This matters: raft-rs reports term 0 for any
/// index past its log, so (far index, term 0) would "match" and append
/// entries past the end of the log — a panic.
fn check_append(m: &Message) -> Result<(), String> {
    if m.log_term > m.term || (m.index > 0 && m.log_term == 0) {
        return Err(format!(
            "append after ({}, term {}) in term {}",
            m.index, m.log_term, m.term
        ));
    }
    let (mut index, mut term) = (m.index, m.log_term);
    for e in m.get_entries() {
        if Some(e.index) != index.checked_add(1) {
            return Err(format!("append entry {} after {index}", e.index));
        }
        if e.term < term.max(1) || e.term > m.term {
            return Err(format!("append entry {} has term {}", e.index, e.term));
        }
        (index, term) = (e.index, e.term);
    }
    Ok(())
}

/// A snapshot must exist, be from no later term than the message, and name
/// exactly our voters: membership is static (nothing proposes a conf
/// change), so a different set can only be a forgery that would otherwise
/// let one message rewrite who votes. If conf changes are ever proposed,
/// this must follow the applied conf state instead.
fn check_snapshot(m: &Message, voters: &[u64]) -> Result<(), String> {
    let Some(s) = m.snapshot.as_ref() else {
        return Err("MsgSnapshot without a snapshot".into());
    };
    let meta = s.get_metadata();
    if meta.index == 0 || meta.term == 0 || meta.term > m.term {
        return Err(format!(
            "snapshot at index {} term {} (message term {})",
            meta.index, meta.term, m.term
        ));
    }
    let cs = meta.get_conf_state();
    let mut theirs = cs.voters.clone();
    theirs.sort_unstable();
    let mut ours = voters.to_vec();
    ours.sort_unstable();
    let same = theirs == ours
        && cs.voters_outgoing.is_empty()
        && cs.learners.is_empty()
        && cs.learners_next.is_empty();
    if !same {
        return Err(format!(
            "snapshot with voter set {cs:?}, ours is {voters:?}"
        ));
    }
    Ok(())
}

/// Checks against our log, made just before stepping.
///
/// A correct leader never claims a commit index past what we hold (it sends
/// min(our acked index, its commit)), and a correct follower never acks an
/// index past what we sent; raft-rs would `fatal!` on the first and track a
/// bogus match on the second.
pub(crate) fn check_against_log(m: &Message, last_index: u64) -> Result<(), String> {
    match m.get_msg_type() {
        MessageType::MsgHeartbeat if m.commit > last_index => Err(format!(
            "heartbeat commit {} beyond our last index {last_index}",
            m.commit
        )),
        MessageType::MsgAppendResponse if !m.reject && m.index > last_index => Err(format!(
            "append ack of {} beyond our last index {last_index}",
            m.index
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft::eraftpb::{Entry, Snapshot};

    fn msg(t: MessageType) -> Message {
        let mut m = Message::default();
        m.set_msg_type(t);
        m.to = 1;
        m.from = 2;
        m.term = 3;
        m
    }

    fn entry(index: u64, term: u64) -> Entry {
        Entry {
            index,
            term,
            ..Entry::default()
        }
    }

    #[test]
    fn addressing_and_types() {
        let voters = [1, 2, 3];
        assert!(check_shape(&msg(MessageType::MsgHeartbeat), 1, &voters).is_ok());
        assert!(check_shape(&msg(MessageType::MsgHeartbeat), 2, &voters).is_err());
        let mut m = msg(MessageType::MsgHeartbeat);
        m.from = 9;
        assert!(check_shape(&m, 1, &voters).is_err());
        for t in [
            MessageType::MsgHup,
            MessageType::MsgBeat,
            MessageType::MsgPropose,
            MessageType::MsgCheckQuorum,
            MessageType::MsgSnapStatus,
        ] {
            assert!(check_shape(&msg(t), 1, &voters).is_err(), "{t:?}");
        }
        let mut m = msg(MessageType::MsgAppend);
        m.term = 0;
        assert!(check_shape(&m, 1, &voters).is_err());
    }

    #[test]
    fn appends_must_be_contiguous_and_ordered() {
        let voters = [1, 2];
        let mut m = msg(MessageType::MsgAppend);
        m.index = 4;
        m.log_term = 2;
        m.set_entries(vec![entry(5, 2), entry(6, 3)].into());
        assert!(check_shape(&m, 1, &voters).is_ok());
        m.set_entries(vec![entry(5, 2), entry(7, 3)].into());
        assert!(check_shape(&m, 1, &voters).is_err());
        m.set_entries(vec![entry(5, 3), entry(6, 2)].into());
        assert!(check_shape(&m, 1, &voters).is_err());
        m.set_entries(vec![entry(5, 4)].into());
        assert!(check_shape(&m, 1, &voters).is_err(), "term beyond leader's");
        m.log_term = 0;
        m.set_entries(vec![entry(5, 2)].into());
        assert!(check_shape(&m, 1, &voters).is_err(), "no entry has term 0");
        m.index = 0;
        m.set_entries(vec![entry(1, 2)].into());
        assert!(
            check_shape(&m, 1, &voters).is_ok(),
            "but the empty log does"
        );
        m.set_entries(vec![entry(1, 0)].into());
        assert!(check_shape(&m, 1, &voters).is_err(), "entries have terms");
        m.index = u64::MAX;
        m.set_entries(vec![entry(0, 3)].into());
        assert!(check_shape(&m, 1, &voters).is_err(), "index overflow");
    }

    #[test]
    fn snapshots_need_metadata_and_voters() {
        let voters = [1, 2];
        let mut m = msg(MessageType::MsgSnapshot);
        assert!(check_shape(&m, 1, &voters).is_err());
        let mut s = Snapshot::default();
        s.mut_metadata().index = 10;
        s.mut_metadata().term = 3;
        m.set_snapshot(s.clone());
        assert!(check_shape(&m, 1, &voters).is_err(), "no voters");
        s.mut_metadata().mut_conf_state().voters = vec![1];
        m.set_snapshot(s.clone());
        assert!(check_shape(&m, 1, &voters).is_err(), "other voters");
        s.mut_metadata().mut_conf_state().voters = vec![2, 1];
        m.set_snapshot(s);
        assert!(check_shape(&m, 1, &voters).is_ok());
    }

    #[test]
    fn log_checks() {
        let mut m = msg(MessageType::MsgHeartbeat);
        m.commit = 11;
        assert!(check_against_log(&m, 10).is_err());
        m.commit = 10;
        assert!(check_against_log(&m, 10).is_ok());
        let mut m = msg(MessageType::MsgAppendResponse);
        m.index = 11;
        assert!(check_against_log(&m, 10).is_err());
        m.reject = true;
        assert!(check_against_log(&m, 10).is_ok());
    }
}
