//! Small helpers with no better home: wall-clock time, Java's string hash
//! and racing futures.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

/// Milliseconds since the Unix epoch (Kafka's timestamp unit).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Java's `String.hashCode` over UTF-16 units, as Kafka uses to place a
/// group or a transactional id, so each lands in the same coordinator
/// partition as it would in Kafka.
pub fn java_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
}

/// Resolves when the first of `futures` does; the rest are dropped.
pub async fn race_all(mut futures: Vec<Pin<Box<dyn Future<Output = ()>>>>) {
    if futures.is_empty() {
        return;
    }
    std::future::poll_fn(move |cx| {
        for future in futures.iter_mut() {
            if future.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
        }
        Poll::Pending
    })
    .await
}

/// Tests: runs `f` on a fresh glommio executor (its own thread) and waits.
#[cfg(test)]
pub fn run_local<F, Fut>(f: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    glommio::LocalExecutorBuilder::default()
        .spawn(f)
        .expect("executor")
        .join()
        .expect("test panicked");
}

/// The seeds test `shard` of a deterministic simulation runs: those of
/// `0..seeds` equal to `shard` modulo `shards` (so the harness spreads them
/// over cores), or only `FJORD_SIM_SEED` (on shard 0) when it is set.
#[cfg(test)]
pub fn sim_seeds(shard: u64, seeds: u64, shards: u64) -> Vec<u64> {
    match std::env::var("FJORD_SIM_SEED") {
        Ok(s) if shard == 0 => vec![s.parse().expect("FJORD_SIM_SEED must be a number")],
        Ok(_) => Vec::new(),
        Err(_) => (0..seeds).filter(|s| s % shards == shard).collect(),
    }
}
