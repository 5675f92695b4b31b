//! Transaction coordinator settings (Kafka's names): the
//! `__transaction_state` topic and the coordinator's limits and timers.

use super::{parse, ConfigError};

#[derive(Debug, Clone)]
pub struct TransactionConfig {
    /// transaction.state.log.num.partitions.
    pub log_partitions: i32,
    /// transaction.state.log.replication.factor (at most the live brokers
    /// when the topic is created).
    pub log_replication_factor: i16,
    /// transaction.state.log.min.isr: the topic's min.insync.replicas.
    pub log_min_isr: i32,
    /// transaction.state.log.segment.bytes.
    pub log_segment_bytes: i64,
    /// transaction.max.timeout.ms: the longest transaction.timeout.ms a
    /// producer may ask for.
    pub max_timeout_ms: i32,
    /// transactional.id.expiration.ms: an id idle this long is forgotten.
    pub id_expiration_ms: i64,
    /// transaction.abort.timed.out.transaction.cleanup.interval.ms: how
    /// often timed-out transactions are looked for (and aborted).
    pub abort_check_ms: u64,
}

pub(super) fn transaction_config(
    get: &dyn Fn(&str) -> String,
) -> Result<TransactionConfig, ConfigError> {
    let long = |name: &str| -> Result<i64, ConfigError> { parse(name, &get(name)) };
    let int = |name: &str| -> Result<i32, ConfigError> { parse(name, &get(name)) };
    Ok(TransactionConfig {
        log_partitions: int("transaction.state.log.num.partitions")?.max(1),
        log_replication_factor: parse(
            "transaction.state.log.replication.factor",
            &get("transaction.state.log.replication.factor"),
        )?,
        log_min_isr: int("transaction.state.log.min.isr")?.max(1),
        log_segment_bytes: long("transaction.state.log.segment.bytes")?.max(1),
        max_timeout_ms: int("transaction.max.timeout.ms")?.max(1),
        id_expiration_ms: long("transactional.id.expiration.ms")?.max(1),
        abort_check_ms: long("transaction.abort.timed.out.transaction.cleanup.interval.ms")?.max(1)
            as u64,
    })
}
