"""ACLs enforced with StandardAuthorizer semantics, checked with real
clients over SASL_PLAINTEXT (SCRAM-SHA-256): a user allowed to write topic
a but not b, a consumer without group READ, DENY beating ALLOW, a super
user, Metadata hiding topics the principal may not describe, DescribeConfigs
and ListGroups filtered by ACLs, the idempotent producer's InitProducerId,
and ACL changes applying to open connections."""
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation, AclPermissionType, AdminClient,
                                   ConfigResource, NewTopic, ResourcePatternType, ResourceType, ScramCredentialInfo,
                                   ScramMechanism, UserScramCredentialUpsertion)

from secure import SecureBroker

ALLOW, DENY = AclPermissionType.ALLOW, AclPermissionType.DENY
LITERAL, PREFIXED = ResourcePatternType.LITERAL, ResourcePatternType.PREFIXED
USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]


@pytest.fixture(scope="module")
def cluster():
    b = SecureBroker({"listeners": "SASL_PLAINTEXT://127.0.0.1:0,PLAINTEXT://127.0.0.1:0",
                      "inter.broker.listener.name": "PLAINTEXT",
                      "sasl.enabled.mechanisms": "SCRAM-SHA-256",
                      "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                      "super.users": "User:admin"},
                     add_scram=["SCRAM-SHA-256=[name=admin,password=admin-secret]"])
    admin = AdminClient(conf(b, "admin"))
    ups = [UserScramCredentialUpsertion(u, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096),
                                        f"{u}-secret".encode()) for u in USERS]
    for f in admin.alter_user_scram_credentials(ups).values():
        f.result(20)
    yield b, admin
    b.stop()


