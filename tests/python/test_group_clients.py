"""Each client's consumer group does a join, consume, commit and resume:
kcat -G (Debian's librdkafka 2.0), confluent-kafka and kafka-python. Also
the errors a bad commit gets."""
import subprocess

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from kafka import KafkaConsumer

from conftest import Broker


@pytest.fixture
def fast_broker():
    b = Broker("--set", "group.initial.rebalance.delay.ms=0", "--set", "num.partitions=2")
    yield b
    b.stop()


def produce(bootstrap, topic, values):
    p = Producer({"bootstrap.servers": bootstrap})
    for v in values:
        p.produce(topic, value=v.encode())
    assert p.flush(20) == 0


def kcat_group(bootstrap, group, topic):
    out = subprocess.run(["kcat", "-b", bootstrap, "-G", group, "-X", "auto.offset.reset=earliest",
                          "-X", "session.timeout.ms=6000", "-e", "-q", "-f", "%s\n", topic],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return sorted(out.split())


def test_kcat_group_resumes_after_commit(fast_broker):
    b = fast_broker
    produce(b.bootstrap, "kg", [f"a{i}" for i in range(10)])
    assert kcat_group(b.bootstrap, "kcat-g", "kg") == sorted(f"a{i}" for i in range(10))
    produce(b.bootstrap, "kg", [f"b{i}" for i in range(5)])
    # kcat commits on exit; the second run starts after the first's end.
    assert kcat_group(b.bootstrap, "kcat-g", "kg") == sorted(f"b{i}" for i in range(5))


def test_confluent_kafka_group_resumes_after_commit(fast_broker):
    b = fast_broker
    produce(b.bootstrap, "cg", [f"v{i}" for i in range(20)])

    def run(count):
        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "ck-g", "auto.offset.reset": "earliest",
                      "enable.auto.commit": False})
        c.subscribe(["cg"])
        got = []
        while len(got) < count:
            m = c.poll(10)
            assert m is not None, f"timed out after {got}"
            if not m.error():
                got.append(m.value().decode())
                c.commit(message=m, asynchronous=False)
        c.close()
        return got

    first = run(12)
    second = run(8)
    assert sorted(first + second) == sorted(f"v{i}" for i in range(20))


def test_kafka_python_group_resumes_after_commit(fast_broker):
    b = fast_broker
    produce(b.bootstrap, "kp", [f"v{i}" for i in range(20)])

    def run(count):
        c = KafkaConsumer("kp", bootstrap_servers=b.bootstrap, group_id="kp-g", auto_offset_reset="earliest",
                          enable_auto_commit=False, consumer_timeout_ms=15000)
        got = []
        for m in c:
            got.append(m.value.decode())
            if len(got) == count:
                break
        c.commit()
        c.close()
        return got

    first = run(12)
    second = run(8)
    assert sorted(first + second) == sorted(f"v{i}" for i in range(20))


def test_bad_commits_get_kafka_errors(fast_broker):
    b = fast_broker
    produce(b.bootstrap, "bc", ["x"])
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "bad-g", "enable.auto.commit": False})
    with pytest.raises(KafkaException) as e:
        c.commit(offsets=[TopicPartition("no-such-topic", 0, 5)], asynchronous=False)
    assert "UNKNOWN_TOPIC_OR_PART" in str(e.value)
    big = TopicPartition("bc", 0, 1, "m" * 5000)  # over offset.metadata.max.bytes (4096)
    with pytest.raises(KafkaException) as e:
        c.commit(offsets=[big], asynchronous=False)
    assert "OFFSET_METADATA_TOO_LARGE" in str(e.value)
    # Nothing was stored by the failed commits; a good one is.
    assert c.committed([TopicPartition("bc", 0)], timeout=10)[0].offset < 0
    ok = TopicPartition("bc", 0, 1, "fine")
    c.commit(offsets=[ok], asynchronous=False)
    got = c.committed([TopicPartition("bc", 0)], timeout=10)[0]
    assert (got.offset, got.metadata) == (1, "fine")
    c.close()
