"""The Prometheus endpoint (--metrics-addr): after real traffic, the
counters a dashboard would chart show it."""
import re
import resource
import threading
import time
import urllib.request

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from cluster import free_port
from conftest import Broker


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
            # Each shard publishes on its own second: wait for all of them.
            done = total(text, "fjord_fsyncs_total") >= 20 and total(
                text, "fjord_requests_total", api="Produce") >= 20 and total(
                text, "fjord_requests_total", api="Fetch") >= 1
            if done or time.time() > deadline:
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
        # Distributions: one fdatasync latency and one group-commit size
        # sample per acknowledged produce at least.
        assert total(text, "fjord_fsync_latency_seconds_count") >= 20
        assert total(text, "fjord_fsync_latency_seconds_sum") > 0
        assert total(text, "fjord_sync_batch_bytes_count") >= 20
        assert total(text, "fjord_sync_batch_bytes_sum") >= 20 * 1000
        assert re.search(r'^fjord_fsync_latency_seconds_bucket\{[^}]*le="0.00005"', text, re.M)
        assert re.search(r'^fjord_sync_batch_bytes_bucket\{[^}]*le="512"', text, re.M)
    finally:
        b.stop()


def samples(text, name):
    """{shard: value} of a per-shard metric."""
    return {
        m.group(1): float(m.group(2))
        for m in re.finditer(rf'^{name}\{{shard="(\d+)"\}} (\S+)$', text, re.M)
    }


def test_shard_cache_stays_within_its_budget():
    """With a 1 MiB cache per shard, 6 MiB produced to 6 partitions never
    makes a shard hold more than its budget, and consuming everything back
    gives exactly what was produced, at the offsets the producer was told
    (the older data now from the segment files)."""
    budget = 1 << 20
    addr = f"127.0.0.1:{free_port()}"
    b = Broker("--metrics-addr", addr, "--set", f"fjord.batch.cache.bytes={budget}",
               "--set", "num.partitions=6")
    worst = {"used": 0.0, "scrapes": 0}
    done = threading.Event()

    def watch():
        while not done.is_set():
            text = scrape(addr)
            limits = samples(text, "fjord_cache_budget_bytes")
            if 0 in limits.values():  # a shard's first flush is still to come
                time.sleep(0.2)
                continue
            if set(limits.values()) != {budget}:
                worst["wrong_budget"] = limits  # asserted below, not here:
                # an exception in this thread would not fail the test
            for used in samples(text, "fjord_cache_bytes").values():
                worst["used"] = max(worst["used"], used)
            worst["scrapes"] += 1
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    try:
        watcher.start()
        produced = {}

        def delivered(err, msg):
            assert err is None, err
            produced[(msg.partition(), msg.offset())] = msg.value()

        p = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 5,
                      "batch.size": 64 * 1024, "acks": "all"})
        for i in range(6 * 1024):
            p.produce("budgeted", value=f"{i:08d}".encode() * 128, partition=i % 6,
                      on_delivery=delivered)
            p.poll(0)
        assert p.flush(30) == 0
        assert len(produced) == 6 * 1024
        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "budget",
                      "enable.auto.commit": False, "fetch.max.bytes": 4 << 20})
        c.assign([TopicPartition("budgeted", part, 0) for part in range(6)])
        consumed = {}
        deadline = time.time() + 60
        while len(consumed) < len(produced) and time.time() < deadline:
            m = c.poll(1)
            if m is None or m.error():
                continue
            key = (m.partition(), m.offset())
            assert key not in consumed, key
            consumed[key] = m.value()
        c.close()
        assert consumed == produced
        time.sleep(1.5)  # one metrics flush
        done.set()
        watcher.join(10)
        text = scrape(addr)
        assert "wrong_budget" not in worst, worst
        assert worst["scrapes"] > 0 and 0 < worst["used"] <= budget, worst
        assert max(samples(text, "fjord_cache_bytes").values()) <= budget
        assert total(text, "fjord_cache_evictions_total") > 0
        assert total(text, "fjord_cache_misses_total") > 0
    finally:
        done.set()
        b.stop()


def value(text, name):
    """The value of a metric without labels, or None."""
    m = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def test_descriptor_and_partition_gauges():
    """On a one-shard broker started with a soft RLIMIT_NOFILE below the
    hard one: fjord raised the soft limit to the hard one and reports it,
    its open descriptors are within it, and the shard's partition count is
    the created topic's."""
    addr = f"127.0.0.1:{free_port()}"
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lowered = 1024 if hard == resource.RLIM_INFINITY else min(soft, hard, 1024)
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowered, hard))
    try:  # the broker inherits the lowered soft limit
        b = Broker("--metrics-addr", addr, cores=1)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        admin.create_topics([NewTopic("dense", 7, 1)])["dense"].result(30)
        deadline = time.time() + 10
        while True:  # the shard publishes once a second
            text = scrape(addr)
            if samples(text, "fjord_partitions") == {"0": 7} or time.time() > deadline:
                break
            time.sleep(0.5)
        assert samples(text, "fjord_partitions") == {"0": 7}, text
        open_fds, max_fds = value(text, "fjord_open_fds"), value(text, "fjord_max_fds")
        if hard != resource.RLIM_INFINITY:
            assert max_fds == hard, (max_fds, hard)
        assert 0 < open_fds <= max_fds, (open_fds, max_fds)
    finally:
        b.stop()
