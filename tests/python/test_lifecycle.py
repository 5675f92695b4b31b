"""Storage lifecycle against the real binary: retention by size and time,
DeleteRecords, and compaction (latest value per key, tombstones, kill -9
mid-compaction), observed the way a client sees them: watermarks and the
records a consumer reads back."""
import os
import signal
import subprocess
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import Broker

FAST = ["--set", "log.retention.check.interval.ms=200", "--set", "log.cleaner.backoff.ms=200"]


def create(bootstrap, topic, partitions=1, **configs):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1, config={k.replace("_", "."): str(v) for k, v in configs.items()})])[
        topic].result(20)


def watermarks(bootstrap, topic, partition=0):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "wm"})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
    finally:
        c.close()


def wait_for(predicate, timeout=30, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def read_all(bootstrap, topic, start=None):
    """Every record of partition 0 from `start` (default: the earliest, via
    auto.offset.reset) to the high watermark: (offset, key, value)."""
    low, high = watermarks(bootstrap, topic)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader", "auto.offset.reset": "earliest",
                  "enable.partition.eof": True})
    c.assign([TopicPartition(topic, 0, start if start is not None else low)])
    out = []
    deadline = time.time() + 30
    while time.time() < deadline:
        m = c.poll(1)
        if m is None:
            continue
        if m.error():
            if out and out[-1][0] >= high - 1 or not out and low == high:
                break
            continue
        out.append((m.offset(), m.key(), m.value()))
        if m.offset() >= high - 1:
            break
    c.close()
    return out


def produce(bootstrap, topic, records, **conf):
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, **conf})
    for key, value, *ts in records:
        p.produce(topic, key=key, value=value, timestamp=ts[0] if ts else 0)
    assert p.flush(30) == 0


def test_retention_by_size_moves_the_earliest_offset():
    b = Broker(*FAST)
    try:
        create(b.bootstrap, "by-size", segment_bytes=16384, retention_bytes=40000)
        produce(b.bootstrap, "by-size", [(None, b"x" * 1000) for _ in range(200)], **{"batch.size": 4000})
        # Retention may also run mid-produce; wait for the pass after the last
        # append (200 KB kept to 40 KB leaves the start past offset 100).
        low, high = wait_for(lambda: (lambda w: w if w[0] >= 100 else None)(watermarks(b.bootstrap, "by-size")),
                             what="retention by size")
        assert high == 200 and 100 <= low < 200
        # A consumer asking for offset 0 (below the start) is reset to the
        # earliest offset (auto.offset.reset=earliest) and reads from there.
        got = read_all(b.bootstrap, "by-size", start=0)
        assert got[0][0] >= low and got[-1][0] == 199
        assert [o for o, _, _ in got] == list(range(got[0][0], 200))
    finally:
        b.stop()


def test_retention_by_time_removes_old_segments():
    b = Broker(*FAST)
    try:
        create(b.bootstrap, "by-time", retention_ms=60000)
        old = int(time.time() * 1000) - 600_000
        produce(b.bootstrap, "by-time", [(None, b"old", old) for _ in range(50)])
        low, _ = wait_for(lambda: (lambda w: w if w[0] == 50 else None)(watermarks(b.bootstrap, "by-time")),
                          what="retention by time")
        produce(b.bootstrap, "by-time", [(None, b"new")])
        assert read_all(b.bootstrap, "by-time") == [(50, None, b"new")]
    finally:
        b.stop()


def test_delete_records_moves_start_and_survives_restart():
    b = Broker()
    try:
        create(b.bootstrap, "trim")
        produce(b.bootstrap, "trim", [(None, str(i).encode()) for i in range(30)])
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        res = admin.delete_records([TopicPartition("trim", 0, 17)])
        deleted = list(res.values())[0].result(20)
        assert deleted.low_watermark == 17
        assert watermarks(b.bootstrap, "trim") == (17, 30)
        args = b.proc.args
        b.proc.send_signal(signal.SIGKILL)
        b.proc.wait()
        b.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=b.log, text=True)
        b.bootstrap = b.proc.stdout.readline().split()[-1]
        assert watermarks(b.bootstrap, "trim") == (17, 30)
        assert [v for _, _, v in read_all(b.bootstrap, "trim")] == [str(i).encode() for i in range(17, 30)]
    finally:
        b.stop()


