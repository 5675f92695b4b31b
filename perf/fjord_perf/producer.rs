//! One producer: a thread sending, through an rdkafka `ThreadedProducer`,
//! messages whose first 8 bytes are the send time (µs since the Unix epoch,
//! big-endian) at the workload's rate, key distribution and in-flight limit.
//! Publish latency is send → delivery report, recorded by the delivery
//! callback on the producer's polling thread as each report arrives.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Message};

use crate::stats::Recorder;
use crate::workload::{Keys, Workload};

/// The process's clock: a monotonic origin and the wall time it stands for,
/// read once, so each timestamp costs one clock read.
fn origin() -> &'static (Instant, u64) {
    static ORIGIN: OnceLock<(Instant, u64)> = OnceLock::new();
    ORIGIN.get_or_init(|| {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        (Instant::now(), wall)
    })
}

/// Microseconds since the Unix epoch of `at` (the timestamp carried in
/// payloads).
pub fn epoch_micros(at: Instant) -> u64 {
    let (start, wall) = origin();
    wall + at.saturating_duration_since(*start).as_micros() as u64
}

struct Context {
    recorder: Arc<Recorder>,
    in_flight: AtomicU64,
    /// The sending thread, woken by delivery reports while it waits for
    /// room (in-flight limit or a full queue).
    sender: Thread,
    waiting: AtomicBool,
}

impl Context {
    /// Parks the sending thread, while `blocked` holds, until the next
    /// delivery report (or `timeout`). `blocked` is checked after `waiting`
    /// is set, so a report in between is not missed.
    fn wait(&self, blocked: impl Fn(&Context) -> bool, timeout: Duration) {
        self.waiting.store(true, Ordering::SeqCst);
        if blocked(self) {
            std::thread::park_timeout(timeout);
        }
        self.waiting.store(false, Ordering::SeqCst);
    }
}

impl ClientContext for Context {}

impl ProducerContext for Context {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_nanos: usize) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        match result {
            Ok(m) => {
                let now = Instant::now();
                let sent = origin().0 + Duration::from_nanos(sent_nanos as u64);
                let micros = now.saturating_duration_since(sent).as_micros() as u64;
                let len = m.payload().map_or(0, |p| p.len());
                self.recorder.record(len, Some(micros), now);
            }
            Err(_) => self.recorder.error(),
        }
        if self.waiting.load(Ordering::SeqCst) {
            self.sender.unpark();
        }
    }
}

/// What one producer thread does.
pub struct Job {
    pub bootstrap: String,
    pub topic: String,
    pub workload: Workload,
    pub seed: u64,
    /// Messages per second for this producer; None = as fast as possible.
    pub rate: Option<f64>,
    /// Stop after this many messages and wait for all their reports.
    pub limit: Option<u64>,
    pub stop: Arc<AtomicBool>,
    pub recorder: Arc<Recorder>,
}

pub fn client_config(bootstrap: &str, w: &Workload) -> Result<ClientConfig, String> {
    let p = &w.producers;
    let mut c = super::client::config(bootstrap);
    c.set("acks", w.acks()?)
        .set("linger.ms", p.linger_ms.to_string())
        .set("batch.size", p.batch_size.to_string())
        .set("compression.type", &p.compression)
        .set("client.id", "fjord-perf");
    for (k, v) in &p.config {
        c.set(k, v);
    }
    Ok(c)
}

/// Runs one producer until `stop` (or `limit`); returns messages sent.
pub fn run(job: Job) -> Result<u64, String> {
    let w = &job.workload;
    let context = Context {
        recorder: job.recorder.clone(),
        in_flight: AtomicU64::new(0),
        sender: std::thread::current(),
        waiting: AtomicBool::new(false),
    };
    let producer: ThreadedProducer<Context> = client_config(&job.bootstrap, w)?
        .create_with_context(context)
        .map_err(|e| format!("producer: {e}"))?;
    origin();
    let keys = w.keys()?;
    let max_in_flight = w.producers.max_in_flight;
    let mut payload = vec![0x5au8; w.producers.message_size];
    let mut key = Vec::with_capacity(24);
    let mut rng = job.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let started = Instant::now();
    let mut sent: u64 = 0;

    while !job.stop.load(Ordering::Relaxed) && job.limit.is_none_or(|l| sent < l) {
        if let Some(rate) = job.rate {
            let due = (started.elapsed().as_secs_f64() * rate) as u64;
            if sent >= due {
                let wait = ((sent + 1) as f64 / rate - started.elapsed().as_secs_f64()).max(0.0);
                std::thread::sleep(Duration::from_secs_f64(wait.min(0.01)));
                continue;
            }
        }
        if max_in_flight > 0 && producer.context().in_flight.load(Ordering::SeqCst) >= max_in_flight
        {
            let full = |c: &Context| c.in_flight.load(Ordering::SeqCst) >= max_in_flight;
            producer.context().wait(full, Duration::from_millis(1));
            continue;
        }
        let now = Instant::now();
        payload[..8].copy_from_slice(&epoch_micros(now).to_be_bytes());
        let sent_nanos = now.saturating_duration_since(origin().0).as_nanos() as usize;
        let mut record = BaseRecord::with_opaque_to(&job.topic, sent_nanos).payload(&payload[..]);
        let key_number = match keys {
            Keys::None => None,
            Keys::RoundRobin(n) => Some(sent % n),
            Keys::Random(n) => {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                Some(rng % n)
            }
        };
        if let Some(k) = key_number {
            key.clear();
            write!(key, "key-{k}").expect("write to vec");
            record = record.key(&key[..]);
        }
        producer.context().in_flight.fetch_add(1, Ordering::SeqCst);
        match producer.send(record) {
            Ok(()) => sent += 1,
            Err((e, _)) => {
                producer.context().in_flight.fetch_sub(1, Ordering::SeqCst);
                if e != KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull) {
                    job.recorder.error();
                }
                producer.context().wait(|_| true, Duration::from_millis(1));
            }
        }
    }
    // A backlog fill waits for every report; a measured run only gives the
    // broker a moment (reports after the window are not counted anyway).
    let timeout = if job.limit.is_some() {
        Duration::from_secs(300)
    } else {
        Duration::from_secs(5)
    };
    if let Err(e) = producer.flush(timeout) {
        if job.limit.is_some() {
            return Err(format!("flush: {e}"));
        }
    }
    Ok(sent)
}
