"""The controller listener secured as Kafka secures it: a three-node
cluster whose controller listener is SASL_SSL (PLAIN, the nodes logging
in as User:controller, a super user) with the authorizer on. The quorum
forms and brokers register over it; a peer speaking plaintext to it, a
node with a wrong password and a node that logs in as a user who may not
act as a node (no CLUSTER_ACTION) are each refused and logged, while the
others keep serving; the node rejoins once its credentials are right."""
import socket
import struct
import time
import uuid

import pytest
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation, AclPermissionType, NewTopic,
                                   ResourcePatternType, ResourceType)

from cluster import Cluster, wait_for
from replicas import full_isr, produce_all
from secure import Pki

JAAS = "listener.name.controller.plain.sasl.jaas.config"


def jaas(user, password):
    # Every node knows both users; each logs in as `user`.
    return ('org.apache.kafka.common.security.plain.PlainLoginModule required '
            f'username="{user}" password="{password}" '
            'user_controller="controller-secret" user_intruder="intruder-secret";')


@pytest.fixture(scope="module")
def secured():
    pki = Pki()
    c = Cluster()
    try:
        c.start(3, extra_settings={
            "listeners": "PLAINTEXT://{host}:{port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:SASL_SSL",
            "controller.listener.names": "CONTROLLER",
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "sasl.mechanism.controller.protocol": "PLAIN",
            JAAS: jaas("controller", "controller-secret"),
            "ssl.keystore.type": "PEM", "ssl.keystore.location": pki.keystore,
            # Nodes check the voters' certificates against this CA.
            "ssl.truststore.type": "PEM", "ssl.truststore.location": pki.ca,
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": "User:controller",
            # Clients and followers on the PLAINTEXT listener are ANONYMOUS.
            "allow.everyone.if.no.acl.found": "true",
        })
        yield c
    finally:
        c.cleanup()
        pki.cleanup()


def registered(c, ask):
    brokers, _topics = c.metadata(ask)
    return sorted(brokers)


def restart_with(c, i, login_as, password):
    good = dict(c.settings)
    c.settings = {**good, JAAS: jaas(login_as, password)}
    try:
        c.restart(i)
    finally:
        c.settings = good


def test_quorum_forms_and_topics_replicate_over_sasl_ssl(secured):
    c = secured
    assert registered(c, 1) == [1, 2, 3]
    topic = f"cs-{uuid.uuid4().hex[:6]}"
    # Through each node: creates from nodes that are not the active
    # controller are forwarded over the secured listener.
    for ask in (1, 2, 3):
        c.create_topics(ask, [NewTopic(f"{topic}-{ask}", 1, 3, config={"min.insync.replicas": "3"})], timeout=30)
        assert wait_for(lambda: full_isr(c, ask, f"{topic}-{ask}"), 30, "the ISR") == [1, 2, 3]
        acked, failed = produce_all(c, f"{topic}-{ask}")
        assert failed == [] and sorted(acked) == list(range(20))
    for i in (1, 2, 3):
        assert not c.node(i).log_lines("controller connection refused"), f"node {i} refused a peer"


def controller_port_answer(c, i, payload):
    """Sends `payload` to node i's controller listener; returns what came
    back before it closed (or after 5 s)."""
    node = c.node(i)
    with socket.create_connection((node.host, node.cport), timeout=5) as s:
        s.sendall(payload)
        got = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
        except socket.timeout:
            pass
        return got


def test_a_plaintext_peer_is_refused(secured):
    c = secured
    body = b'{"node_id":9,"purpose":"Raft"}'
    hello = struct.pack(">I", len(body) + 1) + b"\x01" + body
    answer = controller_port_answer(c, 1, hello)
    # Not a TLS server hello: at most a TLS alert record (type 21).
    assert answer == b"" or answer[0] == 21, answer[:16]
    wait_for(lambda: c.node(1).log_lines("TLS handshake"), 10, "node 1 to log the refused handshake")
    topic = f"pt-{uuid.uuid4().hex[:6]}"
    c.create_topics(1, [NewTopic(topic, 1, 3)], timeout=30)
    acked, failed = produce_all(c, topic)
    assert failed == [] and len(acked) == 20


def test_a_wrong_password_keeps_a_node_out_until_fixed(secured):
    c = secured
    restart_with(c, 3, "controller", "not-the-password")
    node3 = c.node(3)
    wait_for(lambda: node3.log_lines("authentication failed"), 30, "node 3 to log its failed login")
    assert "not-the-password" not in node3.all_logs(), "the password is never logged"
    # The others fence it and keep serving.
    assert wait_for(lambda: registered(c, 1) == [1, 2], 30, "broker 3 fenced")
    topic = f"wp-{uuid.uuid4().hex[:6]}"
    c.create_topics(1, [NewTopic(topic, 1, 2)], timeout=30)
    acked, failed = produce_all(c, topic)
    assert failed == [] and len(acked) == 20
    c.restart(3)
    assert wait_for(lambda: registered(c, 1) == [1, 2, 3], 30, "broker 3 back")


def test_a_user_without_cluster_action_is_refused(secured):
    c = secured
    # A valid login, but User:intruder is not a super user and no ACL
    # grants it CLUSTER_ACTION. With an ACL on the cluster resource,
    # allow.everyone.if.no.acl.found no longer lets everyone in; the
    # PLAINTEXT listener's ANONYMOUS clients and followers get theirs.
    anonymous = [AclBinding(rtype, name, ResourcePatternType.LITERAL, "User:ANONYMOUS", "*",
                            AclOperation.ALL, AclPermissionType.ALLOW)
                 for rtype, name in ((ResourceType.BROKER, "kafka-cluster"), (ResourceType.TOPIC, "*"))]
    admin = c.admin(1)
    for f in admin.create_acls(anonymous).values():
        f.result(20)
    admins = {i: c.admin(i) for i in (1, 2, 3)}
    for i in (1, 2, 3):
        wait_for(lambda: len(admins[i].describe_acls(AclBindingFilter(
            ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY,
            AclPermissionType.ANY)).result(10)) == 2, 20, f"node {i} to have the ACLs")
    restart_with(c, 3, "intruder", "intruder-secret")
    refused = lambda: [line for i in (1, 2) for line in c.node(i).log_lines("User:intruder may not act as a node")]
    wait_for(refused, 30, "nodes 1 and 2 to refuse User:intruder")
    assert wait_for(lambda: registered(c, 1) == [1, 2], 30, "broker 3 fenced")
    time.sleep(1)
    assert registered(c, 2) == [1, 2]
    c.restart(3)
    assert wait_for(lambda: registered(c, 1) == [1, 2, 3], 30, "broker 3 back")
