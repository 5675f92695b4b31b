#!/usr/bin/env python3
"""Cluster figures for the closing notes of the cluster issue (perf/RESULTS.md):

1. failover: time from `kill -9` of the active controller of a three-node
   cluster (one core each; Kafka's default timings, or the tests' short ones
   with FAST=1) to the next
   successful CreateTopics sent to a surviving node (retried every 20 ms
   with a 250 ms timeout); ROUNDS times, restarting the killed node between
   rounds.
2. visibility: time from sending CreateTopics to one node until Metadata on
   all three nodes lists the topic (polled every 5 ms); ROUNDS times.

    cargo build --release --bin fjord
    FJORD_BIN=target/release/fjord perf/cluster_failover.py [ROUNDS]

Prints each sample and the median of each figure.
"""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "python"))

from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from cluster import FAST, Cluster  # noqa: E402


# Kafka's defaults for the timings that decide failover.
KAFKA_DEFAULTS = {
    "controller.quorum.election.timeout.ms": "1000",
    "broker.session.timeout.ms": "9000",
    "broker.heartbeat.interval.ms": "2000",
}


def create(bootstrap, name, timeout=1.0):
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 1000})
    admin.create_topics([NewTopic(name, 1, 1)], request_timeout=timeout,
                        operation_timeout=timeout)[name].result(timeout + 1)


def failover_round(cluster, round_no):
    active = cluster.find_active_controller()
    survivor = next(i for i in cluster.live() if i != active)
    bootstrap = cluster.bootstrap(survivor)
    create(bootstrap, f"warm-{round_no}", timeout=10)  # admin client connected, cluster settled
    killed = time.monotonic()
    cluster.node(active).kill9()
    attempt = 0
    while True:
        attempt += 1
        try:
            create(bootstrap, f"failover-{round_no}-{attempt}", timeout=0.25)
            break
        except Exception:  # NOT_CONTROLLER / timeout while the quorum elects
            time.sleep(0.02)
    took = time.monotonic() - killed
    cluster.restart(active)
    cluster.wait_brokers(cluster.live(), cluster.live(), timeout=30)
    return took


def visibility_round(cluster, round_no):
    name = f"visible-{round_no}"
    admins = [AdminClient({"bootstrap.servers": cluster.bootstrap(i)}) for i in cluster.live()]
    for a in admins:
        a.list_topics(timeout=10)
    started = time.monotonic()
    future = admins[round_no % len(admins)].create_topics([NewTopic(name, 3, 1)])[name]
    pending = list(admins)
    while pending:
        pending = [a for a in pending if name not in a.list_topics(timeout=10).topics]
        if pending:
            time.sleep(0.005)
    took = time.monotonic() - started
    future.result(10)
    return took


def report(what, samples):
    ms = [s * 1000 for s in samples]
    print(f"{what}: " + " ".join(f"{m:.0f}" for m in ms) + f" ms; median {statistics.median(ms):.0f} ms")


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    # The harness's nodes use short test timings unless told otherwise.
    settings = FAST if os.environ.get("FAST") == "1" else KAFKA_DEFAULTS
    cluster = Cluster()
    try:
        cluster.start(3, settings)
        visible = [visibility_round(cluster, r) for r in range(rounds)]
        report("create visible on all three nodes", visible)
        failover = [failover_round(cluster, r) for r in range(rounds)]
        report("kill -9 of the active controller to the next successful CreateTopics", failover)
    finally:
        cluster.kill_all()
        cluster.cleanup()


if __name__ == "__main__":
    main()
