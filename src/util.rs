//! Small helpers with no better home: wall-clock time, Java's string hash
//! and racing or joining futures.

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

/// Every future's output, in input order, the futures polled together (one
/// slow one does not hold back the others' progress).
pub async fn join_all<'a, T>(futures: Vec<Pin<Box<dyn Future<Output = T> + 'a>>>) -> Vec<T> {
    let mut pending: Vec<Option<Pin<Box<dyn Future<Output = T> + 'a>>>> =
        futures.into_iter().map(Some).collect();
    let mut outputs: Vec<Option<T>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(move |cx| {
        let mut all = true;
        for (slot, output) in pending.iter_mut().zip(outputs.iter_mut()) {
            if let Some(future) = slot {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => {
                        *output = Some(value);
                        *slot = None;
                    }
                    Poll::Pending => all = false,
                }
            }
        }
        match all {
            false => Poll::Pending,
            true => Poll::Ready(outputs.iter_mut().filter_map(Option::take).collect()),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_all_waits_for_all_and_keeps_input_order() {
        let (tx_first, rx_first) = futures_channel::oneshot::channel::<u8>();
        let (tx_second, rx_second) = futures_channel::oneshot::channel::<u8>();
        let futures: Vec<Pin<Box<dyn Future<Output = u8>>>> = vec![
            Box::pin(async { rx_first.await.unwrap() }),
            Box::pin(async { rx_second.await.unwrap() }),
            Box::pin(async { 3 }),
        ];
        // The second finishes before the first.
        let complete = async {
            tx_second.send(2).unwrap();
            futures_lite::future::yield_now().await;
            tx_first.send(1).unwrap();
        };
        let (out, ()) =
            futures_lite::future::block_on(futures_lite::future::zip(join_all(futures), complete));
        assert_eq!(out, vec![1, 2, 3]);
        assert!(futures_lite::future::block_on(join_all::<u8>(Vec::new())).is_empty());
    }
}