def conf(b, user):
    return {"bootstrap.servers": b.listeners["SASL_PLAINTEXT"], "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "SCRAM-SHA-256", "sasl.username": user, "sasl.password": f"{user}-secret"}


def grant(admin, *acls):
    for f in admin.create_acls(list(acls)).values():
        f.result(20)


def acl(rtype, name, user, op, permission=ALLOW, pattern=LITERAL):
    return AclBinding(rtype, name, pattern, f"User:{user}", "*", op, permission)


def topics(admin, *names):
    for f in admin.create_topics([NewTopic(n, 1, 1) for n in names]).values():
        f.result(30)


def produce_one(c, topic):
    """The delivery error code of one record (None when acknowledged)."""
    result = []
    p = Producer({**c, "acks": "all", "message.timeout.ms": 8000})
    p.produce(topic, b"v", on_delivery=lambda err, _m: result.append(err))
    p.flush(15)
    return result[0].code() if result and result[0] else None


def test_write_allowed_on_a_not_b(cluster):
    b, admin = cluster
    a, other = f"a-{uuid.uuid4().hex[:6]}", f"b-{uuid.uuid4().hex[:6]}"
    topics(admin, a, other)
    grant(admin, acl(ResourceType.TOPIC, a, "alice", AclOperation.WRITE))
    alice = conf(b, "alice")
    assert produce_one(alice, a) is None
    assert produce_one(alice, other) == KafkaError.TOPIC_AUTHORIZATION_FAILED
    # Metadata hides what alice may not describe; WRITE implies DESCRIBE.
    listed = AdminClient(alice).list_topics(timeout=10).topics
    assert a in listed and other not in listed
    # The super user sees and writes everything.
    assert produce_one(conf(b, "admin"), other) is None


def test_consumer_needs_group_read(cluster):
    b, admin = cluster
    t = f"c-{uuid.uuid4().hex[:6]}"
    topics(admin, t)
    assert produce_one(conf(b, "admin"), t) is None
    grant(admin, acl(ResourceType.TOPIC, t, "bob", AclOperation.READ))
    group = f"g-{uuid.uuid4().hex[:6]}"
    consumer = Consumer({**conf(b, "bob"), "group.id": group, "auto.offset.reset": "earliest"})
    consumer.subscribe([t])
    seen = None
    for _ in range(50):
        m = consumer.poll(0.2)
        if m is not None and m.error() is not None:
            seen = m.error().code()
            break
    consumer.close()
    assert seen == KafkaError.GROUP_AUTHORIZATION_FAILED
    # With group READ, the same consumer reads the record.
    grant(admin, acl(ResourceType.GROUP, group, "bob", AclOperation.READ))
    consumer = Consumer({**conf(b, "bob"), "group.id": group, "auto.offset.reset": "earliest"})
    consumer.subscribe([t])
    got = None
    for _ in range(100):
        m = consumer.poll(0.2)
        if m is not None and m.error() is None:
            got = (m.offset(), m.value())
            break
    consumer.close()
    assert got == (0, b"v")


def test_deny_beats_allow(cluster):
    b, admin = cluster
    t = f"d-{uuid.uuid4().hex[:6]}"
    topics(admin, t)
    grant(admin, acl(ResourceType.TOPIC, "d-", "carol", AclOperation.ALL, pattern=PREFIXED),
          acl(ResourceType.TOPIC, t, "carol", AclOperation.WRITE, permission=DENY))
    carol = conf(b, "carol")
    assert produce_one(carol, t) == KafkaError.TOPIC_AUTHORIZATION_FAILED
    # READ is still allowed by the prefixed ALL: ListOffsets answers.
    c = Consumer({**carol, "group.id": "unused"})
    low, high = c.get_watermark_offsets(TopicPartition(t, 0), timeout=10)
    c.close()
    assert (low, high) == (0, 0)


def test_admin_operations_need_cluster_acls(cluster):
    b, _admin = cluster
    alice = AdminClient(conf(b, "alice"))
    f = alice.create_topics([NewTopic(f"x-{uuid.uuid4().hex[:6]}", 1, 1)])
    with pytest.raises(KafkaException) as e:
        list(f.values())[0].result(20)
    assert e.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    flt = acl(ResourceType.TOPIC, "x", "alice", AclOperation.READ)
    with pytest.raises(KafkaException) as e:
        list(alice.create_acls([flt]).values())[0].result(20)
    assert e.value.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED


def broker_id(admin):
    return str(next(iter(admin.list_topics(timeout=10).brokers)))


def failure(future):
    """The error code a future fails with (None when it succeeds)."""
    try:
        future.result(20)
        return None
    except KafkaException as e:
        return e.args[0].code()


def test_metadata_hides_undescribable_topics(cluster):
    b, admin = cluster
    seen, hidden = f"m-{uuid.uuid4().hex[:6]}", f"m-{uuid.uuid4().hex[:6]}"
    topics(admin, seen, hidden)
    grant(admin, acl(ResourceType.TOPIC, seen, "dave", AclOperation.DESCRIBE))
    dave = AdminClient(conf(b, "dave"))
    listed = dave.list_topics(timeout=10).topics
    assert seen in listed and hidden not in listed
    # Named, the hidden topic is refused without saying whether it exists.
    for name in (hidden, f"missing-{uuid.uuid4().hex[:6]}"):
        named = dave.list_topics(topic=name, timeout=10).topics
        assert named[name].error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert set(admin.list_topics(timeout=10).topics) >= {seen, hidden}


def test_describe_configs_needs_describe_configs(cluster):
    b, admin = cluster
    t = f"cfg-{uuid.uuid4().hex[:6]}"
    topics(admin, t)
    # DESCRIBE alone (implied by READ) does not show configs.
    grant(admin, acl(ResourceType.TOPIC, t, "erin", AclOperation.READ))
    erin = AdminClient(conf(b, "erin"))
    topic = ConfigResource(ConfigResource.Type.TOPIC, t)
    assert failure(erin.describe_configs([topic])[topic]) == KafkaError.TOPIC_AUTHORIZATION_FAILED
    broker = ConfigResource(ConfigResource.Type.BROKER, broker_id(admin))
    assert failure(erin.describe_configs([broker])[broker]) == KafkaError.CLUSTER_AUTHORIZATION_FAILED
    # The super user reads them.
    assert "retention.ms" in admin.describe_configs([topic])[topic].result(20)


def test_list_groups_shows_only_describable_groups(cluster):
    b, admin = cluster
    t = f"lg-{uuid.uuid4().hex[:6]}"
    topics(admin, t)
    mine, other = f"lg-{uuid.uuid4().hex[:6]}", f"lg-{uuid.uuid4().hex[:6]}"
    for group in (mine, other):
        c = Consumer({**conf(b, "admin"), "group.id": group, "enable.auto.commit": False})
        c.commit(offsets=[TopicPartition(t, 0, 0)], asynchronous=False)
        c.close()
    grant(admin, acl(ResourceType.GROUP, mine, "frank", AclOperation.DESCRIBE))
    frank = AdminClient(conf(b, "frank"))
    listed = {g.group_id for g in frank.list_consumer_groups().result(20).valid}
    assert mine in listed and other not in listed
    # DESCRIBE on the cluster lists every group.
    everything = {g.group_id for g in admin.list_consumer_groups().result(20).valid}
    assert {mine, other} <= everything


def idempotent_produce(c, topic):
    """Produces one record with an idempotent producer: (records
    acknowledged, codes of the errors reported, fatal ones included)."""
    errors, acked = [], []
    p = Producer({**c, "enable.idempotence": True, "message.timeout.ms": 8000, "error_cb": errors.append})
    try:
        p.produce(topic, b"v", on_delivery=lambda err, _m: errors.append(err) if err else acked.append(1))
        p.flush(15)
    except Exception as e:  # noqa: BLE001 - a fatal error surfaces as one, possibly chained
        while e is not None and not isinstance(e, KafkaException):
            e = e.__cause__ or e.__context__
        assert e is not None, "unexpected exception"
        errors.append(e.args[0])
    return len(acked), [e.code() for e in errors]


def test_init_producer_id_for_idempotent_producers(cluster):
    b, admin = cluster
    t = f"idem-{uuid.uuid4().hex[:6]}"
    topics(admin, t)
    # WRITE on a topic is enough without IDEMPOTENT_WRITE on the cluster.
    grant(admin, acl(ResourceType.TOPIC, t, "grace", AclOperation.WRITE))
    assert idempotent_produce(conf(b, "grace"), t) == (1, [])
    # With neither, InitProducerId is refused: CLUSTER_AUTHORIZATION_FAILED.
    grant(admin, acl(ResourceType.TOPIC, t, "heidi", AclOperation.DESCRIBE))
    acked, errors = idempotent_produce(conf(b, "heidi"), t)
    assert acked == 0 and KafkaError.CLUSTER_AUTHORIZATION_FAILED in errors


def test_super_user_ignores_acls(cluster):
    b, admin = cluster
    t = f"su-{uuid.uuid4().hex[:6]}"
    topics(admin, t)
    # Even a DENY does not apply to a super user.
    grant(admin, acl(ResourceType.TOPIC, t, "admin", AclOperation.ALL, permission=DENY))
    assert produce_one(conf(b, "admin"), t) is None
    res = ConfigResource(ConfigResource.Type.BROKER, broker_id(admin))
    assert admin.describe_configs([res])[res].result(20)


def test_acl_changes_apply_to_open_connections(cluster):
    b, admin = cluster
    t = f"live-{uuid.uuid4().hex[:6]}"
    topics(admin, t)
    user = AdminClient(conf(b, "alice"))
    res = ConfigResource(ConfigResource.Type.TOPIC, t)
    assert failure(user.describe_configs([res])[res]) == KafkaError.TOPIC_AUTHORIZATION_FAILED
    binding = acl(ResourceType.TOPIC, t, "alice", AclOperation.DESCRIBE_CONFIGS)
    grant(admin, binding)
    # The same client (the same connection) is allowed at once...
    assert failure(user.describe_configs([res])[res]) is None
    # ...and denied again once the ACL is gone.
    flt = AclBindingFilter(ResourceType.TOPIC, t, LITERAL, "User:alice", "*", AclOperation.DESCRIBE_CONFIGS, ALLOW)
    for f in admin.delete_acls([flt]).values():
        f.result(20)
    assert failure(user.describe_configs([res])[res]) == KafkaError.TOPIC_AUTHORIZATION_FAILED
