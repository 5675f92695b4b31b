"""kill -9 during an acks=all stream: after restart every acknowledged
message is present exactly once and offsets are contiguous."""
import os
import signal
import subprocess
import threading

from confluent_kafka import Consumer, Producer, TopicPartition

from conftest import FJORD, Broker


def start_on(data_dir):
    proc = subprocess.Popen([FJORD, "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir, "--cores", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    assert line.startswith("fjord listening on "), line
    return proc, line.split()[-1]


def read_all(bootstrap, topic, partitions):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.partition.eof": True})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    out, eof = [], set()
    while len(eof) < partitions:
        m = c.poll(10)
        assert m is not None, "timed out reading back"
        if m.error():
            eof.add(m.partition())
            continue
        out.append(m)
    c.close()
    return out


def test_kill_9_keeps_every_acknowledged_message(tmp_path):
    data = str(tmp_path / "data")
    proc, bootstrap = start_on(data)
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 2,
                  "message.timeout.ms": 5000, "retries": 0})
    acked = set()

    def delivered(err, msg):
        if err is None:
            acked.add(msg.value())

    killer = threading.Timer(1.5, lambda: os.kill(proc.pid, signal.SIGKILL))
    killer.start()
    i = 0
    while proc.poll() is None and i < 2_000_000:
        try:
            p.produce("durable", value=f"m{i:08d}".encode(), on_delivery=delivered)
            i += 1
        except BufferError:
            p.poll(0.01)
        p.poll(0)
    p.flush(10)
    proc.wait()
    assert len(acked) > 0

    proc, bootstrap = start_on(data)
    try:
        msgs = read_all(bootstrap, "durable", 1)
        values = [m.value() for m in msgs]
        assert [m.offset() for m in msgs] == list(range(len(msgs))), "offsets must be contiguous"
        assert len(values) == len(set(values)), "no duplicates"
        missing = acked - set(values)
        assert not missing, f"{len(missing)} acknowledged messages lost"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_partitions_spread_over_shards():
    b = Broker("--set", "num.partitions=16")
    try:
        p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all"})
        for i in range(1600):
            p.produce("wide", value=f"{i}".encode(), partition=i % 16)
        assert p.flush(30) == 0
        msgs = read_all(b.bootstrap, "wide", 16)
        by_partition = {}
        for m in msgs:
            by_partition.setdefault(m.partition(), []).append(int(m.value()))
        assert sorted(by_partition) == list(range(16))
        for part, values in by_partition.items():
            assert values == [v for v in range(1600) if v % 16 == part]
    finally:
        b.stop()
