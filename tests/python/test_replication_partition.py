"""A partition's leader cut off from the other brokers while clients still
reach it: it keeps taking acks=all produces it can never replicate, and
acknowledges none of them; the others elect a new leader from the ISR and
carry on; after the heal the old leader truncates its divergent tail and
copies the new leader's log. Nothing acknowledged is lost."""
import threading
import time

import pytest
from confluent_kafka import Producer

import netns
from cluster import Cluster, new_topic, wait_for
from replicas import batches, partition_state
from test_replication import read_partition, replicas_identical

pytestmark = pytest.mark.skipif(not netns.available(), reason="needs root and iproute2 (CI runs as root)")

TOPIC = "cutoff"


def test_isolated_leader_acknowledges_nothing_and_truncates_after_heal():
    net = netns.Network([1, 2, 3])
    cluster = Cluster(netns=net)
    acked, failed = {}, []
    stop = threading.Event()
    try:
        cluster.start(3, extra_settings={"replica.lag.time.max.ms": "2000"})
        cluster.create_topics(1, [new_topic(TOPIC, 1, 3, **{"min.insync.replicas": "2"})])
        wait_for(lambda: len(partition_state(cluster, 1, TOPIC)[2]) == 3, 20, "three replicas in sync")
        old_leader = partition_state(cluster, 1, TOPIC)[0]
        others = [i for i in cluster.nodes if i != old_leader]
        producer = Producer({"bootstrap.servers": ",".join(cluster.bootstrap(i) for i in cluster.nodes),
                             "acks": "all", "linger.ms": 5, "message.timeout.ms": 8000,
                             "request.timeout.ms": 5000})

        def delivered(err, msg):
            if err is None:
                acked[msg.value()] = msg.offset()
            else:
                failed.append(str(err))

        def produce():
            n = 0
            while not stop.is_set():
                try:
                    producer.produce(TOPIC, b"m%d" % n, partition=0, on_delivery=delivered)
                    n += 1
                except BufferError:
                    pass
                producer.poll(0.005)
            producer.flush(30)

        thread = threading.Thread(target=produce, daemon=True)
        thread.start()
        wait_for(lambda: len(acked) > 200, 20, "acknowledgements before the cut")
        end_before = batches(cluster.node(old_leader).data_dir, TOPIC, 0)[-1][1]
        net.isolate(old_leader)
        new_leader = wait_for(lambda: (lambda l: l in others and l)(partition_state(cluster, others[0], TOPIC)[0]),
                              30, "a new leader among the others")
        count = len(acked)
        wait_for(lambda: len(acked) > count + 200, 30, "acknowledgements from the new leader")
        net.rejoin(old_leader)
        wait_for(lambda: len(partition_state(cluster, new_leader, TOPIC)[2]) == 3, 30,
                 "the old leader back in the ISR")
        stop.set()
        thread.join(60)
        assert cluster.node(old_leader).log_lines("truncating to the leader's log"), \
            "the old leader had a divergent tail to cut"
        records = read_partition(cluster.bootstrap(new_leader), TOPIC, expect=len(acked))
        assert [o for o, _ in records] == list(range(len(records))), "contiguous offsets"
        got = set(records)
        lost = {v: o for v, o in acked.items() if (o, v) not in got}
        assert not lost, f"{len(lost)} acknowledged records lost, e.g. {list(lost.items())[:5]}"
        assert end_before < records[-1][0]
        wait_for(lambda: replicas_identical(cluster, TOPIC), 30, "replicas holding identical batches")
    finally:
        stop.set()
        cluster.cleanup()
        net.close()
