//! The leader's half of fetch-based truncation (KIP-320): does a follower's
//! log diverge from this one, judging by the epoch of its last batch?
//!
//! Pure: the caller passes the leader log's `end_offset_for_epoch` answer.

/// `(epoch, end offset)` to answer in the Fetch response's DivergingEpoch,
/// or None when the follower's log is a prefix of this one so far.
///
/// Kafka's `Partition.validateFetchOffsetAndMaybeGetDivergingEpoch`: the
/// leader looks up the follower's last fetched epoch in its own epoch cache;
/// if its run of that epoch (or of the nearest lower one) ends before the
/// follower's fetch offset, or the nearest epoch it has is lower, they
/// diverge there. A leader with no epoch information at all (an empty log)
/// answers with its log end, so the follower truncates to it.
pub fn diverging(
    last_fetched_epoch: i32,
    fetch_offset: i64,
    leader_end_for_epoch: Option<(i32, i64)>,
    leader_log_end: i64,
) -> Option<(i32, i64)> {
    if last_fetched_epoch < 0 {
        return None; // an empty follower, or one that does not say
    }
    match leader_end_for_epoch {
        Some((epoch, end)) if epoch < last_fetched_epoch || end < fetch_offset => {
            Some((epoch, end))
        }
        Some(_) => None,
        None if fetch_offset > leader_log_end => Some((-1, leader_log_end)),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::diverging;

    #[test]
    fn a_follower_in_step_does_not_diverge() {
        assert_eq!(diverging(3, 100, Some((3, 150)), 150), None);
        assert_eq!(diverging(3, 150, Some((3, 150)), 150), None);
        assert_eq!(diverging(-1, 0, None, 0), None);
    }

    #[test]
    fn a_longer_run_of_the_same_epoch_diverges_at_the_leaders_end() {
        assert_eq!(diverging(3, 120, Some((3, 100)), 180), Some((3, 100)));
    }

    #[test]
    fn an_epoch_the_leader_never_had_diverges_at_the_nearest_lower_one() {
        assert_eq!(diverging(5, 100, Some((4, 100)), 130), Some((4, 100)));
    }

    #[test]
    fn a_leader_without_epochs_sends_the_follower_back_to_its_end() {
        assert_eq!(diverging(2, 10, None, 0), Some((-1, 0)));
        assert_eq!(diverging(2, 0, None, 0), None);
    }
}
