"""Real Python clients and kcat against the real broker: what they produce
comes back byte for byte, at the offsets they were acknowledged at."""
import subprocess

from confluent_kafka import Consumer, Producer, TopicPartition
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KTopicPartition


def consume_confluent(bootstrap, topic, partition, count):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, partition, 0)])
    out = []
    while len(out) < count:
        m = c.poll(10)
        assert m is not None, f"timed out after {len(out)} messages"
        assert m.error() is None, m.error()
        out.append(m)
    c.close()
    return out


def test_confluent_kafka_round_trip(broker):
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 5})
    acked = {}
    for i in range(500):
        p.produce("py-ck", key=f"k{i}".encode(), value=f"value-{i}".encode() * 3,
                  headers=[("h", str(i).encode())],
                  on_delivery=lambda err, msg: acked.__setitem__(msg.key(), (err, msg.offset())))
    assert p.flush(30) == 0
    assert all(err is None for err, _ in acked.values())
    msgs = consume_confluent(broker.bootstrap, "py-ck", 0, 500)
    for i, m in enumerate(msgs):
        assert m.offset() == i
        assert m.key() == f"k{i}".encode()
        assert m.value() == f"value-{i}".encode() * 3
        assert m.headers() == [("h", str(i).encode())]
        assert acked[m.key()][1] == i


def test_confluent_kafka_codecs(broker):
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"]:
        topic = f"codec-{codec}"
        p = Producer({"bootstrap.servers": broker.bootstrap, "compression.type": codec, "linger.ms": 20})
        payloads = [(f"{codec}-{i}-" + "x" * (i % 50)).encode() for i in range(300)]
        for v in payloads:
            p.produce(topic, value=v)
        assert p.flush(30) == 0
        got = [m.value() for m in consume_confluent(broker.bootstrap, topic, 0, len(payloads))]
        assert got == payloads, codec


def test_kafka_python_round_trip(broker):
    # kafka-python 3.x enables idempotence by default: InitProducerId + sequences.
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    futures = [p.send("py-kp", key=f"k{i}".encode(), value=f"v{i}".encode(), headers=[("n", str(i).encode())])
               for i in range(200)]
    offsets = [f.get(timeout=30).offset for f in futures]
    p.close()
    assert offsets == list(range(200))
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False, consumer_timeout_ms=10000)
    tp = KTopicPartition("py-kp", 0)
    c.assign([tp])
    c.seek_to_beginning(tp)
    got = []
    for m in c:
        got.append(m)
        if len(got) == 200:
            break
    c.close()
    assert [(m.offset, m.key, m.value, m.headers) for m in got] == [
        (i, f"k{i}".encode(), f"v{i}".encode(), [("n", str(i).encode())]) for i in range(200)]


def test_kcat_produce_and_consume(broker):
    lines = "".join(f"key{i}:val{i}\n" for i in range(100))
    subprocess.run(["kcat", "-b", broker.bootstrap, "-P", "-t", "kcat-t", "-K:"], input=lines, text=True,
                   check=True, timeout=30)
    out = subprocess.run(["kcat", "-b", broker.bootstrap, "-C", "-t", "kcat-t", "-o", "beginning", "-e",
                          "-f", "%k:%s:%o\n"], capture_output=True, text=True, check=True, timeout=30).stdout
    assert out.splitlines() == [f"key{i}:val{i}:{i}" for i in range(100)]


def test_list_offsets_by_time(broker):
    p = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(10):
        p.produce("times", value=b"x", timestamp=1_000_000 + i * 1000)
        p.flush(10)
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused"})
    found = c.offsets_for_times([TopicPartition("times", 0, 1_000_000 + 4500)], timeout=10)
    assert found[0].offset == 5
    lo, hi = c.get_watermark_offsets(TopicPartition("times", 0), timeout=10)
    assert (lo, hi) == (0, 10)
    c.close()


def test_list_offsets_by_time_inside_compressed_batch(broker):
    # All ten records go in one gzip batch: the answer is the exact record,
    # not the batch's first offset.
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 500, "compression.type": "gzip"})
    for i in range(10):
        p.produce("times-batched", value=b"x", timestamp=2_000_000 + i * 1000)
    p.flush(10)
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused"})
    for target, offset in [(2_000_000, 0), (2_000_000 + 6500, 7), (2_000_000 + 9000, 9), (2_000_000 + 9001, -1)]:
        found = c.offsets_for_times([TopicPartition("times-batched", 0, target)], timeout=10)
        assert found[0].offset == offset, (target, found[0].offset)
    c.close()
