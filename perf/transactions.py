#!/usr/bin/env python3
"""Transaction figures for the closing note of the transactions issue
(perf/RESULTS.md "Transactions"), on a three-node cluster (one shard each,
all on CPU 0; the clients run on CPU 1), topic of 8 partitions, replication
factor 3, min.insync.replicas 2. The client is librdkafka (confluent-kafka),
which speaks transaction version 1: InitProducerId once, then per
transaction AddPartitionsToTxn, produces, EndTxn.

1. Throughput: transactions of 100 x 1 KiB records (begin, 100 produces
   spread over the partitions, commit), back to back for DURATION s:
   commits/s and MB/s; against an idempotent acks=all producer sending
   1 KiB records as fast as it can for the same time, on the same cluster.
2. End-to-end latency of a read_committed consumer: transactions of 100 x
   1 KiB at RATE per second; each record carries its send time, and the
   consumer reports now - send time for every record (so the figure holds
   the wait for the commit). A read_uncommitted consumer runs beside it.

    cargo build --release --bin fjord
    FJORD_BIN=target/release/fjord perf/transactions.py [ROUNDS]
    DURATION=20 RATE=20 ...   (the defaults)

Each round starts a fresh cluster. Prints every round and the medians.
"""
import json
import os
import statistics
import subprocess
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "python"))

RECORD = 1024
PER_TXN = 100
PARTITIONS = 8


def producer_conf(bootstrap, transactional):
    conf = {"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
            "linger.ms": 5, "batch.size": 131072}
    if transactional:
        conf["transactional.id"] = f"perf-{uuid.uuid4().hex[:8]}"
    return conf


def client_plain(bootstrap, topic, duration):
    from confluent_kafka import Producer
    p = Producer(producer_conf(bootstrap, False))
    payload = b"x" * RECORD
    sent, start = 0, time.time()
    while time.time() - start < duration:
        for _ in range(1000):
            try:
                p.produce(topic, payload, partition=sent % PARTITIONS)
                sent += 1
            except BufferError:
                p.poll(0.01)
        p.poll(0)
    p.flush(60)
    elapsed = time.time() - start
    return {"mb_s": sent * RECORD / elapsed / 1e6, "records_s": sent / elapsed}


def client_txn(bootstrap, topic, duration, rate=None):
    from confluent_kafka import Producer
    p = Producer(producer_conf(bootstrap, True))
    p.init_transactions(60)
    commits, start = 0, time.time()
    while time.time() - start < duration:
        if rate and commits >= rate * (time.time() - start):
            time.sleep(0.001)
            continue
        p.begin_transaction()
        for k in range(PER_TXN):
            value = time.time_ns().to_bytes(8, "big") + b"x" * (RECORD - 8)
            p.produce(topic, value, partition=k % PARTITIONS)
        p.commit_transaction(60)
        commits += 1
    elapsed = time.time() - start
    return {"commits_s": commits / elapsed, "mb_s": commits * PER_TXN * RECORD / elapsed / 1e6,
            "commits": commits}


