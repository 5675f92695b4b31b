//! A rate over sampled windows and the throttle time Kafka derives from it.
//!
//! The samples are Kafka's `SampledStat`: `quota.window.num` windows of
//! `quota.window.size.seconds`, a new one started by the first value
//! recorded after the current one is a window old, one extra kept so the
//! oldest complete window survives until it expires, and a window with no
//! value for `samples × window` reset. The rate is their sum over the
//! elapsed time since the oldest window started, at least one window —
//! Kafka's `SimpleRate`. Kafka's client quotas use `Rate`, which instead
//! pretends that the `samples - 1` windows before a new sensor's first
//! value were empty: a new client may then send `(samples - 1) × window ×
//! quota` bytes at once, and under sustained load the rate saws with a
//! period of the whole window (in a simulation of a producer at 1 MB/s
//! quota, 8-second averages ranged from 0.06 to 1.4 MB/s). `SimpleRate`
//! keeps every 8-second average within a few percent of the quota; the
//! throttle formula is unchanged.
//!
//! Time is milliseconds on any monotonic clock, passed in.

/// `quota.window.num` and `quota.window.size.seconds`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SensorConfig {
    pub samples: usize,
    pub window_ms: u64,
}

impl SensorConfig {
    pub fn new(samples: u32, window_seconds: u32) -> SensorConfig {
        SensorConfig {
            samples: samples.max(1) as usize,
            window_ms: u64::from(window_seconds.max(1)) * 1000,
        }
    }
}

impl Default for SensorConfig {
    /// Kafka's defaults: 11 windows of one second.
    fn default() -> SensorConfig {
        SensorConfig::new(11, 1)
    }
}

#[derive(Clone, Debug, PartialEq)]
struct Sample {
    value: f64,
    start_ms: u64,
    last_event_ms: u64,
}

impl Sample {
    fn new(now_ms: u64) -> Sample {
        Sample {
            value: 0.0,
            start_ms: now_ms,
            last_event_ms: now_ms,
        }
    }
}

/// One sensor's samples.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rate {
    samples: Vec<Sample>,
    current: usize,
    last_record_ms: Option<u64>,
}

impl Rate {
    /// Adds `value` (negative: takes back one recorded earlier).
    pub fn record(&mut self, config: &SensorConfig, value: f64, now_ms: u64) {
        if self.samples.is_empty() {
            self.samples.push(Sample::new(now_ms));
            self.current = 0;
        }
        if now_ms.saturating_sub(self.samples[self.current].start_ms) >= config.window_ms {
            self.current = (self.current + 1) % (config.samples + 1);
            if self.current >= self.samples.len() {
                self.samples.push(Sample::new(now_ms));
            } else {
                self.samples[self.current] = Sample::new(now_ms);
            }
        }
        let sample = &mut self.samples[self.current];
        sample.value += value;
        sample.last_event_ms = now_ms;
        self.last_record_ms = Some(now_ms);
    }

    /// Forgets windows nothing was recorded in for `samples × window`.
    fn purge(&mut self, config: &SensorConfig, now_ms: u64) {
        let expiry = config.samples as u64 * config.window_ms;
        for sample in &mut self.samples {
            if now_ms.saturating_sub(sample.last_event_ms) >= expiry {
                *sample = Sample::new(now_ms);
            }
        }
    }

    /// The time the rate is measured over: since the oldest window
    /// started, at least one window.
    pub fn window_ms(&mut self, config: &SensorConfig, now_ms: u64) -> u64 {
        self.purge(config, now_ms);
        let oldest = self.samples.iter().map(|s| s.start_ms).min();
        now_ms
            .saturating_sub(oldest.unwrap_or(now_ms))
            .max(config.window_ms)
    }

    /// Per second.
    pub fn measure(&mut self, config: &SensorConfig, now_ms: u64) -> f64 {
        let window = self.window_ms(config, now_ms);
        let total: f64 = self.samples.iter().map(|s| s.value).sum();
        total / (window as f64 / 1000.0)
    }

    /// Records `value` and checks the rate against `quota` as Kafka's
    /// sensor does: over the quota, the throttle time that brings it back.
    pub fn record_and_check(
        &mut self,
        config: &SensorConfig,
        value: f64,
        quota: f64,
        now_ms: u64,
    ) -> u64 {
        self.record(config, value, now_ms);
        let rate = self.measure(config, now_ms);
        if rate <= quota {
            return 0;
        }
        throttle_ms(rate, quota, self.window_ms(config, now_ms))
    }

    /// The last time anything was recorded (to expire idle sensors).
    pub fn last_record_ms(&self) -> Option<u64> {
        self.last_record_ms
    }
}

