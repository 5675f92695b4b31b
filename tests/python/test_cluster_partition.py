"""A network partition, not a crash: the active controller's node is cut
off (its link down, in a network namespace of its own) while its process
runs on. The majority elects a new controller and keeps working; the cut-off
broker is fenced and its partitions report no leader; after the heal the old
controller follows the new one, catches up on what changed, is let back in,
and nothing acknowledged before the partition is lost."""
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import NewTopic

import netns
from cluster import Cluster, wait_for

pytestmark = pytest.mark.skipif(not netns.available(), reason="needs root and iproute2 (CI runs as root)")


def read_all(bootstrap, topic, partitions):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "partition-test", "enable.partition.eof": True})
    c.assign([TopicPartition(topic, p, 0) for p in partitions])
    got, eof = [], set()
    deadline = time.time() + 30
    while len(eof) < len(partitions) and time.time() < deadline:
        m = c.poll(1)
        if m is None:
            continue
        if m.error():
            eof.add(m.partition())
        else:
            got.append(m.value().decode())
    c.close()
    return got


def create_retrying(cluster, i, name, partitions, timeout=20):
    def created():
        admin = cluster.admin(i)  # the futures die with their client
        admin.create_topics([NewTopic(name, partitions, 1)], operation_timeout=3,
                            request_timeout=3)[name].result(5)
        return True
    wait_for(created, timeout, f"{name} to be created through node {i}", interval=0.5)


def test_partitioned_controller_steps_aside_and_rejoins():
    net = netns.Network([1, 2, 3])
    cluster = Cluster(netns=net)
    try:
        cluster.start(3)
        admin = cluster.admin(1)
        admin.create_topics([NewTopic("before", 6, 1)])["before"].result(20)
        p = Producer({"bootstrap.servers": cluster.bootstrap(1), "acks": "all"})
        for i in range(60):
            p.produce("before", value=f"m{i}", partition=i % 6)
        assert p.flush(30) == 0

        cut = cluster.find_active_controller()
        majority = [i for i in (1, 2, 3) if i != cut]
        net.partition(cut)
        create_retrying(cluster, majority[0], "during", 4)
        new_controller = cluster.find_active_controller(among=majority)
        assert new_controller in majority

        # The cut-off broker is fenced: no longer listed, its partitions leaderless.
        def fenced():
            brokers, topics = cluster.metadata(majority[0])
            leaders = {leader for leader, _, _ in topics["before"].values()}
            return cut not in brokers and cut not in leaders and -1 in leaders
        wait_for(fenced, 20, f"node {cut} to be fenced")

        net.heal(cut)
        wait_for(lambda: cluster.node(cut).log_lines("no longer the active controller"), 20,
                 f"node {cut} to step down")

        # Everyone agrees again, the change made during the partition included.
        def agreed():
            views = [cluster.metadata(i) for i in (1, 2, 3)]
            return all(v == views[0] for v in views) and sorted(views[0][0]) == [1, 2, 3] \
                and "during" in views[0][1] and all(leader >= 0 for leader, _, _ in views[0][1]["before"].values())
        wait_for(agreed, 30, "all three nodes to agree after the heal")
        assert sorted(read_all(cluster.bootstrap(majority[1]), "before", range(6))) == \
            sorted(f"m{i}" for i in range(60))
    finally:
        cluster.cleanup()
        net.close()
