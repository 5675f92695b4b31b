"""The Prometheus endpoint (--metrics-addr): after real traffic, the
counters a dashboard would chart show it."""
import re
import socket
import time
import urllib.request

from confluent_kafka import Consumer, Producer, TopicPartition

from conftest import Broker


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(addr):
    with urllib.request.urlopen(f"http://{addr}/metrics", timeout=10) as r:
        assert r.status == 200
        return r.read().decode()


def total(text, name, **labels):
    """Sum of a metric's samples whose labels include `labels`."""
    out = 0.0
    for line in text.splitlines():
        m = re.match(rf"^{name}\{{([^}}]*)\}} (\S+)$", line)
        if not m:
            continue
        have = dict(kv.split("=", 1) for kv in m.group(1).split(","))
        if all(have.get(k) == f'"{v}"' for k, v in labels.items()):
            out += float(m.group(2))
    return out


def test_metrics_endpoint_counts_traffic():
    addr = f"127.0.0.1:{free_port()}"
    b = Broker("--metrics-addr", addr)
    try:
        p = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 0})
        for i in range(20):
            p.produce("metered", value=b"x" * 1000)
            p.flush(10)
        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "m", "enable.partition.eof": True})
        c.assign([TopicPartition("metered", 0, 0)])
        got = 0
        while got < 20:
            m = c.poll(10)
            assert m is not None
            if not m.error():
                got += 1
        c.close()
        deadline = time.time() + 10
        while True:  # shards publish once a second
            text = scrape(addr)
            if total(text, "fjord_fsyncs_total") >= 20 or time.time() > deadline:
                break
            time.sleep(0.5)
        assert total(text, "fjord_requests_total", api="Produce") >= 20
        assert total(text, "fjord_requests_total", api="Fetch") >= 1
        assert total(text, "fjord_produce_bytes_total") >= 20 * 1000
        assert total(text, "fjord_fetch_bytes_total") >= 20 * 1000
        assert total(text, "fjord_produce_latency_seconds_count") >= 20
        assert "fjord_connections" in text and "fjord_cross_shard_messages_total" in text
        # Each acks=1 produce above was fdatasync'ed before its answer.
        assert total(text, "fjord_fsyncs_total") >= 20
        assert total(text, "fjord_log_written_bytes_total") >= 20 * 1000
        assert total(text, "fjord_fsync_microseconds_total") > 0
        assert total(text, "fjord_cache_hits_total") + total(text, "fjord_cache_misses_total") >= 1
    finally:
        b.stop()
