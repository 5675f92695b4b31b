"""Asking a broker of a three-node cluster for a partition another node leads,
on the wire: Fetch v16 answers NOT_LEADER_OR_FOLLOWER with KIP-951's
CurrentLeader (the leader and its epoch) and NodeEndpoints (where that
leader listens), and answers at once even when other partitions would wait;
the leader answers the same request with the records and neither field;
ListOffsets and DeleteRecords answer NOT_LEADER_OR_FOLLOWER. The requests
are written by hand: no client library exposes those fields. Harness:
cluster.py."""
import socket
import struct
import time

import pytest
from confluent_kafka import Producer

from cluster import Cluster, new_topic

FETCH, LIST_OFFSETS, METADATA, DELETE_RECORDS = 1, 2, 3, 21
NONE, UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER_OR_FOLLOWER = 0, 3, 6
CURRENT_LEADER_TAG, NODE_ENDPOINTS_TAG = 1, 0
TOPIC, PARTITIONS, RECORDS = "led-elsewhere", 6, 5
ALL = [1, 2, 3]


@pytest.fixture(scope="module")
def cluster():
    """Three nodes and TOPIC, RECORDS records in each of its partitions."""
    c = Cluster().start(3)
    try:
        c.create_topics(1, [new_topic(TOPIC, PARTITIONS)])
        c.wait_agreement(ALL, check=lambda view: TOPIC in view[1] and all(
            leader >= 0 for leader, _, _ in view[1][TOPIC].values()))
        producer = Producer({"bootstrap.servers": c.bootstrap(1), "acks": "all"})
        for p in range(PARTITIONS):
            for k in range(RECORDS):
                producer.produce(TOPIC, value=f"p{p}-{k}".encode(), partition=p)
        assert producer.flush(30) == 0
        yield c
    finally:
        c.cleanup()


from kafka_codec import NO_TAGS, Reader, array, compact_array, compact_str, string


def call(bootstrap, api_key, version, body, flexible, correlation_id=11):
    """One request on a fresh connection; a Reader past the response header."""
    client = b"not-leader-test"
    header = struct.pack(">hhih", api_key, version, correlation_id, len(client)) + client
    if flexible:
        header += NO_TAGS
    host, port = bootstrap.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=15) as sock:
        payload = header + body
        sock.sendall(struct.pack(">i", len(payload)) + payload)
        size = struct.unpack(">i", recv_exact(sock, 4))[0]
        reader = Reader(recv_exact(sock, size))
    assert reader.int32() == correlation_id
    if flexible:
        assert reader.tags() == {}
    return reader


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        assert chunk, "connection closed"
        buf += chunk
    return buf


# --- the APIs --------------------------------------------------------------

def metadata_v12(bootstrap, topic):
    """(topic id, {partition: (leader, leader epoch)}, {node: (host, port, rack)})."""
    body = compact_array([bytes(16) + compact_str(topic) + NO_TAGS]) + struct.pack(">??", False, False) + NO_TAGS
    r = call(bootstrap, METADATA, 12, body, flexible=True)
    r.int32()  # throttle

    def broker():
        b = (r.int32(), r.compact_str(), r.int32(), r.compact_str())
        r.tags()
        return b

    def partition():
        error, index, leader, epoch = r.int16(), r.int32(), r.int32(), r.int32()
        for _ in range(3):  # replicas, isr, offline
            r.compact_array(r.int32)
        r.tags()
        assert error == NONE
        return index, (leader, epoch)

    def topic_():
        error, name, topic_id, _internal = r.int16(), r.compact_str(), r.uuid(), r.take(">?")
        partitions = dict(r.compact_array(partition))
        r.int32()  # authorized operations
        r.tags()
        assert error == NONE and name == topic
        return topic_id, partitions

    brokers = {b[0]: b[1:] for b in r.compact_array(broker)}
    r.compact_str()  # cluster id
    r.int32()  # controller
    [(topic_id, partitions)] = r.compact_array(topic_)
    r.tags()
    r.done()
    return topic_id, partitions, brokers


def fetch_v16(bootstrap, topic_id, partitions, max_wait_ms=0, min_bytes=0):
    """partitions: {index: fetch offset}. Returns ({index: partition data},
    response-level tags)."""
    parts = [struct.pack(">iiqiqi", p, -1, offset, -1, -1, 1 << 20) + NO_TAGS for p, offset in partitions.items()]
    body = struct.pack(">iiibii", max_wait_ms, min_bytes, 1 << 24, 0, 0, -1)
    body += compact_array([topic_id.bytes + compact_array(parts) + NO_TAGS])
    body += compact_array([]) + compact_str("") + NO_TAGS  # forgotten topics, rack id
    r = call(bootstrap, FETCH, 16, body, flexible=True)
    r.int32()  # throttle
    assert r.int16() == NONE
    assert r.int32() == 0  # session id

    def aborted():
        a = (r.int64(), r.int64())
        r.tags()
        return a

    def partition():
        p = {"index": r.int32(), "error": r.int16(), "high_watermark": r.int64(), "last_stable_offset": r.int64(),
             "log_start_offset": r.int64(), "aborted": r.compact_array(aborted), "preferred_read_replica": r.int32(),
             "records": r.compact_bytes()}
        p["tags"] = r.tags()
        return p

    def topic():
        t = (r.uuid(), r.compact_array(partition))
        r.tags()
        return t

    [(got_id, got)] = r.compact_array(topic)
    assert got_id == topic_id
    tags = r.tags()
    r.done()
    return {p["index"]: p for p in got}, tags


