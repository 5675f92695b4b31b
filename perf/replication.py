#!/usr/bin/env python3
"""Replication figures for the closing note of the replication issue
(perf/RESULTS.md "Replication"):

1. Workload 1 (perf/workloads/1-max-throughput.toml: 8 partitions, 1 KiB,
   acks=1, max rate) against a three-node cluster (one shard each; this
   machine has two cores, so all three brokers share CPU 0 and fjord-perf
   runs on CPU 1), with replication factor 1 and 3. Every partition is led
   by node 1 (explicit assignment), so node 1's CPU is the leader's: with
   RF 3 it also serves each byte to two followers. Reports produce MB/s and
   each node's CPU-seconds per GB produced, and the leader's extra CPU per GB
   sent to followers: (leader CPU/GB at RF 3 - at RF 1) / 2.

    cargo build --release --bin fjord --example fjord-perf
    FJORD_BIN=target/release/fjord perf/replication.py [ROUNDS]
    DURATION=30 ...   # measured seconds per run (default: the workload's)
    CONSUMERS=0 ...   # no consumer: the leader's CPU is produce + followers only

The workload's consumer reads below the high watermark, which moves in
larger steps with followers in the ISR, so its fetches (and the leader's
CPU for them) differ between RF 1 and RF 3: the leader's CPU per GB sent
to followers is measured with CONSUMERS=0.

Each round starts a fresh cluster. Prints every round and the medians.
"""
import glob
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "python"))

from confluent_kafka.admin import NewTopic  # noqa: E402

from cluster import Cluster, wait_for  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..")
PERF = os.path.join(ROOT, "target", "release", "examples", "fjord-perf")
WORKLOAD = os.path.join(ROOT, "perf", "workloads", "1-max-throughput.toml")
TOPIC = "perf-max-throughput"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def topic_bytes(data_dir):
    return sum(os.path.getsize(f) for f in glob.glob(os.path.join(data_dir, f"{TOPIC}-*", "*.log")))


def one_round(rf):
    cluster = Cluster()
    try:
        cluster.start(3)
        replicas = [1, 2, 3][:rf]
        admin = cluster.admin(1)
        admin.create_topics([NewTopic(TOPIC, num_partitions=8, replication_factor=-1, replica_assignment=[replicas] * 8)])[TOPIC].result(30)
        wait_for(lambda: all(len(p.isrs) == rf for p in
                             admin.list_topics(TOPIC, timeout=5).topics[TOPIC].partitions.values()),
                 30, "replicas in sync")
        pids = {i: cluster.node(i).proc.pid for i in cluster.nodes}
        before = {i: cpu_seconds(p) for i, p in pids.items()}
        out = os.path.join(cluster.dir, "perf.json")
        cmd = ["taskset", "-c", "1", PERF, "run", "--workload", WORKLOAD, "--reuse-topic", "--keep-topic",
               "--bootstrap", cluster.bootstrap(1), "--broker-pid", str(pids[1]), "--out", out]
        if os.environ.get("DURATION"):
            cmd += ["--duration", os.environ["DURATION"]]
        if os.environ.get("CONSUMERS"):
            cmd += ["--consumers", os.environ["CONSUMERS"]]
        subprocess.run(cmd, check=True, capture_output=True)
        cpu = {i: cpu_seconds(p) - before[i] for i, p in pids.items()}
        gb = topic_bytes(cluster.node(1).data_dir) / 1e9
        result = json.load(open(out))
        return {"mb_s": result["produce"]["mb_per_sec"], "gb": gb,
                "cpu_per_gb": {i: c / gb for i, c in cpu.items()}}
    finally:
        cluster.cleanup()


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    results = {}
    for rf in (1, 3):
        runs = []
        for r in range(rounds):
            res = one_round(rf)
            print(f"RF {rf} round {r + 1}: {res['mb_s']:.1f} MB/s produced, "
                  + ", ".join(f"node {i} {v:.2f} CPU-s/GB" for i, v in res["cpu_per_gb"].items()), flush=True)
            runs.append(res)
        results[rf] = runs
    med = {}
    for rf, runs in results.items():
        med[rf] = {"mb_s": statistics.median(r["mb_s"] for r in runs),
                   "leader": statistics.median(r["cpu_per_gb"][1] for r in runs),
                   "followers": statistics.median((r["cpu_per_gb"][2] + r["cpu_per_gb"][3]) / 2 for r in runs),
                   "total": statistics.median(sum(r["cpu_per_gb"].values()) for r in runs)}
        print(f"median RF {rf}: {med[rf]['mb_s']:.1f} MB/s; leader {med[rf]['leader']:.2f}, "
              f"follower {med[rf]['followers']:.2f}, cluster {med[rf]['total']:.2f} CPU-s per GB produced")
    extra = (med[3]["leader"] - med[1]["leader"]) / 2
    print(f"leader CPU per GB sent to followers: {extra:.2f} CPU-s/GB")


if __name__ == "__main__":
    main()
