"""Consumer groups across a coordinator failure, on a three-node cluster of
real processes: a group commits offsets, the node coordinating it is killed
(-9), and the group carries on from exactly what was committed on the node
that took over its `__consumer_offsets` partition; the killed node comes
back and the latest commits are what everyone sees. Clients:
confluent-kafka, and kcat's balanced consumer (-G) when installed.
Harness: cluster.py; fixture and producer helper: test_cluster.py."""
import shutil
import subprocess
import time

import pytest
from confluent_kafka import Consumer, TopicPartition

from cluster import new_topic, wait_for
from test_cluster import ALL, cluster, has_topics, produce  # noqa: F401 - `cluster` is the fixture

# Few offsets partitions, a dead follower out of the ISR quickly, and no
# initial rebalance delay: the failover fits in a test.
SETTINGS = {
    "offsets_topic_num_partitions": 3,
    "replica_lag_time_max_ms": 2000,
    "group_initial_rebalance_delay_ms": 0,
}
PARTITIONS = 3


def start(cluster, topic):
    """A 3-node cluster with `topic` at RF 3. `__consumer_offsets` is made
    by the first FindCoordinator, at offsets.topic.replication.factor (3)."""
    c = cluster(**SETTINGS)
    c.create_topics(1, [new_topic(topic, PARTITIONS, 3)], retry_for=10)
    c.wait_agreement(ALL, timeout=10, check=has_topics(topic))
    return c


def assert_offsets_replicated(c):
    admin = c.admin(1)
    offsets = admin.list_topics("__consumer_offsets", timeout=10).topics["__consumer_offsets"]
    assert len(offsets.partitions) == SETTINGS["offsets_topic_num_partitions"]
    assert all(len(p.replicas) == 3 for p in offsets.partitions.values()), offsets.partitions


def consumer(bootstrap, group, **conf):
    return Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                     "auto.offset.reset": "earliest", "session.timeout.ms": 6000, "log_level": 2, **conf})


def read(c, topic, at_least, timeout=60):
    """Polls until `at_least` records of every partition arrived: {partition: [offsets]}."""
    got = {p: [] for p in range(PARTITIONS)}
    deadline = time.time() + timeout
    while any(len(offs) < at_least for offs in got.values()):
        assert time.time() < deadline, f"read only {got} of {topic} after {timeout}s"
        m = c.poll(0.5)
        if m is None or m.error() is not None:
            continue
        got[m.partition()].append(m.offset())
    return got


def commit(c, topic, positions):
    """Commits {partition: offset} synchronously; every partition must succeed."""
    done = c.commit(offsets=[TopicPartition(topic, p, o) for p, o in positions.items()], asynchronous=False)
    assert all(tp.error is None for tp in done), done
    return positions


def committed(bootstrap, group, topic, timeout=30):
    """The group's committed offsets as a fresh client fetches them, once
    the coordinator answers: {partition: offset}."""
    c = consumer(bootstrap, group)
    try:
        def fetch():
            tps = c.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=5)
            return {tp.partition: tp.offset for tp in tps}
        return wait_for(fetch, timeout, f"committed offsets of {group}")
    finally:
        c.close()


def coordinator(c, bootstrap_node, group, timeout=30):
    """The coordinator of `group` per DescribeGroups through that node."""
    def find():
        admin = c.admin(bootstrap_node)  # must outlive the future
        desc = admin.describe_consumer_groups([group], request_timeout=5)[group].result(10)
        return desc.coordinator.id
    return wait_for(find, timeout, f"the coordinator of {group}")


def test_committed_offsets_survive_coordinator_kill(cluster):
    topic, group = "failover", "failover-group"
    c = start(cluster, topic)
    produce(c.bootstrap(1), topic, 300)

    # First member: reads some of each partition, commits where it is.
    first = consumer(c.bootstrap(1), group)
    first.subscribe([topic])
    seen = read(first, topic, at_least=10)
    positions = commit(first, topic, {p: offs[9] + 1 for p, offs in seen.items()})
    first.close()
    assert_offsets_replicated(c)
    assert committed(c.bootstrap(2), group, topic) == positions

    dead = coordinator(c, 1, group)
    c.node(dead).kill9()
    live = [i for i in ALL if i != dead]

    # Second member, through a live node: a new coordinator, which resumes
    # the group exactly at the commits.
    second = consumer(c.bootstrap(live[0]), group)
    second.subscribe([topic])
    resumed = read(second, topic, at_least=5, timeout=90)
    assert {p: offs[0] for p, offs in resumed.items()} == positions
    assert coordinator(c, live[0], group) in live
    latest = commit(second, topic, {p: offs[4] + 1 for p, offs in resumed.items()})
    second.close()

    c.node(dead).start()
    c.wait_brokers(ALL, ALL, timeout=30)
    assert committed(c.bootstrap(dead), group, topic) == latest

    # Third member: starts at the latest commits.
    third = consumer(c.bootstrap(dead), group)
    third.subscribe([topic])
    after = read(third, topic, at_least=1)
    third.close()
    assert {p: offs[0] for p, offs in after.items()} == latest


def kcat_group(bootstrap, group, topic):
    """kcat's balanced consumer reads `topic` to its end and exits, its
    offsets committed on close: {partition: [offsets]}."""
    out = subprocess.run(["kcat", "-b", bootstrap, "-G", group, "-e", "-q", "-f", "%p %o\n",
                          "-X", "auto.offset.reset=earliest", "-X", "log_level=2", topic],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    got = {}
    for line in out.stdout.splitlines():
        p, o = map(int, line.split())
        got.setdefault(p, []).append(o)
    return got


@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat not installed")
def test_kcat_group_survives_coordinator_kill(cluster):
    topic, group = "kcat-failover", "kcat-group"
    c = start(cluster, topic)
    produce(c.bootstrap(1), topic, 60, prefix="before")

    first = kcat_group(c.bootstrap(1), group, topic)
    ends = {p: offs[-1] + 1 for p, offs in first.items()}
    assert sum(len(offs) for offs in first.values()) == 60
    assert_offsets_replicated(c)
    assert committed(c.bootstrap(2), group, topic) == ends

    dead = coordinator(c, 1, group)
    c.node(dead).kill9()
    live = [i for i in ALL if i != dead]
    produce(c.bootstrap(live[0]), topic, 30, prefix="after")

    # kcat exits at the partitions' end, so it must find the group's
    # coordinator (which takes a moment to move) before that: retry.
    def resumed():
        got = kcat_group(c.bootstrap(live[0]), group, topic)
        return got if sum(len(offs) for offs in got.values()) == 30 else None
    second = wait_for(resumed, 90, "kcat to resume the group", interval=1)
    assert {p: offs[0] for p, offs in second.items()} == ends

    c.node(dead).start()
    c.wait_brokers(ALL, ALL, timeout=30)
    assert committed(c.bootstrap(dead), group, topic) == {p: offs[-1] + 1 for p, offs in second.items()}
