"""The inter-broker listener's other secured forms, each a three-node
cluster whose only listener it is, with the authorizer on and only the
brokers' own principal and an admin as super users: SSL with client
certificates required (followers present their keystore and are
User:CN=localhost,OU=brokers), SASL_PLAINTEXT with PLAIN (users from the
JAAS line), SASL_PLAINTEXT with SCRAM-SHA-256 (users from --add-scram).
In each, a RF=3 topic's ISR is all three nodes and acks=all with
min.insync.replicas=3 acknowledges every record. A new partition's ISR
starts full, so the acks are the proof: they need both followers to have
logged in to the leader and been allowed to fetch (with the brokers' DN
misspelt in super.users, every record times out)."""
import uuid

import pytest
from confluent_kafka.admin import NewTopic

from cluster import Cluster, wait_for
from replicas import full_isr, produce_all
from secure import Pki

AUTHORIZER = {"authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer"}


def mutual_tls(c, pki):
    # The Pki's broker keystore is for servers only; a follower presents
    # its keystore as a client too, so this one allows both uses. The
    # subject is written OU first so that its DN reads CN first.
    keystore = pki.issue("broker-mtls", "/OU=brokers/CN=localhost",
                         "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth")
    pki.issue("admin", "/OU=clients/CN=admin")
    c.client_conf = {"security.protocol": "SSL", "ssl.ca.location": pki.ca,
                     "ssl.certificate.location": f"{pki.dir}/admin.pem",
                     "ssl.key.location": f"{pki.dir}/admin.key"}
    return {
        "listeners": "SSL://{host}:{port}",
        "inter.broker.listener.name": "SSL",
        "ssl.client.auth": "required",
        "ssl.keystore.type": "PEM", "ssl.keystore.location": keystore,
        "ssl.truststore.type": "PEM", "ssl.truststore.location": pki.ca,
        **AUTHORIZER,
        "super.users": "User:CN=localhost,OU=brokers;User:CN=admin,OU=clients",
    }


def sasl_conf(mechanism):
    return {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": mechanism,
            "sasl.username": "admin", "sasl.password": "admin-secret"}


def sasl_plain(c, _pki):
    c.client_conf = sasl_conf("PLAIN")
    return {
        "listeners": "SASL_PLAINTEXT://{host}:{port}",
        "inter.broker.listener.name": "SASL_PLAINTEXT",
        "sasl.enabled.mechanisms": "PLAIN",
        "sasl.mechanism.inter.broker.protocol": "PLAIN",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config":
            'org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" '
            'password="broker-secret" user_broker="broker-secret" user_admin="admin-secret";',
        **AUTHORIZER,
        "super.users": "User:broker;User:admin",
    }


def scram_sha_256(c, _pki):
    c.extra_args = ["--add-scram", "SCRAM-SHA-256=[name=admin,password=admin-secret]",
                    "--add-scram", "SCRAM-SHA-256=[name=broker,password=broker-secret]"]
    c.client_conf = sasl_conf("SCRAM-SHA-256")
    return {
        "listeners": "SASL_PLAINTEXT://{host}:{port}",
        "inter.broker.listener.name": "SASL_PLAINTEXT",
        "sasl.enabled.mechanisms": "SCRAM-SHA-256",
        "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-256",
        "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config":
            'org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" '
            'password="broker-secret";',
        **AUTHORIZER,
        "super.users": "User:broker;User:admin",
    }


VARIANTS = {"ssl-mutual-tls": mutual_tls, "sasl-plaintext-plain": sasl_plain,
            "sasl-plaintext-scram-sha-256": scram_sha_256}


@pytest.fixture(scope="module", params=list(VARIANTS))
def cluster(request):
    pki = Pki()
    c = Cluster()
    try:
        c.start(3, extra_settings=VARIANTS[request.param](c, pki))
        yield c
    finally:
        c.cleanup()
        pki.cleanup()


def test_isr_fills_and_acks_all_is_acknowledged(cluster):
    c = cluster
    topic = f"ib-{uuid.uuid4().hex[:6]}"
    c.create_topics(1, [NewTopic(topic, 1, 3, config={"min.insync.replicas": "3"})], timeout=30)
    assert wait_for(lambda: full_isr(c, 1, topic), 30, "all three replicas in the ISR") == [1, 2, 3]
    acked, failed = produce_all(c, topic)
    assert failed == [] and sorted(acked) == list(range(20))
    assert not any(c.node(i).log_lines("inter-broker login") for i in (1, 2, 3)), "a follower's login failed"
