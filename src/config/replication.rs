//! Replication settings (Kafka's names): how followers fetch and when a
//! leader drops a lagging follower from the ISR.

use super::{parse, ConfigError};

#[derive(Debug, Clone)]
pub struct ReplicationConfig {
    /// replica.lag.time.max.ms: a follower not caught up for this long
    /// leaves the ISR.
    pub lag_time_max_ms: i64,
    /// replica.fetch.wait.max.ms: a follower's long poll.
    pub fetch_wait_max_ms: i32,
    /// replica.fetch.max.bytes: per partition, per fetch.
    pub fetch_max_bytes: i32,
    /// replica.fetch.response.max.bytes: per fetch.
    pub fetch_response_max_bytes: i32,
    /// replica.fetch.backoff.ms: after a partition's fetch error.
    pub fetch_backoff_ms: i64,
    /// replica.socket.timeout.ms: a fetch not answered within it (beyond
    /// its long poll) is retried on a new connection.
    pub socket_timeout_ms: u64,
}

pub(super) fn replication_config(
    get: &dyn Fn(&str) -> String,
) -> Result<ReplicationConfig, ConfigError> {
    let value = |name: &str| -> Result<u64, ConfigError> { parse(name, &get(name)) };
    let int =
        |name: &str| -> Result<i32, ConfigError> { Ok(value(name)?.min(i32::MAX as u64) as i32) };
    Ok(ReplicationConfig {
        lag_time_max_ms: value("replica.lag.time.max.ms")?.max(1) as i64,
        fetch_wait_max_ms: int("replica.fetch.wait.max.ms")?,
        fetch_max_bytes: int("replica.fetch.max.bytes")?.max(1),
        fetch_response_max_bytes: int("replica.fetch.response.max.bytes")?.max(1),
        fetch_backoff_ms: value("replica.fetch.backoff.ms")? as i64,
        socket_timeout_ms: value("replica.socket.timeout.ms")?.max(1),
    })
}
