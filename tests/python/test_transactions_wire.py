"""Transactions on the wire, below the coordinator: transactional batches
are refused unless a transaction coordinator began their transaction
(Kafka's KIP-890 verification answers INVALID_TXN_STATE), so a made-up
producer cannot hold a read_committed consumer back; and
WriteTxnMarkers, which coordinators send to partition leaders, appends
markers that consumers skip, refusing a marker of an older producer
epoch."""
import struct
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka.record.default_records import DefaultRecordBatchBuilder

from kafka_codec import Reader, uvarint
from test_wire import connect, read_frame, request

INVALID_TXN_STATE = 48
INVALID_PRODUCER_EPOCH = 47


def batch(transactional, value, producer_id=-1, epoch=-1, sequence=-1):
    b = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=transactional,
                                  producer_id=producer_id, producer_epoch=epoch, base_sequence=sequence,
                                  batch_size=1 << 20)
    b.append(0, timestamp=1000, key=None, value=value, headers=[])
    return bytes(b.build())


def read_committed(broker, topic, n):
    """The first `n` (offset, value) a read_committed consumer (librdkafka's
    default) reads from partition 0, and its watermarks."""
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": f"g-{topic}",
                  "auto.offset.reset": "earliest", "isolation.level": "read_committed"})
    c.subscribe([topic])
    got = []
    try:
        while len(got) < n:
            m = c.poll(10)
            assert m is not None, f"read_committed consumer stalled after {got}"
            if m.error() is None:
                got.append((m.offset(), m.value()))
        return got, c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    finally:
        c.close()


def produce_v3(sock, topic, records, correlation_id, partition=0, transactional_id=b"t"):
    """One partition, acks=1; returns its error code."""
    name = topic.encode()
    body = struct.pack(">h", len(transactional_id)) + transactional_id
    body += struct.pack(">hi", 1, 10000)  # acks, timeout
    body += struct.pack(">ih", 1, len(name)) + name
    body += struct.pack(">iii", 1, partition, len(records)) + records
    sock.sendall(request(0, 3, correlation_id, body))
    frame = read_frame(sock)
    assert frame is not None, "connection closed instead of a produce response"
    (cid,) = struct.unpack(">i", frame[:4])
    assert cid == correlation_id
    # responses: [topic name, [partition, error_code, base_offset, log_append_time]]
    at = 4
    (topics,) = struct.unpack(">i", frame[at:at + 4])
    at += 4
    assert topics == 1
    (name_len,) = struct.unpack(">h", frame[at:at + 2])
    at += 2 + name_len
    (parts,) = struct.unpack(">i", frame[at:at + 4])
    at += 4
    assert parts == 1
    _index, error_code = struct.unpack(">ih", frame[at:at + 6])
    return error_code


def test_transactional_batches_without_a_transaction_are_refused(broker):
    topic = f"txg-{uuid.uuid4().hex[:6]}"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(20)
    with connect(broker) as s:
        assert produce_v3(s, topic, batch(True, b"in a transaction", producer_id=5, epoch=0, sequence=0), 11) == INVALID_TXN_STATE
        # A plain batch on the same connection is stored as before.
        assert produce_v3(s, topic, batch(False, b"plain"), 12) == 0

    # A read_committed consumer (librdkafka's default) reads the plain
    # record: no open transaction holds the last stable offset back.
    p = Producer({"bootstrap.servers": broker.bootstrap})
    p.produce(topic, b"after")
    p.flush(10)
    got, _ = read_committed(broker, topic, 2)
    assert got == [(0, b"plain"), (1, b"after")]


def write_marker(sock, topic, producer_id, epoch, commit, correlation_id):
    """WriteTxnMarkers v1 (flexible) for partition 0; returns its error code."""
    name = topic.encode()
    body = uvarint(2)  # one marker
    body += struct.pack(">qhb", producer_id, epoch, 1 if commit else 0)
    body += uvarint(2) + uvarint(len(name) + 1) + name + uvarint(2) + struct.pack(">i", 0) + b"\x00"
    body += struct.pack(">i", 3) + b"\x00"  # coordinator_epoch, tags
    body += b"\x00"
    client = b"wire-test"
    header = struct.pack(">hhih", 27, 1, correlation_id, len(client)) + client + b"\x00"
    payload = header + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    frame = read_frame(sock)
    assert frame is not None, "connection closed instead of a WriteTxnMarkers response"
    r = Reader(frame)
    assert r.int32() == correlation_id
    r.uvarint()  # header tags
    assert r.uvarint() - 1 == 1  # markers
    assert r.int64() == producer_id
    assert r.uvarint() - 1 == 1  # topics
    r.compact_str()
    assert r.uvarint() - 1 == 1  # partitions
    _index, error_code = r.int32(), r.int16()
    return error_code


def test_markers_are_appended_skipped_by_consumers_and_fenced_by_epoch(broker):
    topic = f"txm-{uuid.uuid4().hex[:6]}"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(20)
    p = Producer({"bootstrap.servers": broker.bootstrap})
    with connect(broker) as s:
        p.produce(topic, b"a")
        p.flush(10)
        assert write_marker(s, topic, 77, 5, True, 21) == 0
        p.produce(topic, b"b")
        p.flush(10)
        # Epoch 4 after the producer's epoch 5: a zombie coordinator's.
        assert write_marker(s, topic, 77, 4, False, 22) == INVALID_PRODUCER_EPOCH
        assert write_marker(s, topic, 77, 5, False, 23) == 0
        p.produce(topic, b"c")
        p.flush(10)
    got, (low, high) = read_committed(broker, topic, 3)
    # The markers take offsets 1 and 3; consumers never see them.
    assert got == [(0, b"a"), (2, b"b"), (4, b"c")]
    assert (low, high) == (0, 5)
