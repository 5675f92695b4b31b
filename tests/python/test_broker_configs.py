"""DescribeConfigs on the broker: every setting fjord accepts, with its value,
source, read-only flag and synonyms (confluent-kafka's AdminClient), and its
type and documentation (KIP-569) through a raw DescribeConfigs v4 request,
which no client library here exposes. Topic configs carry their types too."""
import struct

from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource,
                                   NewTopic, ResourceType)

from conftest import Broker
import kafka_codec
from kafka_codec import compact_str, uvarint
from test_wire import connect, read_frame

DYNAMIC_BROKER = ConfigSource.DYNAMIC_BROKER_CONFIG.value
STATIC_BROKER = ConfigSource.STATIC_BROKER_CONFIG.value
DEFAULT = ConfigSource.DEFAULT_CONFIG.value
# KIP-569's ConfigType codes.
BOOLEAN, STRING, INT, LONG, DOUBLE, LIST = 1, 2, 3, 5, 6, 7
DESCRIBE_CONFIGS, BROKER, TOPIC = 32, 4, 2


def describe_broker(admin, name="0"):
    r = ConfigResource(ResourceType.BROKER, name)
    return admin.describe_configs([r])[r].result(20)


def test_broker_lists_every_setting_with_its_source():
    b = Broker("--set", "log.retention.ms=3600000", "--set", "num.partitions=3")
    try:
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        c = describe_broker(admin)

        segment = c["log.segment.bytes"]
        assert (segment.value, segment.source) == ("1073741824", DEFAULT)
        assert segment.is_default and segment.is_read_only
        given = c["log.retention.ms"]
        assert (given.value, given.source) == ("3600000", STATIC_BROKER)
        assert not given.is_default and given.is_read_only
        assert {n: (s.value, s.source) for n, s in given.synonyms.items()} == {
            "log.retention.ms": ("3600000", STATIC_BROKER), "log.retention.hours": ("168", DEFAULT)}
        assert c["num.partitions"].source == STATIC_BROKER

        for name in ("node.id", "broker.id", "process.roles", "controller.quorum.voters", "listeners",
                     "advertised.listeners", "controller.listener.names"):
            assert c[name].is_read_only, name
        assert c["node.id"].value == "0" and "broker.id" in c["node.id"].synonyms
        assert c["process.roles"].value == "broker,controller"
        assert c["advertised.listeners"].value == f"PLAINTEXT://{b.bootstrap}"
        assert c["advertised.listeners"].source == STATIC_BROKER
        assert c["listeners"].value == f"PLAINTEXT://{b.bootstrap}"
        assert c["controller.listener.names"].value == "CONTROLLER"

        # Kafka's run-time configs are listed, writable, with their defaults...
        threads = c["background.threads"]
        assert (threads.value, threads.source, threads.is_read_only) == ("10", DEFAULT, False)
        # ...or the value stored for this broker.
        r = ConfigResource(ResourceType.BROKER, "0", incremental_configs=[
            ConfigEntry("background.threads", "4", incremental_operation=AlterConfigOpType.SET)])
        admin.incremental_alter_configs([r])[r].result(20)
        threads = describe_broker(admin)["background.threads"]
        assert (threads.value, threads.source) == ("4", DYNAMIC_BROKER)

        # A topic without overrides takes the broker's value, from its source.
        admin.create_topics([NewTopic("plain", 1, 1)])["plain"].result(20)
        t = ConfigResource(ConfigResource.Type.TOPIC, "plain")
        topic = admin.describe_configs([t])[t].result(20)
        assert (topic["retention.ms"].value, topic["retention.ms"].source) == ("3600000", STATIC_BROKER)
        assert (topic["segment.bytes"].value, topic["segment.bytes"].source) == ("1073741824", DEFAULT)
    finally:
        b.stop()


# --- a raw DescribeConfigs v4 (flexible) request and its answer -----------

def describe_v4(sock, resources, documentation, synonyms=False, correlation_id=7):
    """resources: [(resource_type, name, keys or None)]."""
    body = uvarint(len(resources) + 1)
    for rtype, name, keys in resources:
        body += struct.pack(">b", rtype) + compact_str(name)
        if keys is None:
            body += uvarint(0)
        else:
            body += uvarint(len(keys) + 1) + b"".join(compact_str(k) for k in keys)
        body += uvarint(0)  # tagged fields
    body += struct.pack(">??", synonyms, documentation) + uvarint(0)
    client = b"wire-test"
    header = struct.pack(">hhih", DESCRIBE_CONFIGS, 4, correlation_id, len(client)) + client + uvarint(0)
    sock.sendall(struct.pack(">i", len(header) + len(body)) + header + body)
    reader = Reader(read_frame(sock))
    assert reader.int32() == correlation_id
    reader.tags()
    return reader.describe_configs_response()