/// Kafka's `QuotaUtils.throttleTime`: how long, recording nothing more,
/// until `rate` measured over `window_ms` is back at `quota`:
/// `(rate - quota) / quota × window`, rounded. Zero at or under the quota.
pub fn throttle_ms(rate: f64, quota: f64, window_ms: u64) -> u64 {
    if rate.is_nan() || rate <= quota {
        return 0;
    }
    if quota <= 0.0 {
        return u64::MAX;
    }
    // `as` saturates: an absurd excess is the longest throttle, not a wrap.
    ((rate - quota) / quota * window_ms as f64).round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    const KAFKA: SensorConfig = SensorConfig {
        samples: 11,
        window_ms: 1000,
    };

    #[test]
    fn a_new_sensor_measures_over_at_least_one_window() {
        let mut rate = Rate::default();
        rate.record(&KAFKA, 500.0, 10_000);
        assert_eq!(rate.measure(&KAFKA, 10_000), 500.0);
        assert_eq!(rate.measure(&KAFKA, 10_500), 500.0);
        // Then over the time since the first window began.
        assert_eq!(rate.measure(&KAFKA, 12_000), 250.0);
    }

    #[test]
    fn a_steady_rate_is_measured_as_such_once_windows_roll() {
        let mut rate = Rate::default();
        // 100 every 100 ms: 1000/s, for 30 s.
        for t in (0..30_000).step_by(100) {
            rate.record(&KAFKA, 100.0, t);
        }
        let measured = rate.measure(&KAFKA, 30_000);
        assert!((measured - 1000.0).abs() < 60.0, "{measured}");
        // The window never spans more than the samples kept.
        let window = rate.window_ms(&KAFKA, 30_000);
        assert!((11_000..=12_000).contains(&window), "{window}");
    }

    #[test]
    fn idle_windows_expire() {
        let mut rate = Rate::default();
        rate.record(&KAFKA, 5000.0, 0);
        assert!(rate.measure(&KAFKA, 10_999) > 0.0);
        assert_eq!(rate.measure(&KAFKA, 11_000), 0.0);
        assert_eq!(rate.last_record_ms(), Some(0));
    }

    #[test]
    fn a_value_taken_back_leaves_the_rate_as_it_was() {
        let mut rate = Rate::default();
        rate.record(&KAFKA, 800.0, 0);
        rate.record(&KAFKA, 300.0, 400);
        rate.record(&KAFKA, -300.0, 400);
        assert_eq!(rate.measure(&KAFKA, 400), 800.0);
    }

    #[test]
    fn throttle_is_kafkas_formula() {
        // Twice the quota over 10 s: 10 s more brings it back.
        assert_eq!(throttle_ms(2000.0, 1000.0, 10_000), 10_000);
        assert_eq!(throttle_ms(1100.0, 1000.0, 2_000), 200);
        assert_eq!(throttle_ms(1000.0, 1000.0, 2_000), 0);
        assert_eq!(throttle_ms(999.0, 1000.0, 2_000), 0);
        assert_eq!(throttle_ms(1.0, 0.0, 2_000), u64::MAX);
        assert_eq!(throttle_ms(f64::MAX, 1e-300, 1_000), u64::MAX);
    }

    #[test]
    fn record_and_check_throttles_past_the_quota() {
        let mut rate = Rate::default();
        assert_eq!(rate.record_and_check(&KAFKA, 1000.0, 1000.0, 0), 0);
        // 3000 over one window against 1000/s: 2 s to come back.
        assert_eq!(rate.record_and_check(&KAFKA, 2000.0, 1000.0, 500), 2000);
        // After waiting it out, the rate is at the quota again.
        assert!(rate.measure(&KAFKA, 3000) <= 1000.0);
    }

    /// A client sending `size` at a time as fast as it may, muted for each
    /// throttle: its bytes per `span` ms, from `from` ms to `to`.
    fn muted_client(quota: f64, size: f64, from: u64, to: u64, span: u64) -> Vec<f64> {
        let mut rate = Rate::default();
        let mut sent = Vec::new();
        let mut now = 0;
        while now < to {
            let throttle = rate.record_and_check(&KAFKA, size, quota, now);
            sent.push((now, size));
            now += throttle.max(2);
        }
        (from..=to - span)
            .step_by(span as usize)
            .map(|start| {
                let bytes: f64 = sent
                    .iter()
                    .filter(|(t, _)| (start..start + span).contains(t))
                    .map(|(_, s)| s)
                    .sum();
                bytes / (span as f64 / 1000.0)
            })
            .collect()
    }

    #[test]
    fn a_throttled_client_gets_the_quota_in_every_stretch_of_time() {
        for size in [16_384.0, 65_536.0, 262_144.0] {
            for rate in muted_client(1_000_000.0, size, 1000, 60_000, 8000) {
                assert!((rate / 1_000_000.0 - 1.0).abs() < 0.1, "{size}: {rate}");
            }
        }
    }
}