def current_leader(raw):
    r = Reader(raw)
    value = (r.int32(), r.int32())
    assert r.tags() == {}
    r.done()
    return value


def node_endpoints(raw):
    r = Reader(raw)

    def endpoint():
        e = (r.int32(), r.compact_str(), r.int32(), r.compact_str())
        assert r.tags() == {}
        return e

    value = r.compact_array(endpoint)
    r.done()
    return value


LATEST, EARLIEST = -1, -2


def list_offsets_v5(bootstrap, topic, partition, timestamp=LATEST):
    """(error, offset, leader epoch)."""
    body = struct.pack(">ib", -1, 0) + array([string(topic) + array([struct.pack(">iiq", partition, -1, timestamp)])])
    r = call(bootstrap, LIST_OFFSETS, 5, body, flexible=False)
    r.int32()  # throttle
    [(name, [(index, error, _timestamp, offset, epoch)])] = r.array(
        lambda: (r.string(), r.array(lambda: (r.int32(), r.int16(), r.int64(), r.int64(), r.int32()))))
    r.done()
    assert (name, index) == (topic, partition)
    return error, offset, epoch


def delete_records_v1(bootstrap, topic, partition, offset):
    """(error, low watermark)."""
    body = array([string(topic) + array([struct.pack(">iq", partition, offset)])]) + struct.pack(">i", 10_000)
    r = call(bootstrap, DELETE_RECORDS, 1, body, flexible=False)
    r.int32()  # throttle
    [(name, [(index, low, error)])] = r.array(lambda: (r.string(), r.array(lambda: (r.int32(), r.int64(), r.int16()))))
    r.done()
    assert (name, index) == (topic, partition)
    return error, low


def pick(c):
    """A partition, its leader A, another node B, and what Metadata says."""
    topic_id, partitions, brokers = metadata_v12(c.bootstrap(1), TOPIC)
    p, (a, epoch) = min(partitions.items())
    b = next(i for i in ALL if i != a)
    # B leads some other partition (leaders are spread over every node).
    own = next(q for q, (leader, _) in sorted(partitions.items()) if leader == b)
    return topic_id, p, a, epoch, b, own, brokers


# --- tests -----------------------------------------------------------------

def test_fetch_from_non_leader_names_leader_and_its_endpoint(cluster):
    c = cluster
    topic_id, p, a, epoch, b, own, brokers = pick(c)
    assert brokers[a] == ("127.0.0.1", c.node(a).port, None)

    # B is asked for A's partition, its own (at its end: nothing to read) and
    # one that does not exist, waiting up to 5 s for a byte: the error
    # answers at once.
    t0 = time.time()
    got, tags = fetch_v16(c.bootstrap(b), topic_id, {p: 0, own: RECORDS, 99: 0}, max_wait_ms=5000, min_bytes=1)
    assert time.time() - t0 < 2, "a partition in error must not wait for data"

    moved = got[p]
    assert moved["error"] == NOT_LEADER_OR_FOLLOWER
    assert (moved["high_watermark"], moved["last_stable_offset"], moved["log_start_offset"]) == (-1, -1, -1)
    assert not moved["records"]
    assert set(moved["tags"]) == {CURRENT_LEADER_TAG}
    assert current_leader(moved["tags"][CURRENT_LEADER_TAG]) == (a, epoch)

    here = got[own]
    assert (here["error"], here["high_watermark"], here["tags"]) == (NONE, RECORDS, {})
    unknown = got[99]
    assert (unknown["error"], unknown["tags"]) == (UNKNOWN_TOPIC_OR_PARTITION, {})

    assert set(tags) == {NODE_ENDPOINTS_TAG}
    assert node_endpoints(tags[NODE_ENDPOINTS_TAG]) == [(a, "127.0.0.1", c.node(a).port, None)]

    # The leader answers the same partition with its records and no KIP-951
    # fields.
    got, tags = fetch_v16(c.bootstrap(a), topic_id, {p: 0})
    led = got[p]
    assert (led["error"], led["high_watermark"], led["tags"], tags) == (NONE, RECORDS, {}, {})
    assert led["records"] and b"p%d-0" % p in led["records"]


def test_list_offsets_and_delete_records_on_non_leader(cluster):
    c = cluster
    _, p, a, _, b, _, _ = pick(c)
    assert list_offsets_v5(c.bootstrap(b), TOPIC, p) == (NOT_LEADER_OR_FOLLOWER, -1, -1)
    error, offset, _ = list_offsets_v5(c.bootstrap(a), TOPIC, p)
    assert (error, offset) == (NONE, RECORDS)

    assert delete_records_v1(c.bootstrap(b), TOPIC, p, 1) == (NOT_LEADER_OR_FOLLOWER, -1)
    # B's refusal deleted nothing; the leader deletes.
    assert list_offsets_v5(c.bootstrap(a), TOPIC, p, EARLIEST)[:2] == (NONE, 0)
    assert delete_records_v1(c.bootstrap(a), TOPIC, p, 1) == (NONE, 1)
    assert list_offsets_v5(c.bootstrap(a), TOPIC, p, EARLIEST)[:2] == (NONE, 1)
