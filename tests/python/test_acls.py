"""ACL bindings and SCRAM credentials through confluent-kafka's AdminClient:
create, describe with Kafka's filter semantics (MATCH finds literal, wildcard
and prefixed bindings), delete, refusals of invalid input, and everything
surviving a broker restart. fjord stores these without enforcing them."""
import os
import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation, AclPermissionType, AdminClient,
                                   ResourcePatternType, ResourceType, ScramCredentialInfo, ScramMechanism,
                                   UserScramCredentialDeletion, UserScramCredentialUpsertion)

from test_topic_configs import restart

ALLOW = AclPermissionType.ALLOW
LITERAL = ResourcePatternType.LITERAL
PREFIXED = ResourcePatternType.PREFIXED


def binding(name, pattern, principal, op, rtype=ResourceType.TOPIC):
    return AclBinding(rtype, name, pattern, principal, "*", op, ALLOW)


def topic_filter(name, pattern):
    return AclBindingFilter(ResourceType.TOPIC, name, pattern, None, None, AclOperation.ANY, AclPermissionType.ANY)


def described(admin, flt):
    return sorted(admin.describe_acls(flt).result(20), key=str)


def test_acls_create_describe_delete_and_survive_restart(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    acls = [
        binding("orders", PREFIXED, "User:alice", AclOperation.READ),
        binding("orders-eu", LITERAL, "User:bob", AclOperation.WRITE),
        binding("*", LITERAL, "User:carol", AclOperation.DESCRIBE),
        binding("payments", LITERAL, "User:bob", AclOperation.ALL),
        binding("kafka-cluster", LITERAL, "User:ops", AclOperation.ALTER, ResourceType.BROKER),
    ]
    for f in admin.create_acls(acls).values():
        f.result(20)
    # Creating an existing binding again succeeds and stores nothing new.
    admin.create_acls(acls[:1])[acls[0]].result(20)

    match = described(admin, topic_filter("orders-eu", ResourcePatternType.MATCH))
    assert match == sorted(acls[:3], key=str)
    assert described(admin, topic_filter("orders-eu", LITERAL)) == [acls[1]]
    assert described(admin, topic_filter("orders", ResourcePatternType.ANY)) == [acls[0]]
    everything = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY,
                                  AclPermissionType.ANY)
    assert len(described(admin, everything)) == 5

    restart(broker)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    assert len(described(admin, everything)) == 5

    deleted = admin.delete_acls([topic_filter("orders-eu", ResourcePatternType.MATCH)])
    assert sorted(list(deleted.values())[0].result(20), key=str) == sorted(acls[:3], key=str)
    restart(broker)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    assert sorted(described(admin, everything), key=str) == sorted(acls[3:], key=str)


def test_invalid_acls_are_refused_per_binding(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    good = binding("t", LITERAL, "User:a", AclOperation.READ)
    no_colon = binding("t", LITERAL, "alice", AclOperation.READ)
    bad_cluster = binding("not-the-cluster", LITERAL, "User:a", AclOperation.ALTER, ResourceType.BROKER)
    results = admin.create_acls([good, no_colon, bad_cluster])
    results[good].result(20)
    for b in (no_colon, bad_cluster):
        with pytest.raises(KafkaException) as e:
            results[b].result(20)
        assert "INVALID_REQUEST" in str(e.value) or "invalid" in str(e.value).lower()
    assert described(admin, topic_filter("t", LITERAL)) == [good]


def test_scram_credentials_never_return_secrets_and_survive_restart(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    missing = admin.describe_user_scram_credentials(["alice"])["alice"]
    with pytest.raises(KafkaException) as e:
        missing.result(20)
    assert "RESOURCE_NOT_FOUND" in str(e.value) or "no SCRAM" in str(e.value)

    upserts = [
        UserScramCredentialUpsertion("alice", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 8192), b"secret",
                                     b"salt"),
        UserScramCredentialUpsertion("bob", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), b"secret"),
    ]
    for f in admin.alter_user_scram_credentials(upserts).values():
        f.result(20)
    too_few = UserScramCredentialUpsertion("carol", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 100), b"pw")
    with pytest.raises(KafkaException) as e:
        admin.alter_user_scram_credentials([too_few])["carol"].result(20)
    assert "UNACCEPTABLE_CREDENTIAL" in str(e.value) or "iterations" in str(e.value)

    restart(broker)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    users = admin.describe_user_scram_credentials().result(20)
    assert sorted(users) == ["alice", "bob"]
    info = users["alice"].scram_credential_infos
    assert [(i.mechanism, i.iterations) for i in info] == [(ScramMechanism.SCRAM_SHA_256, 8192)]
    assert_secret_not_stored(f"{broker.dir.name}/data")

    admin.alter_user_scram_credentials([UserScramCredentialDeletion("bob", ScramMechanism.SCRAM_SHA_512)])[
        "bob"].result(20)
    with pytest.raises(KafkaException):
        admin.describe_user_scram_credentials(["bob"])["bob"].result(20)


def assert_secret_not_stored(data_dir):
    """The credentials live in the metadata log (and its snapshots): only
    salts, iterations and derived keys, never the salted password."""
    stored = b""
    for root, _, files in os.walk(os.path.join(data_dir, "metadata")):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                stored += f.read()
    assert b"alice" in stored, "the credentials are in the metadata log"
    assert b"secret" not in stored and b"secret".hex().encode() not in stored
