//! Where a topic's replicas go: pure, deterministic functions of the live
//! brokers. (Cluster placement; which shard of a broker holds a partition is
//! `shard::topics::owner`.)

/// A broker placement may use.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub node_id: i32,
    pub rack: Option<String>,
}

/// Replicas for partitions `first..first + count` with `replication_factor`
/// each, spread so that leaders (the first replica) and replicas are even
/// over `brokers`, rack-aware when racks are set. `Err` when the factor is
/// larger than the broker count.
pub fn place(
    brokers: &[Candidate],
    first: i32,
    count: i32,
    replication_factor: i16,
) -> Result<Vec<Vec<i32>>, String> {
    let _ = (brokers, first, count, replication_factor);
    todo!("cluster::placement::place")
}
