"""Topic configuration and partitions at run time, through confluent-kafka's
AdminClient and kafka-python's KafkaAdminClient: create with configs,
incremental and legacy alter, describe with sources, CreatePartitions, the
produce errors a topic's rules cause, and everything surviving a restart."""
import struct
import subprocess
import time

import pytest
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewPartitions,
                                   NewTopic)
from kafka.admin import ConfigResource as KpConfigResource
from kafka.admin import ConfigResourceType, KafkaAdminClient
from kafka.admin import NewPartitions as KpNewPartitions
from kafka.admin import NewTopic as KpNewTopic

from conftest import Broker, listening_address
from test_wire import connect, read_frame, request


def describe(admin, topic):
    r = ConfigResource(ConfigResource.Type.TOPIC, topic)
    return admin.describe_configs([r])[r].result(20)


def restart(b):
    args = b.proc.args
    b.proc.terminate()
    b.proc.wait(timeout=20)
    b.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=b.log, text=True)
    b.bootstrap = listening_address(b.proc)


def test_configs_round_trip_and_survive_restart(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("cfg", 2, 1, config={"retention.ms": "3600000", "max.message.bytes": "2000"})])[
        "cfg"].result(20)
    c = describe(admin, "cfg")
    assert c["retention.ms"].value == "3600000"
    assert c["retention.ms"].source == ConfigResource.Type.TOPIC.value or c["retention.ms"].source == 1
    assert c["segment.bytes"].value == "1073741824" and c["segment.bytes"].is_default

    r = ConfigResource(ConfigResource.Type.TOPIC, "cfg", incremental_configs=[
        ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.APPEND),
        ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE),
        ConfigEntry("segment.bytes", "1048576", incremental_operation=AlterConfigOpType.SET),
    ])
    admin.incremental_alter_configs([r])[r].result(20)
    c = describe(admin, "cfg")
    assert c["cleanup.policy"].value == "delete,compact"
    assert c["retention.ms"].value == "604800000"  # back to the broker default
    assert c["segment.bytes"].value == "1048576"

    bad = ConfigResource(ConfigResource.Type.TOPIC, "cfg", incremental_configs=[
        ConfigEntry("segment.bytes", "2097152", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("retention.ms", "later", incremental_operation=AlterConfigOpType.SET),
    ])
    with pytest.raises(KafkaException) as e:
        admin.incremental_alter_configs([bad])[bad].result(20)
    assert "retention.ms" in str(e.value)
    assert describe(admin, "cfg")["segment.bytes"].value == "1048576", "a refused change changes nothing"

    restart(broker)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    c = describe(admin, "cfg")
    assert (c["cleanup.policy"].value, c["segment.bytes"].value, c["max.message.bytes"].value) == (
        "delete,compact", "1048576", "2000")


def test_create_partitions_and_producers_use_them(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("grow", 2, 1)])["grow"].result(20)
    admin.create_partitions([NewPartitions("grow", 6)])["grow"].result(20)
    assert len(admin.list_topics(timeout=10).topics["grow"].partitions) == 6
    with pytest.raises(KafkaException) as e:
        admin.create_partitions([NewPartitions("grow", 3)])["grow"].result(20)
    assert "INVALID_PARTITIONS" in str(e.value)

    p = Producer({"bootstrap.servers": broker.bootstrap, "topic.metadata.refresh.interval.ms": 500})
    used = set()
    delivered = lambda err, msg: used.add(msg.partition()) if err is None else None
    for i in range(200):
        p.produce("grow", key=str(i), value=b"v", on_delivery=delivered)
    p.flush(20)
    assert used == set(range(6)), used


