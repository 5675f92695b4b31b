//! The worker threads of a run (producers, consumers) and the steps that
//! only wait on them: filling a backlog, waiting for consumers' partitions.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::producer;
use crate::runner::Target;
use crate::stats::{take_all, Recorder};
use crate::workload::Workload;

pub struct Workers {
    pub stop: Arc<AtomicBool>,
    pub recorders: Vec<Arc<Recorder>>,
    pub handles: Vec<JoinHandle<Result<(), String>>>,
}

impl Workers {
    pub fn new() -> Workers {
        Workers {
            stop: Arc::new(AtomicBool::new(false)),
            recorders: Vec::new(),
            handles: Vec::new(),
        }
    }

    pub fn spawn(
        &mut self,
        name: String,
        f: impl FnOnce(Arc<Recorder>) -> Result<(), String> + Send + 'static,
    ) {
        let recorder = Arc::new(Recorder::new());
        self.recorders.push(recorder.clone());
        let handle = std::thread::Builder::new()
            .name(name)
            .spawn(move || f(recorder))
            .expect("spawn worker");
        self.handles.push(handle);
    }

    pub fn finish(self) -> Result<(), String> {
        self.stop.store(true, Ordering::Relaxed);
        for h in self.handles {
            h.join().map_err(|_| "worker panicked".to_string())??;
        }
        Ok(())
    }
}

pub fn spawn_producers(
    target: &Target,
    w: &Workload,
    topic: &str,
    rate: Option<f64>,
    limit: Option<u64>,
) -> Workers {
    let mut workers = Workers::new();
    let n = w.producers.count as u64;
    for i in 0..n {
        let job = producer::Job {
            bootstrap: target.bootstrap.clone(),
            topic: topic.to_string(),
            workload: w.clone(),
            seed: i + 1,
            rate: rate.map(|r| r / n as f64),
            limit: limit.map(|l| l / n + u64::from(i < l % n)),
            stop: workers.stop.clone(),
            recorder: Arc::new(Recorder::new()),
        };
        workers.spawn(format!("producer-{i}"), move |recorder| {
            producer::run(producer::Job { recorder, ..job }).map(|_| ())
        });
    }
    workers
}

pub fn wait_for_assignment(w: &Workload, assigned: &[Arc<AtomicUsize>]) -> Result<(), String> {
    let want = w.partitions as usize;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let held: Vec<usize> = assigned.iter().map(|a| a.load(Ordering::Relaxed)).collect();
        let ready = if w.consumers.group {
            held.iter().sum::<usize>() >= want
        } else {
            held.iter().all(|&h| h >= want)
        };
        if ready {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "consumers hold {held:?} partitions after 60 s (want {want})"
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Writes `messages` at full speed (reported, not measured) and waits for
/// every delivery report.
pub fn fill_backlog(
    target: &Target,
    w: &Workload,
    topic: &str,
    messages: u64,
) -> Result<(), String> {
    eprintln!(
        "filling backlog: {messages} messages of {} bytes ({:.0} MB)",
        w.producers.message_size,
        (messages * w.producers.message_size as u64) as f64 / 1e6
    );
    let started = Instant::now();
    let workers = spawn_producers(target, w, topic, None, Some(messages));
    let mut done = 0u64;
    while workers.handles.iter().any(|h| !h.is_finished()) {
        std::thread::sleep(Duration::from_secs(1));
        let i = take_all(&workers.recorders);
        done += i.messages;
        eprintln!(
            "[{:>4.0}s backlog-fill ] {done}/{messages} messages, {:.1} MB/s",
            started.elapsed().as_secs_f64(),
            i.bytes as f64 / 1e6
        );
    }
    done += take_all(&workers.recorders).messages;
    workers.finish()?;
    eprintln!(
        "backlog filled: {done} messages acknowledged in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if done < messages {
        return Err(format!(
            "only {done} of {messages} backlog messages were acknowledged"
        ));
    }
    Ok(())
}
