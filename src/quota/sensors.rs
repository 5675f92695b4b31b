//! One shard's quota sensors: a [`Rate`] per (kind, sensor key), made on
//! first use and dropped after an hour unused (Kafka's inactive-sensor
//! expiry), and the throttle times Kafka gives: bandwidth throttles
//! (produce, fetch) unbounded, request-time throttles at most one window
//! (`ClientRequestQuotaManager`).

use std::collections::HashMap;

use super::resolve::{Limit, QuotaKind, SensorKey};
use super::sensor::{Rate, SensorConfig};

/// Kafka's `InactiveSensorExpirationTimeSeconds`.
const SENSOR_EXPIRY_MS: u64 = 3600 * 1000;
/// How often idle sensors are looked for.
const SWEEP_EVERY_MS: u64 = 60 * 1000;

pub struct ShardQuotas {
    config: SensorConfig,
    sensors: HashMap<(QuotaKind, SensorKey), Rate>,
    last_sweep_ms: u64,
}

impl ShardQuotas {
    pub fn new(config: SensorConfig) -> ShardQuotas {
        ShardQuotas {
            config,
            sensors: HashMap::new(),
            last_sweep_ms: 0,
        }
    }

    pub fn config(&self) -> SensorConfig {
        self.config
    }

    /// Records `value` against `limit`; the throttle time in ms (0: within
    /// the quota).
    pub fn record(&mut self, kind: QuotaKind, limit: &Limit, value: f64, now_ms: u64) -> u64 {
        self.sweep(now_ms);
        let config = self.config;
        let rate = self
            .sensors
            .entry((kind, limit.sensor.clone()))
            .or_default();
        let throttle = rate.record_and_check(&config, value, limit.quota, now_ms);
        match kind {
            QuotaKind::Request => throttle.min(config.window_ms),
            QuotaKind::Produce | QuotaKind::Fetch => throttle,
        }
    }

    /// Takes back a value recorded before (a fetch answered empty because
    /// it was throttled, as Kafka's `unrecordQuotaSensor`).
    pub fn unrecord(&mut self, kind: QuotaKind, limit: &Limit, value: f64, now_ms: u64) {
        let config = self.config;
        if let Some(rate) = self.sensors.get_mut(&(kind, limit.sensor.clone())) {
            rate.record(&config, -value, now_ms);
        }
    }

    /// The most a fetch response may hold under `limit`: one window's
    /// worth. Kafka allows `(samples - 1)` windows, matching the empty
    /// windows its `Rate` assumes; with the rate measured from the first
    /// sample (see `sensor`), more than one window's worth would be over
    /// the quota on its own and answered empty.
    pub fn fetch_cap(&self, limit: &Limit) -> usize {
        let bytes = limit.quota * (self.config.window_ms as f64 / 1000.0);
        // At least a byte: the first batch is always returned anyway.
        bytes.clamp(1.0, i32::MAX as f64) as usize
    }

    /// How many sensors exist (for tests and metrics).
    pub fn len(&self) -> usize {
        self.sensors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sensors.is_empty()
    }

    fn sweep(&mut self, now_ms: u64) {
        if now_ms.saturating_sub(self.last_sweep_ms) < SWEEP_EVERY_MS {
            return;
        }
        self.last_sweep_ms = now_ms;
        self.sensors.retain(|_, rate| {
            rate.last_record_ms()
                .is_some_and(|last| now_ms.saturating_sub(last) < SENSOR_EXPIRY_MS)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(client: &str, quota: f64) -> Limit {
        Limit {
            sensor: SensorKey {
                user: String::new(),
                client_id: client.into(),
            },
            quota,
        }
    }

    #[test]
    fn request_throttles_are_bounded_by_a_window_and_bandwidth_ones_are_not() {
        let mut quotas = ShardQuotas::new(SensorConfig::default());
        let one = limit("c", 10.0);
        assert_eq!(quotas.record(QuotaKind::Produce, &one, 1010.0, 0), 100_000);
        assert_eq!(quotas.record(QuotaKind::Request, &one, 1010.0, 0), 1000);
        // Kinds and sensor keys count apart.
        assert_eq!(quotas.record(QuotaKind::Fetch, &one, 10.0, 0), 0);
        assert_eq!(
            quotas.record(QuotaKind::Fetch, &limit("d", 10.0), 10.0, 0),
            0
        );
        assert_eq!(quotas.len(), 4);
    }

    #[test]
    fn unrecorded_values_do_not_count_and_idle_sensors_expire() {
        let mut quotas = ShardQuotas::new(SensorConfig::default());
        let one = limit("c", 100.0);
        assert!(quotas.record(QuotaKind::Fetch, &one, 500.0, 0) > 0);
        quotas.unrecord(QuotaKind::Fetch, &one, 500.0, 0);
        assert_eq!(quotas.record(QuotaKind::Fetch, &one, 100.0, 10), 0);
        assert_eq!(quotas.fetch_cap(&one), 100);
        quotas.record(QuotaKind::Produce, &limit("other", 1.0), 0.0, 3_000_000);
        assert_eq!(quotas.len(), 2);
        quotas.record(QuotaKind::Produce, &limit("other", 1.0), 0.0, 3_700_000);
        assert_eq!(quotas.len(), 1, "the fetch sensor idle for an hour is gone");
    }
}