def client_consume(bootstrap, topic, isolation, count, timeout):
    """Latency (ms) of `count` records read with `isolation`, from each
    record's send time; the last record is waited for up to `timeout` s."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"lat-{uuid.uuid4().hex[:6]}",
                  "isolation.level": isolation, "fetch.wait.max.ms": 100, "enable.auto.commit": False})
    c.assign([TopicPartition(topic, k, 0) for k in range(PARTITIONS)])
    print("ready", flush=True)
    latencies, deadline = [], time.time() + timeout
    while len(latencies) < count and time.time() < deadline:
        # poll, not consume(n, timeout): consume holds what it has until n
        # messages or the timeout, which would be measured as latency.
        m = c.poll(0.1)
        if m is not None and m.error() is None:
            latencies.append((time.time_ns() - int.from_bytes(m.value()[:8], "big")) / 1e6)
    c.close()
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
    return {"records": len(latencies), "p50": pick(0.5), "p99": pick(0.99), "max": latencies[-1]}


def run_client(*args):
    """Runs this file as a client on CPU 1; returns its JSON answer."""
    out = subprocess.run(["taskset", "-c", "1", sys.executable, __file__, "--client", *map(str, args)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def new_topic(cluster):
    from confluent_kafka.admin import NewTopic
    topic = f"perf-txn-{uuid.uuid4().hex[:6]}"
    cluster.create_topics(1, [NewTopic(topic, PARTITIONS, 3, config={"min.insync.replicas": "2"})], timeout=30)
    return topic


def one_round(duration, rate):
    from cluster import Cluster
    cluster = Cluster()
    try:
        cluster.start(3)
        bootstrap = ",".join(cluster.bootstrap(i) for i in cluster.live())
        plain = run_client("plain", bootstrap, new_topic(cluster), duration)
        txn = run_client("txn", bootstrap, new_topic(cluster), duration)
        topic = new_topic(cluster)
        count = int(rate * duration) * PER_TXN
        consumers = {}
        for isolation in ("read_committed", "read_uncommitted"):
            proc = subprocess.Popen(["taskset", "-c", "1", sys.executable, __file__, "--client", "consume",
                                     bootstrap, topic, isolation, str(count), str(duration + 60)],
                                    stdout=subprocess.PIPE, text=True)
            assert proc.stdout.readline().strip() == "ready"
            consumers[isolation] = proc
        time.sleep(2)  # the consumers' first fetches are out
        paced = run_client("txn", bootstrap, topic, duration, rate)
        latency = {}
        for isolation, proc in consumers.items():
            out, _ = proc.communicate(timeout=duration + 120)
            latency[isolation] = json.loads(out.strip().splitlines()[-1])
            assert latency[isolation]["records"] == paced["commits"] * PER_TXN, (isolation, latency, paced)
        return {"plain": plain, "txn": txn, "latency": latency}
    finally:
        cluster.cleanup()


def main():
    if sys.argv[1:2] == ["--client"]:
        mode, args = sys.argv[2], sys.argv[3:]
        if mode == "plain":
            res = client_plain(args[0], args[1], float(args[2]))
        elif mode == "txn":
            res = client_txn(args[0], args[1], float(args[2]), float(args[3]) if len(args) > 3 else None)
        else:
            res = client_consume(args[0], args[1], args[2], int(args[3]), float(args[4]))
        print(json.dumps(res), flush=True)
        return
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    duration = float(os.environ.get("DURATION", 20))
    rate = float(os.environ.get("RATE", 20))
    runs = []
    for r in range(rounds):
        res = one_round(duration, rate)
        lat = res["latency"]
        print(f"round {r + 1}: idempotent {res['plain']['mb_s']:.1f} MB/s; transactions "
              f"{res['txn']['commits_s']:.1f} commits/s = {res['txn']['mb_s']:.1f} MB/s; at {rate:g} txn/s "
              f"read_committed p50 {lat['read_committed']['p50']:.1f} ms p99 {lat['read_committed']['p99']:.1f} ms, "
              f"read_uncommitted p50 {lat['read_uncommitted']['p50']:.1f} ms p99 {lat['read_uncommitted']['p99']:.1f} ms",
              flush=True)
        runs.append(res)
    med = lambda f: statistics.median(f(r) for r in runs)
    print(f"median of {rounds}: idempotent {med(lambda r: r['plain']['mb_s']):.1f} MB/s; transactions "
          f"{med(lambda r: r['txn']['commits_s']):.1f} commits/s = {med(lambda r: r['txn']['mb_s']):.1f} MB/s; "
          f"read_committed p50 {med(lambda r: r['latency']['read_committed']['p50']):.1f} ms "
          f"p99 {med(lambda r: r['latency']['read_committed']['p99']):.1f} ms; "
          f"read_uncommitted p50 {med(lambda r: r['latency']['read_uncommitted']['p50']):.1f} ms "
          f"p99 {med(lambda r: r['latency']['read_uncommitted']['p99']):.1f} ms")


if __name__ == "__main__":
    main()