class Reader(kafka_codec.Reader):
    """DescribeConfigs v4 (flexible): strings and arrays are compact."""

    def string(self):
        return self.compact_str()

    def array(self, item):
        return self.compact_array(item)

    def describe_configs_response(self):
        self.int32()  # throttle
        results = self.array(self.result)
        self.tags()
        return results

    def result(self):
        r = {"error_code": self.take(">h"), "error_message": self.string(), "resource_type": self.take(">b"),
             "resource_name": self.string(), "configs": {c["name"]: c for c in self.array(self.config)}}
        self.tags()
        return r

    def config(self):
        c = {"name": self.string(), "value": self.string(), "read_only": self.take(">?"),
             "source": self.take(">b"), "sensitive": self.take(">?"), "synonyms": self.array(self.synonym),
             "type": self.take(">b"), "documentation": self.string()}
        self.tags()
        return c

    def synonym(self):
        s = {"name": self.string(), "value": self.string(), "source": self.take(">b")}
        self.tags()
        return s


def test_describe_configs_v4_has_types_and_documentation():
    b = Broker("--advertise", "broker.example:19092")
    try:
        keys = ["log.segment.bytes", "log.retention.ms", "log.cleaner.min.cleanable.ratio", "process.roles",
                "auto.create.topics.enable", "listeners", "advertised.listeners", "no.such.setting"]
        with connect(b) as sock:
            [r] = describe_v4(sock, [(BROKER, "0", keys)], documentation=True, synonyms=True)
            assert r["error_code"] == 0
            c = r["configs"]
            assert set(c) == set(keys) - {"no.such.setting"}, "only the keys asked for; unknown ones left out"
            assert {n: e["type"] for n, e in c.items()} == {
                "log.segment.bytes": INT, "log.retention.ms": LONG, "log.cleaner.min.cleanable.ratio": DOUBLE,
                "process.roles": LIST, "auto.create.topics.enable": BOOLEAN, "listeners": STRING,
                "advertised.listeners": STRING}
            assert all(e["documentation"] for e in c.values()), c
            assert all(e["read_only"] and not e["sensitive"] for e in c.values())
            assert c["advertised.listeners"]["value"] == "PLAINTEXT://broker.example:19092"
            assert c["listeners"]["value"] == f"PLAINTEXT://{b.bootstrap}"
            assert c["log.segment.bytes"]["synonyms"] == [
                {"name": "log.segment.bytes", "value": "1073741824", "source": DEFAULT}]

            # Without include_documentation there is none; "" asks for the
            # cluster's defaults, which Kafka allows too.
            [r, defaults] = describe_v4(sock, [(BROKER, "0", ["log.segment.bytes"]), (BROKER, "", None)],
                                        documentation=False)
            entry = r["configs"]["log.segment.bytes"]
            assert (entry["type"], entry["documentation"], entry["synonyms"]) == (INT, None, [])
            assert defaults["error_code"] == 0 and "num.partitions" in defaults["configs"]
    finally:
        b.stop()


def test_topic_configs_carry_their_types(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("typed", 1, 1, config={"retention.ms": "60000"})])["typed"].result(20)
    with connect(broker) as sock:
        [r] = describe_v4(sock, [(TOPIC, "typed", None)], documentation=True)
    c = r["configs"]
    assert r["error_code"] == 0 and "flush.ms" in c
    assert {n: c[n]["type"] for n in ("segment.bytes", "retention.ms", "cleanup.policy",
                                      "min.cleanable.dirty.ratio", "compression.type")} == {
        "segment.bytes": INT, "retention.ms": LONG, "cleanup.policy": LIST, "min.cleanable.dirty.ratio": DOUBLE,
        "compression.type": STRING}
    assert all(e["documentation"] and e["type"] for e in c.values()), c
    assert (c["retention.ms"]["value"], c["retention.ms"]["source"]) == ("60000", 1)  # DYNAMIC_TOPIC_CONFIG
