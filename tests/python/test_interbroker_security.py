"""Brokers authenticate to each other: a three-node cluster whose only
client listener is SASL_SSL (SCRAM-SHA-512, ACLs on) is also its
inter-broker listener, so followers fetch over TLS after logging in as
User:broker. A RF=3 topic's ISR fills, acks=all works, and a node
restarted with a wrong inter-broker password never rejoins the ISR and
logs why, while the other two keep serving."""
import re
import time
import uuid

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from cluster import Cluster, wait_for
from replicas import full_isr, partition_state, produce_all
from secure import Pki

JAAS = "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"


def jaas(password):
    return ('org.apache.kafka.common.security.scram.ScramLoginModule required '
            f'username="broker" password="{password}";')


@pytest.fixture(scope="module")
def secured():
    pki = Pki()
    c = Cluster()
    c.extra_args = ["--add-scram", "SCRAM-SHA-512=[name=admin,password=admin-secret]",
                    "--add-scram", "SCRAM-SHA-512=[name=broker,password=broker-secret]"]
    # The harness's helpers (metadata, wait_brokers, partition_state) log in as admin.
    c.client_conf = {"security.protocol": "SASL_SSL", "ssl.ca.location": pki.ca,
                     "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "admin",
                     "sasl.password": "admin-secret"}
    c.start(3, extra_settings={
        "listeners": "SASL_SSL://{host}:{port}",
        "inter.broker.listener.name": "SASL_SSL",
        "sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
        JAAS: jaas("broker-secret"),
        "ssl.keystore.type": "PEM", "ssl.keystore.location": pki.keystore,
        # Followers check their leader's certificate against this CA.
        "ssl.truststore.type": "PEM", "ssl.truststore.location": pki.ca,
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": "User:broker;User:admin",
    })
    yield c, pki
    c.cleanup()


def test_followers_fetch_over_sasl_ssl_and_acks_all_works(secured):
    c, _pki = secured
    topic = f"ib-{uuid.uuid4().hex[:6]}"
    c.create_topics(1, [NewTopic(topic, 1, 3, config={"min.insync.replicas": "3"})], timeout=30)
    assert wait_for(lambda: full_isr(c, 1, topic), 30, "all three replicas in the ISR") == [1, 2, 3]
    acked, failed = produce_all(c, topic)
    assert failed == [] and len(acked) == 20


def test_a_follower_with_a_wrong_password_never_joins_the_isr(secured):
    c, _pki = secured
    topic = f"wp-{uuid.uuid4().hex[:6]}"
    admin = AdminClient({**c.client_conf, "bootstrap.servers": c.bootstrap(1)})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=-1, replica_assignment=[[1, 2, 3]],
                                  config={"min.insync.replicas": "2"})])[topic].result(30)
    wait_for(lambda: full_isr(c, 1, topic), 30, "all three replicas in the ISR")

    good = dict(c.settings)
    c.settings = {**good, JAAS: jaas("not-the-password")}
    try:
        c.restart(3)
    finally:
        c.settings = good
    node3 = c.node(3)
    wait_for(lambda: node3.log_lines("authentication failed"), 30, "node 3 to log its failed login")
    assert "not-the-password" not in node3.all_logs(), "the password is never logged"

    # Leaders 1 and 2 keep serving, and node 3 stays out of the ISR.
    deadline = time.time() + 10
    while time.time() < deadline:
        _leader, _replicas, isr = partition_state(c, 1, topic)
        assert 3 not in isr, f"node 3 joined the ISR with a wrong password: {isr}"
        time.sleep(0.5)
    acked, failed = produce_all(c, topic)
    assert failed == [] and len(acked) == 20
    _leader, _replicas, isr = partition_state(c, 2, topic)
    assert isr == [1, 2]
    # Node 3 retried every backoff all along, but warns once per leader
    # address, then at most once a minute.
    warnings = node3.log_lines("authentication failed")
    minutes = (time.time() - node3.started_at) / 60
    per_leader = {}
    for line in warnings:
        leader = re.search(r"leader=(\S+)", line).group(1)
        per_leader[leader] = per_leader.get(leader, 0) + 1
    assert per_leader and all(n <= 1 + minutes for n in per_leader.values()), warnings

    c.restart(3)  # the right password again: it catches up and rejoins
    wait_for(lambda: full_isr(c, 1, topic), 60, "node 3 back in the ISR")
