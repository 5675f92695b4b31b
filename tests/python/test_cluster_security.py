"""Security across a three-node cluster: every node takes clients on
SASL_SSL (SCRAM-SHA-512, ACLs enforced) and brokers replicate over a
PLAINTEXT listener. Metadata names each broker's endpoint on the listener
the client came in on; a user created through one node logs in on every
node; an acks=all producer over SASL_SSL loses nothing across a kill -9 of
the partition's leader; ACLs granted through one node are enforced by all."""
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType, AdminClient, NewTopic,
                                   ResourcePatternType, ResourceType, ScramCredentialInfo, ScramMechanism,
                                   UserScramCredentialUpsertion)

from cluster import Cluster, wait_for
from replicas import partition_state
from secure import Pki


@pytest.fixture(scope="module")
def secured():
    pki = Pki()
    c = Cluster()
    c.extra_args = ["--add-scram", "SCRAM-SHA-512=[name=admin,password=admin-secret]"]
    c.start(3, extra_settings={
        "listeners": "PLAINTEXT://{host}:{port},SASL_SSL://{host}:{sport}",
        "inter.broker.listener.name": "PLAINTEXT",
        "sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "ssl.keystore.type": "PEM", "ssl.keystore.location": pki.keystore,
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        # Followers fetch over PLAINTEXT as ANONYMOUS (Kafka's setup too).
        "super.users": "User:admin;User:ANONYMOUS",
    })
    yield c, pki
    c.cleanup()


def conf(c, pki, i, user="admin"):
    return {"bootstrap.servers": f"{c.node(i).host}:{c.node(i).sport}", "security.protocol": "SASL_SSL",
            "ssl.ca.location": pki.ca, "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": user, "sasl.password": f"{user}-secret"}


def test_metadata_answers_with_the_listener_the_client_used(secured):
    c, pki = secured
    for i in (1, 2, 3):
        md = AdminClient(conf(c, pki, i)).list_topics(timeout=15)
        assert {b.id: b.port for b in md.brokers.values()} == {n: c.node(n).sport for n in (1, 2, 3)}
        plain = AdminClient({"bootstrap.servers": c.bootstrap(i)}).list_topics(timeout=15)
        assert {b.id: b.port for b in plain.brokers.values()} == {n: c.node(n).port for n in (1, 2, 3)}


def test_users_and_acls_made_through_one_node_hold_on_all(secured):
    c, pki = secured
    admin = AdminClient(conf(c, pki, 1))
    topic = f"s-{uuid.uuid4().hex[:6]}"
    admin.create_topics([NewTopic(topic, 1, 3)])[topic].result(30)
    upsert = UserScramCredentialUpsertion("alice", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096),
                                          b"alice-secret")
    for f in admin.alter_user_scram_credentials([upsert]).values():
        f.result(30)
    for f in admin.create_acls([AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:alice",
                                           "*", AclOperation.WRITE, AclPermissionType.ALLOW)]).values():
        f.result(30)

    def produce(i, to):
        result = []
        p = Producer({**conf(c, pki, i, "alice"), "acks": "all", "message.timeout.ms": 10000})
        p.produce(to, b"x", on_delivery=lambda err, _m: result.append(err))
        p.flush(20)
        return result[0].code() if result and result[0] else None
    # Every node learns the user and the ACL from the metadata log.
    for i in (2, 3):
        wait_for(lambda: produce(i, topic) is None, 30, f"alice writes through node {i}")
    other = f"o-{uuid.uuid4().hex[:6]}"
    admin.create_topics([NewTopic(other, 1, 3)])[other].result(30)
    assert produce(3, other) == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_acks_all_over_sasl_ssl_survives_a_leader_kill(secured):
    c, pki = secured
    admin = AdminClient(conf(c, pki, 1))
    topic = f"k-{uuid.uuid4().hex[:6]}"
    admin.create_topics([NewTopic(topic, 1, 3, config={"min.insync.replicas": "2"})])[topic].result(30)
    def full_isr_leader():
        leader, _replicas, isr = partition_state(c, 1, topic)
        return leader if leader > 0 and len(isr) == 3 else None
    leader = wait_for(full_isr_leader, 30, "a leader with all three in the ISR")
    survivor = next(i for i in (1, 2, 3) if i != leader)
    bootstrap = ",".join(f"{c.node(i).host}:{c.node(i).sport}" for i in (1, 2, 3))
    acked = []
    producer = Producer({**conf(c, pki, survivor), "bootstrap.servers": bootstrap, "acks": "all",
                         "enable.idempotence": True, "message.timeout.ms": 60000})

    def report(err, msg):
        if err is None:
            acked.append(msg.value())
    for n in range(200):
        producer.produce(topic, f"v{n}".encode(), on_delivery=report)
        producer.poll(0)
        if n == 100:
            producer.flush(30)
            c.node(leader).kill9()
        time.sleep(0.01)
    assert producer.flush(60) == 0
    consumer = Consumer({**conf(c, pki, survivor), "group.id": f"g-{topic}", "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    got = []
    deadline = time.time() + 60
    while len(got) < len(acked) and time.time() < deadline:
        m = consumer.poll(0.5)
        if m is not None and m.error() is None:
            got.append(m.value())
    consumer.close()
    assert len(acked) == 200
    assert got == acked, "every acknowledged record, once, in order"
    c.restart(leader)
