//! The simulation's seeds, split over several tests so the harness can run
//! them on more than one core. `FJORD_SIM_SEED=n` runs seed n alone.

use super::{run_seed, Rng, Swarm};

/// Seeds run by a plain `cargo test`.
const SEEDS: u64 = 3000;
const SHARDS: u64 = 4;

fn run_seeds(seeds: impl Iterator<Item = u64>) {
    for seed in seeds {
        let outcome = std::panic::catch_unwind(|| run_seed(seed, false).map(|_| ()));
        let failure = match outcome {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => e,
            Err(_) => "panicked (see above)".to_string(),
        };
        panic!(
            "replication simulation seed {seed} failed: {failure}\n  swarm: {:?}\n  \
             replay: FJORD_SIM_SEED={seed} cargo test --lib replication::sim, or \
             cargo run --example simulate_replication -- --seed {seed}",
            Swarm::new(&mut Rng::new(seed))
        );
    }
}

fn shard(n: u64) {
    run_seeds(crate::util::sim_seeds(n, SEEDS, SHARDS).into_iter());
}

#[test]
fn seeds_shard_0() {
    shard(0);
}

#[test]
fn seeds_shard_1() {
    shard(1);
}

#[test]
fn seeds_shard_2() {
    shard(2);
}

#[test]
fn seeds_shard_3() {
    shard(3);
}

/// The same seed twice gives the same run (the simulation's premise).
#[test]
fn runs_are_reproducible() {
    let run = |seed| {
        let w = run_seed(seed, false).expect("seed 7 passes");
        (w.now, w.stats.events, w.checker.summary())
    };
    assert_eq!(run(7), run(7));
}
