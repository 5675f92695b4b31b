"""Replication as an operator watches it, across real fjord processes: the
leader's under-replicated and ISR-change metrics follow a follower's kill
and restart, follower lag gauges exist on the leader, replica bytes are
counted on both sides, the active controller reports offline partitions
and leader elections, and `fjord topic describe` shows the ISR and each
replica's lag."""
import json
import re
import subprocess

import pytest
from confluent_kafka import Producer

from cluster import Cluster, new_topic, wait_for
from conftest import FJORD
from replicas import partition_state
from test_metrics import scrape, total

TOPIC = "observed"


@pytest.fixture
def cluster():
    c = Cluster()
    yield c
    c.cleanup()


def metrics(cluster, i):
    return scrape(cluster.node(i).metrics_addr)


def value(text, name):
    """An unlabelled metric's value (None if absent)."""
    m = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def produce(bootstrap, n, topic=TOPIC, partition=0):
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for i in range(n):
        p.produce(topic, value=b"v%05d" % i, partition=partition)
    assert p.flush(30) == 0


def in_sync(cluster, ask, n=3):
    return len(partition_state(cluster, ask, TOPIC)[2]) == n


def test_leader_metrics_follow_a_follower_kill_and_restart(cluster):
    cluster.start(3, extra_settings={"replica.lag.time.max.ms": "2000"})
    cluster.create_topics(1, [new_topic(TOPIC, 1, 3, **{"min.insync.replicas": "2"})])
    wait_for(lambda: in_sync(cluster, 1), 20, "all three replicas in the ISR")
    leader, replicas, _ = partition_state(cluster, 1, TOPIC)
    followers = [r for r in replicas if r != leader]
    produce(cluster.bootstrap(leader), 200)

    def settled():
        text = metrics(cluster, leader)
        lag = {r: total(text, "fjord_follower_lag_messages", topic=TOPIC, replica=str(r)) for r in followers}
        ok = (total(text, "fjord_under_replicated_partitions") == 0
              and f'fjord_follower_lag_ms{{partition="0",replica="{followers[0]}"' in text
              and all(v == 0 for v in lag.values())
              and total(text, "fjord_replica_fetch_bytes_total") > 0)
        return ok and text

    text = wait_for(settled, 20, "the leader's metrics to show caught-up followers")
    assert total(text, "fjord_under_min_isr_partitions") == 0
    for f in followers:
        wait_for(lambda: total(metrics(cluster, f), "fjord_replica_fetched_bytes_total") > 0, 10,
                 f"follower {f} to count fetched bytes")
    shrinks, expands = total(text, "fjord_isr_shrinks_total"), total(text, "fjord_isr_expands_total")

    gone = followers[0]
    cluster.node(gone).kill9()
    text = wait_for(lambda: (lambda t: total(t, "fjord_under_replicated_partitions") == 1 and t)(
        metrics(cluster, leader)), 20, "the partition under-replicated on its leader")
    assert total(text, "fjord_isr_shrinks_total") > shrinks
    assert total(text, "fjord_under_min_isr_partitions") == 0  # ISR 2 >= min 2
    # The dead follower's lag is still reported by its leader.
    assert f'replica="{gone}"' in text

    cluster.node(gone).start()
    text = wait_for(lambda: (lambda t: total(t, "fjord_under_replicated_partitions") == 0 and t)(
        metrics(cluster, leader)), 30, "the partition fully replicated again")
    assert total(text, "fjord_isr_expands_total") > expands


def test_controller_counts_offline_partitions_and_elections(cluster):
    cluster.start(3)
    controller = cluster.find_active_controller()
    others = [i for i in cluster.nodes if i != controller]
    # Replicas spread round the brokers: some partition lives on each.
    cluster.create_topics(controller, [new_topic("single", 6, 1)])
    leaders = wait_for(lambda: (lambda ls: -1 not in ls and ls)(
        [partition_state(cluster, controller, "single", p)[0] for p in range(6)]), 20, "leaders")
    victim = next(i for i in others if i in leaders)
    on_victim = leaders.count(victim)
    text = metrics(cluster, controller)
    assert value(text, "fjord_offline_partitions") == 0
    elections = value(text, "fjord_leader_elections_total")
    # Non-active controllers report no controller metrics.
    assert value(metrics(cluster, others[0]), "fjord_offline_partitions") == 0

    cluster.node(victim).kill9()
    wait_for(lambda: value(metrics(cluster, controller), "fjord_offline_partitions") == on_victim, 20,
             f"{on_victim} offline partitions on the active controller")
    cluster.node(victim).start()
    text = wait_for(lambda: (lambda t: value(t, "fjord_offline_partitions") == 0 and t)(
        metrics(cluster, controller)), 30, "the partitions back online")
    # Each came back under its only replica, which was its last ISR: clean.
    assert value(text, "fjord_leader_elections_total") >= elections + on_victim
    assert value(text, "fjord_unclean_leader_elections_total") == 0


def describe(cluster, ask, *extra):
    out = subprocess.run([FJORD, "topic", "describe", TOPIC, "--bootstrap", cluster.bootstrap(ask),
                          "--timeout", "5", *extra], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_topic_describe_shows_isr_and_lag_per_replica(cluster):
    cluster.start(3, extra_settings={"replica.lag.time.max.ms": "2000"})
    cluster.create_topics(1, [new_topic(TOPIC, 2, 3)])
    wait_for(lambda: in_sync(cluster, 1), 20, "all three replicas in the ISR")
    leader, replicas, _ = partition_state(cluster, 1, TOPIC)
    produce(cluster.bootstrap(leader), 100)

    def described():
        d = json.loads(describe(cluster, leader, "--json"))
        p = d["partitions"][0]
        full = sorted(p["isr"]) == sorted(replicas) and len(p["lag"]) == 3
        return full and all(v == 0 for v in p["lag"].values()) and d

    d = wait_for(described, 20, "every replica reporting lag 0")
    assert d["partitions"][0]["leader"] == leader
    text = describe(cluster, leader)
    assert re.search(r"PARTITION\s+LEADER\s+EPOCH\s+REPLICAS\s+ISR\s+LAG", text), text
    row = next(line for line in text.splitlines() if line.strip().startswith("0 "))
    assert ",".join(f"{r}:0" for r in replicas) in row, text

    gone = next(r for r in replicas if r != leader)
    cluster.node(gone).kill9()
    wait_for(lambda: gone not in partition_state(cluster, leader, TOPIC)[2], 20, "the ISR to shrink")
    row = wait_for(lambda: next(line for line in describe(cluster, leader).splitlines()
                                if line.strip().startswith("0 ")), 10, "a describe")
    # A dead broker cannot say how far behind it is.
    assert f"{gone}:-" in row, row
