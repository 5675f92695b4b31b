//! Runs the replication simulation (`fjord::replication::sim`) outside the
//! test harness: `--seed N` replays one seed with a trace of every event;
//! `--seeds N [--from S]` explores N seeds and prints seeds/s and failures.

use std::time::Instant;

use fjord::replication::sim::run_seed;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        let i = args.iter().position(|a| a == flag)?;
        let v = args.get(i + 1)?;
        Some(
            v.parse::<u64>()
                .unwrap_or_else(|_| panic!("{flag} takes a number")),
        )
    };
    if let Some(seed) = value("--seed") {
        match run_seed(seed, true) {
            Ok(w) => println!(
                "seed {seed} passed at {} ms: {}; {:?}",
                w.now,
                w.checker.summary(),
                w.stats
            ),
            Err(e) => {
                println!("seed {seed} FAILED: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    let count = value("--seeds").unwrap_or(1000);
    let from = value("--from").unwrap_or(0);
    explore(from, count);
}

fn explore(from: u64, count: u64) {
    std::panic::set_hook(Box::new(|_| {}));
    let started = Instant::now();
    let mut failures = Vec::new();
    let mut totals = [0u64; 6];
    let mut txn_totals = [0u64; 6];
    let mut v2_totals = [0u64; 8];
    for seed in from..from + count {
        let outcome = std::panic::catch_unwind(|| run_seed(seed, false));
        let failure = match outcome {
            Ok(Ok(w)) => {
                let s = &w.stats;
                let seen = [
                    s.events,
                    w.checker.acks,
                    w.checker.leader_epochs() as u64,
                    s.truncations,
                    s.crashes,
                    s.splits,
                ];
                totals.iter_mut().zip(seen).for_each(|(t, n)| *t += n);
                let txns = [
                    u64::from(w.swarm.txn_producers > 0),
                    s.txn_committed,
                    s.txn_aborted,
                    s.txn_fenced,
                    s.txn_restarts,
                    s.marker_retries,
                ];
                txn_totals.iter_mut().zip(txns).for_each(|(t, n)| *t += n);
                let v2 = [
                    u64::from(w.swarm.txn_version2.contains(&true)),
                    s.txn_v2_committed,
                    s.txn_v2_aborted,
                    s.txn_v2_abandoned,
                    s.late_copies,
                    s.implicit_adds_fenced,
                    s.stale_epoch_refused,
                    s.producer_id_rotations,
                ];
                v2_totals.iter_mut().zip(v2).for_each(|(t, n)| *t += n);
                None
            }
            Ok(Err(e)) => Some(e),
            Err(panic) => Some(match panic.downcast_ref::<String>() {
                Some(s) => format!("panicked: {s}"),
                None => format!("panicked: {:?}", panic.downcast_ref::<&str>()),
            }),
        };
        if let Some(e) = failure {
            println!("seed {seed} FAILED: {e}");
            failures.push(seed);
        }
        let done = seed - from + 1;
        if done.is_multiple_of(1000) {
            let rate = done as f64 / started.elapsed().as_secs_f64();
            println!("{done} seeds, {rate:.0} seeds/s, {} failed", failures.len());
        }
    }
    let rate = count as f64 / started.elapsed().as_secs_f64();
    println!(
        "{count} seeds from {from} in {:.1}s ({rate:.0} seeds/s): {} failed {failures:?}",
        started.elapsed().as_secs_f64(),
        failures.len()
    );
    let per = |n: u64| n as f64 / count as f64;
    let [events, acks, epochs, truncations, crashes, splits] = totals.map(per);
    println!(
        "per passing seed: {events:.0} events, {acks:.1} acks, {epochs:.1} leader epochs, \
         {truncations:.2} truncations, {crashes:.1} crashes, {splits:.1} network splits"
    );
    let [with_txns, committed, aborted, fenced, restarts, retries] = txn_totals;
    println!(
        "transactions in {with_txns} seeds: {committed} committed, {aborted} aborted \
         (EndTxn acknowledged), {fenced} producers fenced, {restarts} producer restarts, \
         {retries} markers retried"
    );
    let [with_v2, committed, aborted, abandoned, late, fenced, stale, rotations] = v2_totals;
    println!(
        "transaction version 2 in {with_v2} seeds: {committed} committed, {aborted} aborted \
         ({abandoned} with batches out), {late} late copies, {fenced} implicit adds fenced, \
         {stale} batches refused for a stale epoch, {rotations} producer id rotations"
    );
    if !failures.is_empty() {
        std::process::exit(1);
    }
}
