"""Replication across real fjord processes: a partition with replication
factor 3 and min.insync.replicas=2 keeps every acks=all record through
kill -9 of its leader, over and over; replicas end up holding the same
batches at the same offsets; a restarted broker rejoins the ISR; refusals
and the acks=1 / acks=all difference behave as in Kafka."""
import os
import signal
import statistics
import time

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from cluster import Cluster, new_topic, wait_for
from replicas import Writer, batches, partition_state

TOPIC = "replicated"


@pytest.fixture
def cluster():
    c = Cluster()
    yield c
    c.cleanup()


def read_partition(bootstrap, topic, partition=0, expect=None, timeout=60):
    """Every record of the partition as [(offset, value)], read from its
    leader until the end (or `expect` records)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader", "enable.partition.eof": True,
                  "enable.auto.commit": False})
    c.assign([TopicPartition(topic, partition, 0)])
    got, deadline = [], time.time() + timeout
    while time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF and (expect is None or len(got) >= expect):
                break
            continue
        got.append((m.offset(), m.value()))
    c.close()
    return got


def all_in_sync(cluster, ask, topic, n=3):
    _, replicas, isr = partition_state(cluster, ask, topic)
    return len(isr) == n and isr


def replicas_identical(cluster, topic):
    """Every replica's batches, once they agree (followers may trail the
    leader by a fetch)."""
    views = {i: batches(cluster.node(i).data_dir, topic, 0) for i in cluster.nodes}
    first = next(iter(views.values()))
    return all(v == first for v in views.values()) and first


def test_acks_all_survives_ten_leader_kills(cluster):
    cluster.start(3)
    cluster.create_topics(1, [new_topic(TOPIC, 1, 3, **{"min.insync.replicas": "2"})])
    wait_for(lambda: all_in_sync(cluster, 1, TOPIC), 20, "all three replicas in the ISR")
    bootstrap = ",".join(cluster.bootstrap(i) for i in cluster.nodes)
    writer = Writer(bootstrap, TOPIC).start()
    failovers = []
    try:
        wait_for(lambda: len(writer.acked) > 200, 20, "the first acknowledgements")
        for kill in range(10):
            live = [i for i in cluster.nodes if cluster.node(i).alive]
            leader = wait_for(lambda: partition_state(cluster, live[0], TOPIC)[0] in live
                              and partition_state(cluster, live[0], TOPIC)[0], 20, "a leader")
            before = len(writer.acked)
            killed_at = time.time()
            cluster.node(leader).kill9()
            first = wait_for(lambda: writer.first_ack_after(killed_at), 30,
                             f"an acknowledgement after killing leader {leader} (round {kill})")
            failovers.append(first - killed_at)
            wait_for(lambda: len(writer.acked) > before + 100, 30, "produce to carry on")
            cluster.restart(leader)
            wait_for(lambda: all_in_sync(cluster, leader, TOPIC), 30,
                     f"node {leader} back in the ISR (round {kill})")
    finally:
        writer.stop()
    print(f"failover to first ack after kill -9 (s): median {statistics.median(failovers):.3f} "
          f"max {max(failovers):.3f} all {[round(f, 3) for f in failovers]}")
    assert not [f for f in writer.failed if "timed out" in f], writer.failed[:5]
    records = read_partition(bootstrap, TOPIC, expect=len(writer.acked))
    offsets = [o for o, _ in records]
    assert offsets == list(range(len(offsets))), "offsets are contiguous from 0"
    values = [v for _, v in records]
    assert len(values) == len(set(values)), "no record was written twice"
    lost = {v: o for v, o in writer.acked.items() if (o, v) not in set(records)}
    assert not lost, f"{len(lost)} acknowledged records lost, e.g. {list(lost.items())[:5]}"
    same = wait_for(lambda: replicas_identical(cluster, TOPIC), 30, "replicas holding identical batches")
    assert same[-1][1] + 1 >= len(offsets)


def test_min_insync_replicas_refuses_acks_all_only(cluster):
    cluster.start(3, extra_settings={"replica.lag.time.max.ms": "2000"})
    cluster.create_topics(1, [new_topic(TOPIC, 1, 3, **{"min.insync.replicas": "3"})])
    wait_for(lambda: all_in_sync(cluster, 1, TOPIC), 20, "all three replicas in the ISR")
    leader, replicas, _ = partition_state(cluster, 1, TOPIC)
    follower = next(r for r in replicas if r != leader)
    cluster.node(follower).kill9()
    wait_for(lambda: len(partition_state(cluster, leader, TOPIC)[2]) == 2, 20, "the ISR to shrink to two")

    def produce(acks):
        results = []
        p = Producer({"bootstrap.servers": cluster.bootstrap(leader), "acks": acks, "retries": 0,
                      "message.timeout.ms": 5000})
        p.produce(TOPIC, b"x", partition=0, on_delivery=lambda err, msg: results.append(err))
        p.flush(10)
        return results[0]

    err = produce("all")
    assert err is not None and err.code() == KafkaError.NOT_ENOUGH_REPLICAS, err
    assert produce("1") is None
    cluster.restart(follower)
    wait_for(lambda: all_in_sync(cluster, leader, TOPIC), 30, "the follower back in the ISR")
    assert produce("all") is None


def test_a_stopped_follower_slows_acks_all_until_it_leaves_the_isr(cluster):
    cluster.start(3, extra_settings={"replica.lag.time.max.ms": "3000"})
    cluster.create_topics(1, [new_topic(TOPIC, 1, 3, **{"min.insync.replicas": "2"})])
    wait_for(lambda: all_in_sync(cluster, 1, TOPIC), 20, "all three replicas in the ISR")
    leader, replicas, _ = partition_state(cluster, 1, TOPIC)
    slow = next(r for r in replicas if r != leader)
    bootstrap = cluster.bootstrap(leader)

    def produce_one(acks):
        done = []
        p = Producer({"bootstrap.servers": bootstrap, "acks": acks, "message.timeout.ms": 20000})
        p.produce(TOPIC, b"y", partition=0, on_delivery=lambda err, msg: done.append(err))
        p.flush(30)
        return done[0]

    os.kill(cluster.node(slow).proc.pid, signal.SIGSTOP)
    try:
        # acks=1 needs only the leader: answered while the stopped
        # follower is still in the ISR.
        err = produce_one("1")
        assert err is None, err
        assert slow in partition_state(cluster, leader, TOPIC)[2], "acks=1 waited for the ISR"
        # acks=all needs every ISR member: answered only once the stopped
        # follower has been dropped from the ISR (replica.lag.time.max.ms).
        err = produce_one("all")
        assert err is None, err
        assert slow not in partition_state(cluster, leader, TOPIC)[2]
    finally:
        os.kill(cluster.node(slow).proc.pid, signal.SIGCONT)
    wait_for(lambda: all_in_sync(cluster, leader, TOPIC), 30, "the follower back in the ISR")
