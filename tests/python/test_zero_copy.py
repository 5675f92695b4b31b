"""The read path, hot and cold: what a client receives is byte for byte the
batches stored in the segment files, whether the broker sends them from its
batch cache (writev) or from the file (splice), across segment boundaries
and with response limits that cut between batches."""
import glob
import os
import random
import struct

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import Broker
from test_wire import connect, read_frame, request

TOPIC = "zc"


def stored_batches(data_dir, topic, partition):
    """Every batch in the partition's .log files: (segment, base, last, bytes)."""
    out = []
    for path in sorted(glob.glob(os.path.join(data_dir, f"{topic}-{partition}", "*.log"))):
        data = open(path, "rb").read()
        pos = 0
        while pos + 61 <= len(data):
            base, length = struct.unpack_from(">qi", data, pos)
            if length < 49 or (out and base <= out[-1][2]):
                break  # the zero padding after the active segment's last block
            last_delta = struct.unpack_from(">i", data, pos + 23)[0]
            out.append((path, base, base + last_delta, data[pos:pos + 12 + length]))
            pos += 12 + length
    return out


def expected(batches, offset, max_bytes, one_segment):
    """Kafka's answer from whole batches: the batch holding `offset`, then
    following batches while they fit in max_bytes (the first one always).
    A read from disk stops at the end of its segment; the batch cache holds
    the newest batches as one run and does not."""
    first = next(i for i, b in enumerate(batches) if b[2] >= offset)
    out, seg, last = b"", batches[first][0], None
    for path, _, batch_last, data in batches[first:]:
        if (one_segment and path != seg) or (out and len(out) + len(data) > max_bytes):
            break
        out += data
        last = batch_last
    return out, last


def raw_fetch(sock, correlation_id, topic, partition, offset, max_bytes):
    """Fetch v4 by hand; returns (error, high watermark, record bytes)."""
    name = topic.encode()
    body = struct.pack(">iiiib", -1, 100, 1, max_bytes, 0)
    body += struct.pack(">ih", 1, len(name)) + name
    body += struct.pack(">iiqi", 1, partition, offset, max_bytes)
    sock.sendall(request(1, 4, correlation_id, body))
    frame = read_frame(sock)
    (cid,) = struct.unpack_from(">i", frame, 0)
    assert cid == correlation_id
    pos = 4 + 4 + 4  # correlation id, throttle, topic count
    (name_len,) = struct.unpack_from(">h", frame, pos)
    pos += 2 + name_len + 4  # name, partition count
    _, error, hw, _lso, aborted = struct.unpack_from(">ihqqi", frame, pos)
    pos += 4 + 2 + 8 + 8 + 4 + max(aborted, 0) * 16
    (size,) = struct.unpack_from(">i", frame, pos)
    records = frame[pos + 4:pos + 4 + max(size, 0)]
    assert pos + 4 + max(size, 0) == len(frame), "nothing after the records"
    return error, hw, records


def produce(bootstrap, partitions):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(TOPIC, partitions, 1, config={"segment.bytes": str(256 << 10)})])[TOPIC].result(20)
    rng = random.Random(7)
    sent = {p: [] for p in range(partitions)}
    for codec in ("none", "lz4", "zstd"):
        producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 2,
                             "compression.type": codec, "batch.size": 16384})
        for i in range(1500):
            p = i % partitions
            value = bytes(rng.getrandbits(8) for _ in range(rng.choice([10, 300, 900])))
            producer.produce(TOPIC, value=value, key=str(i).encode(), partition=p)
            sent[p].append(value)
            if i % 200 == 0:
                producer.poll(0)
        assert producer.flush(30) == 0
    return sent


def consume_all(bootstrap, partitions, total, extra):
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "zc-check", "enable.auto.commit": False,
                         **extra})
    consumer.assign([TopicPartition(TOPIC, p, 0) for p in range(partitions)])
    got = {p: [] for p in range(partitions)}
    n = 0
    while n < total:
        msg = consumer.poll(10)
        assert msg is not None, f"timed out after {n} of {total} messages"
        assert msg.error() is None, msg.error()
        assert msg.offset() == len(got[msg.partition()]), "offsets contiguous from 0"
        got[msg.partition()].append(msg.value())
        n += 1
    consumer.close()
    return got


def check_raw_fetches(broker, partitions, limits, cold):
    data_dir = os.path.join(broker.dir.name, "data")
    sock = connect(broker)
    cid = 0
    for p in range(partitions):
        batches = stored_batches(data_dir, TOPIC, p)
        assert len({b[0] for b in batches}) > 2, "the data spans several segments"
        end = batches[-1][2] + 1
        for max_bytes in limits:
            offset = 0
            while offset < end:
                cid += 1
                error, hw, records = raw_fetch(sock, cid, TOPIC, p, offset, max_bytes)
                assert error == 0 and hw == end
                want, last = expected(batches, offset, max_bytes, one_segment=cold)
                assert records == want, f"partition {p} offset {offset} max_bytes {max_bytes}"
                offset = last + 1
    sock.close()


def run(extra_args, consumer_settings, cold):
    broker = Broker(*extra_args)
    try:
        partitions = 3
        sent = produce(broker.bootstrap, partitions)
        total = sum(len(v) for v in sent.values())
        got = consume_all(broker.bootstrap, partitions, total, consumer_settings)
        assert got == sent
        check_raw_fetches(broker, partitions, [1, 5000, 64 << 10, 1 << 20], cold)
    finally:
        broker.stop()


def test_cold_reads_come_from_the_files_byte_for_byte():
    # No batch cache: every fetch is served from the segment files.
    run(["--set", "fjord.batch.cache.bytes=0"],
        {"fetch.max.bytes": 70000, "message.max.bytes": 65536, "max.partition.fetch.bytes": 20000}, cold=True)


def test_hot_reads_equal_the_stored_batches():
    # The default cache holds all of this test's data.
    run([], {}, cold=False)


def test_cold_reads_without_splice_return_the_same_bytes():
    # fjord.fetch.splice=false: the same slices, read into memory first.
    run(["--set", "fjord.batch.cache.bytes=0", "--set", "fjord.fetch.splice=false"],
        {"fetch.max.bytes": 70000, "message.max.bytes": 65536, "max.partition.fetch.bytes": 20000}, cold=True)
