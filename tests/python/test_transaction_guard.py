"""Transactional batches are refused until a transaction coordinator has
begun their transaction (Kafka's KIP-890 verification answers
INVALID_TXN_STATE): fjord has no coordinator yet, so a producer writing
transactional batches with a made-up producer id gets INVALID_TXN_STATE,
nothing is stored, and a read_committed consumer is not held back by a
transaction no one will ever end."""
import struct
import uuid

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from kafka.record.default_records import DefaultRecordBatchBuilder

from test_wire import connect, read_frame, request

INVALID_TXN_STATE = 48


def batch(transactional, value, producer_id=-1, epoch=-1, sequence=-1):
    b = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=transactional,
                                  producer_id=producer_id, producer_epoch=epoch, base_sequence=sequence,
                                  batch_size=1 << 20)
    b.append(0, timestamp=1000, key=None, value=value, headers=[])
    return bytes(b.build())


def produce_v3(sock, topic, records, correlation_id):
    """One partition (0), acks=1; returns its error code."""
    name = topic.encode()
    body = struct.pack(">h", 1) + b"t"  # transactional_id "t"
    body += struct.pack(">hi", 1, 10000)  # acks, timeout
    body += struct.pack(">ih", 1, len(name)) + name
    body += struct.pack(">iii", 1, 0, len(records)) + records
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
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": f"g-{topic}",
                  "auto.offset.reset": "earliest", "isolation.level": "read_committed"})
    c.subscribe([topic])
    got = []
    try:
        while len(got) < 2:
            m = c.poll(10)
            assert m is not None, f"read_committed consumer stalled after {got}"
            if m.error() is None:
                got.append((m.offset(), m.value()))
    finally:
        c.close()
    assert got == [(0, b"plain"), (1, b"after")]