def test_topic_rules_refuse_bad_produce(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([
        NewTopic("small", 1, 1, config={"max.message.bytes": "1000"}),
        NewTopic("compacted", 1, 1, config={"cleanup.policy": "compact"}),
        NewTopic("recent", 1, 1, config={"message.timestamp.before.max.ms": "60000"}),
    ])["recent"].result(20)
    time.sleep(0.5)

    def produce(topic, **kw):
        p = Producer({"bootstrap.servers": broker.bootstrap, "retries": 0, "linger.ms": 0})
        errors = []
        p.produce(topic, on_delivery=lambda err, _m: errors.append(err), **kw)
        p.flush(20)
        return errors[0]

    assert produce("small", value=b"x" * 2000).name() == "MSG_SIZE_TOO_LARGE"
    assert produce("small", value=b"x" * 10) is None
    assert produce("compacted", value=b"no key").name() == "INVALID_RECORD"
    assert produce("compacted", key=b"k", value=b"v") is None
    hour_ago = int(time.time() * 1000) - 3_600_000
    assert produce("recent", value=b"old", timestamp=hour_ago).name() == "INVALID_TIMESTAMP"
    assert produce("recent", value=b"new") is None


def test_kafka_python_admin(broker):
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    admin.create_topics([KpNewTopic("kp-admin", 1, 1, topic_configs={"retention.bytes": "123456"})])
    admin.alter_configs([KpConfigResource(ConfigResourceType.TOPIC, "kp-admin", configs={"retention.bytes": "654321"})])
    admin.create_partitions({"kp-admin": KpNewPartitions(3)})
    described = admin.describe_configs([KpConfigResource(ConfigResourceType.TOPIC, "kp-admin")])
    text = str(described)
    assert "654321" in text, text
    meta = AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=10)
    assert len(meta.topics["kp-admin"].partitions) == 3
    admin.close()


def test_broker_and_group_dynamic_configs_survive_restart(broker):
    """Kafka's run-time broker and group configs: those that mean nothing to
    fjord are stored and described; settings fjord acts on stay static."""
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    b = ConfigResource(ConfigResource.Type.BROKER, "0", incremental_configs=[
        ConfigEntry("sasl.kerberos.min.time.before.relogin", "58000", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([b])[b].result(20)
    static = ConfigResource(ConfigResource.Type.BROKER, "0", incremental_configs=[
        ConfigEntry("log.retention.ms", "1000", incremental_operation=AlterConfigOpType.SET)])
    with pytest.raises(KafkaException) as e:
        admin.incremental_alter_configs([static])[static].result(20)
    assert "static" in str(e.value)
    g = ConfigResource(ConfigResource.Type.GROUP, "my-group", incremental_configs=[
        ConfigEntry("consumer.session.timeout.ms", "50000", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([g])[g].result(20)
    too_long = ConfigResource(ConfigResource.Type.GROUP, "my-group", incremental_configs=[
        ConfigEntry("consumer.session.timeout.ms", "90000", incremental_operation=AlterConfigOpType.SET)])
    with pytest.raises(KafkaException):
        admin.incremental_alter_configs([too_long])[too_long].result(20)

    restart(broker)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    rb = ConfigResource(ConfigResource.Type.BROKER, "0")
    assert admin.describe_configs([rb])[rb].result(20)["sasl.kerberos.min.time.before.relogin"].value == "58000"
    rg = ConfigResource(ConfigResource.Type.GROUP, "my-group")
    group = admin.describe_configs([rg])[rg].result(20)
    assert group["consumer.session.timeout.ms"].value == "50000"
    assert group["consumer.heartbeat.interval.ms"].value == "5000"
    other = ConfigResource(ConfigResource.Type.GROUP, "never-seen")
    assert admin.describe_configs([other])[other].result(20)["consumer.session.timeout.ms"].value == "45000"


def test_cluster_wide_broker_defaults(broker):
    """The BROKER resource named "" holds the cluster-wide run-time defaults:
    a broker's own value wins, the default shows where there is none."""
    # The clients refuse an empty broker name (kafka-configs.sh's
    # --entity-default sends it): AlterConfigs v0 by hand.
    def string(s):
        return struct.pack(">h", len(s)) + s
    configs = [(b"max.connections", b"500"), (b"background.threads", b"6")]
    body = (struct.pack(">ib", 1, 4) + string(b"") + struct.pack(">i", len(configs))
            + b"".join(string(k) + string(v) for k, v in configs) + b"\0")
    with connect(broker) as sock:
        sock.sendall(request(33, 0, 1, body))
        frame = read_frame(sock)
    correlation_id, _, count, error_code = struct.unpack(">iiih", frame[:14])
    assert (correlation_id, count, error_code) == (1, 1, 0)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    own = ConfigResource(ConfigResource.Type.BROKER, "0", incremental_configs=[
        ConfigEntry("background.threads", "4", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([own])[own].result(20)
    rb = ConfigResource(ConfigResource.Type.BROKER, "0")
    configs = admin.describe_configs([rb])[rb].result(20)
    assert configs["max.connections"].value == "500"
    assert configs["max.connections"].source == 3  # DYNAMIC_DEFAULT_BROKER_CONFIG
    assert configs["background.threads"].value == "4"
    assert configs["background.threads"].source == 2  # DYNAMIC_BROKER_CONFIG
