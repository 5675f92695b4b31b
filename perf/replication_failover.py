#!/usr/bin/env python3
"""Failover of a replicated partition (perf/RESULTS.md "Replication"):
a three-node cluster (one core each, the tests' short timings), a topic
with replication factor 3 and min.insync.replicas=2, and an idempotent
acks=all producer (confluent-kafka, librdkafka's default settings)
writing continuously. ROUNDS times: kill -9 the partition's leader, then
measure

1. election: until a surviving broker's Metadata names another leader
   (polled every 10 ms);
2. first ack: until the first record produced after the kill is
   acknowledged;

then restart the killed node and wait until it is back in the ISR.
Counts acknowledged records missing from the partition afterwards.

    cargo build --release --bin fjord
    FJORD_BIN=target/release/fjord perf/replication_failover.py [ROUNDS]
"""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "python"))

from cluster import Cluster, new_topic, wait_for  # noqa: E402
from replicas import Writer, partition_state  # noqa: E402
from test_replication import all_in_sync, read_partition  # noqa: E402

TOPIC = "failover"


def elected(cluster, ask, old):
    try:
        leader = partition_state(cluster, ask, TOPIC, timeout=1)[0]
    except Exception:  # noqa: BLE001 - a busy broker: ask again
        return False
    return leader not in (old, -1)


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    cluster = Cluster()
    elections, acks = [], []
    try:
        cluster.start(3)
        cluster.create_topics(1, [new_topic(TOPIC, 1, 3, **{"min.insync.replicas": "2"})])
        wait_for(lambda: all_in_sync(cluster, 1, TOPIC), 20, "three replicas in sync")
        bootstrap = ",".join(cluster.bootstrap(i) for i in cluster.nodes)
        writer = Writer(bootstrap, TOPIC).start()
        wait_for(lambda: len(writer.acked) > 200, 20, "first acknowledgements")
        for r in range(rounds):
            live = [i for i in cluster.nodes if cluster.node(i).alive]
            leader = partition_state(cluster, live[0], TOPIC)[0]
            survivor = next(i for i in live if i != leader)
            controller = cluster.find_active_controller()
            killed = time.time()
            cluster.node(leader).kill9()
            wait_for(lambda: elected(cluster, survivor, leader), 30, "a new leader", interval=0.01)
            elections.append(time.time() - killed)
            first = wait_for(lambda: writer.first_ack_after(killed), 30, "an acknowledgement")
            acks.append(first - killed)
            print(f"round {r + 1} at {killed:.3f}: killed leader {leader} (active controller {controller}): "
                  f"elected after {elections[-1] * 1000:.0f} ms, first ack after {acks[-1] * 1000:.0f} ms",
                  flush=True)
            cluster.restart(leader)
            wait_for(lambda: all_in_sync(cluster, leader, TOPIC), 30, "the killed node back in the ISR")
        writer.stop()
        records = set(read_partition(cluster.bootstrap(survivor), TOPIC, expect=len(writer.acked)))
        lost = sum(1 for v, o in writer.acked.items() if (o, v) not in records)
    finally:
        # KEEP=1 keeps the nodes' logs for a look at a slow round.
        cluster.cleanup(keep=bool(os.environ.get("KEEP")))
        if os.environ.get("KEEP"):
            print(f"logs kept in {cluster.dir}")
    print(f"election: median {statistics.median(elections) * 1000:.0f} ms, max {max(elections) * 1000:.0f} ms")
    print(f"first ack: median {statistics.median(acks) * 1000:.0f} ms, max {max(acks) * 1000:.0f} ms")
    print(f"acknowledged records: {len(writer.acked)}, lost: {lost}")


if __name__ == "__main__":
    main()
