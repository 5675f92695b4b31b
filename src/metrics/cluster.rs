//! The node's cluster gauges (controller shard only): quorum role, term,
//! commit index, how far the applied metadata lags it, brokers registered
//! and fenced, admin requests forwarded to the active controller, and — as
//! Kafka's controller metrics, from the active controller only — partitions
//! without a leader and the leader elections (all, and unclean ones) it
//! committed. Set from a plain snapshot once a second; nothing here knows
//! the cluster's types.

use prometheus::{IntCounter, IntGauge, Opts, Registry};

/// What the cluster side reports at each flush.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClusterSnapshot {
    /// 0: not a voter, 1: follower, 2: candidate, 3: leader.
    pub quorum_role: i64,
    pub term: u64,
    pub commit_index: u64,
    pub applied_offset: u64,
    pub brokers_registered: u64,
    pub brokers_fenced: u64,
    pub forwarded_requests: u64,
    /// Whether this node is the active controller: offline partitions are
    /// reported (non-zero) only then.
    pub active: bool,
    pub offline_partitions: u64,
    /// Running totals of what this node committed as active controller.
    pub leader_elections: u64,
    pub unclean_elections: u64,
}

pub struct ClusterGauges {
    role: IntGauge,
    term: IntGauge,
    commit: IntGauge,
    applied: IntGauge,
    lag: IntGauge,
    registered: IntGauge,
    fenced: IntGauge,
    forwarded: IntCounter,
    offline: IntGauge,
    elections: IntCounter,
    unclean: IntCounter,
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::with_opts(Opts::new(name, help)).expect("valid metric");
    registry
        .register(Box::new(g.clone()))
        .expect("unique metric");
    g
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::with_opts(Opts::new(name, help)).expect("valid metric");
    registry
        .register(Box::new(c.clone()))
        .expect("unique metric");
    c
}

impl ClusterGauges {
    pub(super) fn new(registry: &Registry) -> ClusterGauges {
        ClusterGauges {
            role: gauge(
                registry,
                "fjord_quorum_role",
                "This node in the metadata quorum: 0 not a voter, 1 follower, 2 candidate, 3 leader (active controller)",
            ),
            term: gauge(registry, "fjord_quorum_term", "Current raft term of the metadata quorum"),
            commit: gauge(
                registry,
                "fjord_quorum_commit_index",
                "Highest metadata log index known committed",
            ),
            applied: gauge(
                registry,
                "fjord_metadata_applied_offset",
                "Metadata log offset this node's shards have applied",
            ),
            lag: gauge(
                registry,
                "fjord_metadata_apply_lag",
                "Committed metadata entries not yet applied on this node",
            ),
            registered: gauge(registry, "fjord_brokers_registered", "Brokers in the metadata image"),
            fenced: gauge(registry, "fjord_brokers_fenced", "Registered brokers that are fenced"),
            forwarded: counter(
                registry,
                "fjord_admin_forwarded_total",
                "Metadata changes this node sent to the active controller on another node",
            ),
            offline: gauge(
                registry,
                "fjord_offline_partitions",
                "Partitions without a leader (active controller only; 0 elsewhere)",
            ),
            elections: counter(
                registry,
                "fjord_leader_elections_total",
                "Partition leader changes committed by this node as active controller",
            ),
            unclean: counter(
                registry,
                "fjord_unclean_leader_elections_total",
                "Leaders elected from outside the ISR, committed by this node as active controller",
            ),
        }
    }

    pub fn set(&self, s: ClusterSnapshot) {
        self.role.set(s.quorum_role);
        self.term.set(s.term as i64);
        self.commit.set(s.commit_index as i64);
        self.applied.set(s.applied_offset as i64);
        self.lag
            .set(s.commit_index.saturating_sub(s.applied_offset) as i64);
        self.registered.set(s.brokers_registered as i64);
        self.fenced.set(s.brokers_fenced as i64);
        catch_up(&self.forwarded, s.forwarded_requests);
        self.offline.set(if s.active {
            s.offline_partitions as i64
        } else {
            0
        });
        catch_up(&self.elections, s.leader_elections);
        catch_up(&self.unclean, s.unclean_elections);
    }
}

/// Moves a counter up to a running total kept elsewhere.
fn catch_up(counter: &IntCounter, total: u64) {
    counter.inc_by(total.saturating_sub(counter.get()));
}