KEYS = 1000


def compacted_topic(bootstrap, topic):
    create(bootstrap, topic, cleanup_policy="compact", segment_bytes=262144, segment_ms=1000,
           min_cleanable_dirty_ratio="0.01", delete_retention_ms=2000)


def fill(bootstrap, topic, total=100_000):
    """`total` updates over KEYS keys, alternating uncompressed, lz4 and zstd
    producers; returns each key's latest value."""
    latest = {}
    step = total // 4
    for n, codec in enumerate(["none", "lz4", "zstd", "none"]):
        records = []
        for i in range(n * step, (n + 1) * step):
            key = f"k{i % KEYS}".encode()
            value = f"v{i}".encode()
            records.append((key, value))
            latest[key] = value
        produce(bootstrap, topic, records, **{"compression.type": codec})
    return latest


def roll(bootstrap, topic, key):
    """segment.ms is 1 s: a record after that rolls the active segment so
    everything before it becomes cleanable."""
    time.sleep(1.2)
    produce(bootstrap, topic, [(key, b"roll")])


def test_compaction_keeps_latest_value_per_key_and_drops_tombstones():
    b = Broker(*FAST)
    try:
        compacted_topic(b.bootstrap, "table")
        latest = fill(b.bootstrap, "table")
        produce(b.bootstrap, "table", [(b"k0", None)])  # tombstone
        del latest[b"k0"]
        roll(b.bootstrap, "table", b"sentinel")

        def compacted():
            got = read_all(b.bootstrap, "table")
            return got if len(got) <= KEYS + 1 else None

        got = wait_for(compacted, timeout=60, what="compaction")
        offsets = [o for o, _, _ in got]
        assert offsets == sorted(set(offsets)), "offsets stay increasing and unique"
        values = {k: v for _, k, v in got if k != b"sentinel"}
        assert values.pop(b"k0", "absent") is None, "the tombstone is kept for now"
        assert values == latest, "exactly the latest value per key"

        # After delete.retention.ms, the next cleaning drops the tombstone.
        time.sleep(2.5)
        # Enough new updates to make the log dirty again.
        produce(b.bootstrap, "table", [(b"k1", f"newer{i}".encode()) for i in range(200)])
        latest[b"k1"] = b"newer199"
        roll(b.bootstrap, "table", b"sentinel2")
        got = wait_for(lambda: (lambda g: g if all(k != b"k0" for _, k, _ in g) else None)(read_all(b.bootstrap, "table")),
                       timeout=60, what="tombstone removal")
        values = {k: v for _, k, v in got if not k.startswith(b"sentinel")}
        assert values == latest
    finally:
        b.stop()


def test_kill_9_during_compaction_leaves_a_consistent_log():
    b = Broker(*FAST)
    try:
        compacted_topic(b.bootstrap, "crashy")
        latest = fill(b.bootstrap, "crashy")
        args = b.proc.args
        for delay in (0.05, 0.3, 0.8):
            roll(b.bootstrap, "crashy", b"sentinel")
            time.sleep(delay)
            b.proc.send_signal(signal.SIGKILL)
            b.proc.wait()
            b.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=b.log, text=True)
            b.bootstrap = b.proc.stdout.readline().split()[-1]
            got = read_all(b.bootstrap, "crashy")
            offsets = [o for o, _, _ in got]
            assert offsets == sorted(set(offsets))
            values = {}
            for _, k, v in got:
                values[k] = v
            values.pop(b"sentinel", None)
            assert values == latest, f"after a kill at +{delay}s every key still reads its latest value"
    finally:
        b.stop()
