"""Eligible leader replicas (KIP-966) across real fjord processes: with
replication factor 3 and min.insync.replicas=2, a follower dropped from an
ISR that falls below 2 stays eligible (the high watermark stops without
it), so when every broker has gone, that follower alone coming back leads
with every acknowledged record. Without the ELR the partition would stay
offline until its last ISR member returned.

Brokers 1-3 with a dedicated controller (node 4), so that killing brokers
never costs the metadata quorum."""
import json
import subprocess

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import NewTopic

from cluster import Cluster, wait_for
from conftest import FJORD
from replicas import partition_state
from test_replication import read_partition
from test_replication_metrics import metrics, value

TOPIC = "eligible"
CONTROLLER = 4


@pytest.fixture
def cluster():
    c = Cluster()
    yield c
    c.cleanup()


def describe(cluster, ask):
    """Partition 0 as `fjord topic describe --json` shows it through `ask`
    (DescribeTopicPartitions: leader, isr, elr, last_known_elr)."""
    out = subprocess.run([FJORD, "topic", "describe", TOPIC, "--bootstrap", cluster.bootstrap(ask),
                          "--timeout", "5", "--json"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["partitions"][0]


def produce(bootstrap, values, timeout_ms=30000):
    """acks=all each of `values`; the delivery errors."""
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                  "linger.ms": 5, "message.timeout.ms": timeout_ms})
    errors = []
    for v in values:
        p.produce(TOPIC, value=v, partition=0,
                  on_delivery=lambda err, msg: err is not None and errors.append(str(err)))
    assert p.flush(timeout_ms / 1000 + 30) == 0, "undelivered records"
    return errors


def produce_all(bootstrap, values):
    errors = produce(bootstrap, values)
    assert errors == [], errors


def test_a_follower_from_the_elr_leads_when_the_isr_is_gone(cluster):
    roles = {1: "broker", 2: "broker", 3: "broker", CONTROLLER: "controller"}
    cluster.start(4, roles=roles)
    topic = NewTopic(TOPIC, num_partitions=1, replication_factor=-1, replica_assignment=[[1, 2, 3]],
                     config={"min.insync.replicas": "2"})
    cluster.create_topics(1, [topic])
    wait_for(lambda: partition_state(cluster, 1, TOPIC) == (1, [1, 2, 3], [1, 2, 3]), 20,
             "leader 1 with all three replicas in the ISR")
    bootstrap = ",".join(cluster.bootstrap(i) for i in (1, 2, 3))
    acked = [b"before-%d" % i for i in range(200)]
    produce_all(bootstrap, acked)

    cluster.node(3).kill9()
    wait_for(lambda: partition_state(cluster, 1, TOPIC)[2] == [1, 2], 20, "ISR [1, 2]")
    # Still two in sync: acks=all goes on, these on 1 and 2 only.
    later = [b"after-3-%d" % i for i in range(200)]
    produce_all(cluster.bootstrap(1), later)
    acked += later

    cluster.node(2).kill9()
    d = wait_for(lambda: (lambda d: d["isr"] == [1] and d)(describe(cluster, 1)), 20,
                 "ISR [1] with 2 eligible")
    assert d["leader"] == 1 and d["elr"] == [2], d
    # NOT_ENOUGH_REPLICAS, retried until the producer gives up.
    assert produce(cluster.bootstrap(1), [b"refused"], timeout_ms=3000) != []

    cluster.node(1).kill9()
    wait_for(lambda: value(metrics(cluster, CONTROLLER), "fjord_offline_partitions") == 1, 20,
             "the partition offline on the controller")

    # Only 2 comes back: it was in the ELR, so it leads, cleanly.
    cluster.node(2).start()
    d = wait_for(lambda: (lambda d: d["leader"] == 2 and d)(describe(cluster, 2)), 30,
                 "broker 2 leading from the ELR")
    assert d["isr"] == [2] and d["elr"] == [1], d
    text = wait_for(lambda: (lambda t: value(t, "fjord_offline_partitions") == 0 and t)(
        metrics(cluster, CONTROLLER)), 20, "the partition online on the controller")
    assert value(text, "fjord_unclean_leader_elections_total") == 0

    # Consumers see the log once the ISR is back to min.insync.replicas.
    cluster.node(3).start()
    wait_for(lambda: partition_state(cluster, 2, TOPIC)[2] == [2, 3], 30, "3 back in the ISR")
    d = describe(cluster, 2)
    assert d["elr"] == [] and d["last_known_elr"] == [], d
    got = [v for _, v in read_partition(cluster.bootstrap(2), TOPIC, expect=len(acked))]
    missing = [v for v in acked if v not in set(got)]
    assert missing == [], f"{len(missing)} acknowledged records lost, e.g. {missing[:3]}"
