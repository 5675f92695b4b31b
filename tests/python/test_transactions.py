"""Transactions with a real transactional client (confluent-kafka, i.e.
librdkafka) against one broker with two shards: committed and aborted
transactions interleaved, as a read_committed consumer (exactly the
committed records, in order) and a read_uncommitted one (everything) see
them; a zombie producer fenced by a new instance with the same
transactional.id; and a transaction its producer abandoned, aborted by the
coordinator after transaction.timeout.ms so consumers move on."""
import struct
import subprocess
import sys
import textwrap
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import Broker
from kafka_codec import NO_TAGS, Reader, compact_array, compact_str
from test_wire import connect, read_frame


@pytest.fixture(scope="module")
def txn_broker():
    # Timed-out transactions are looked for every 200 ms (Kafka: 10 s).
    b = Broker("--set", "transaction.abort.timed.out.transaction.cleanup.interval.ms=200")
    yield b
    b.stop()


def new_topic(broker, partitions=2):
    topic = f"txn-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(20)
    return topic


def producer(broker, txn_id, **conf):
    p = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": txn_id, **conf})
    p.init_transactions(30)
    return p


def transaction(p, topic, values, commit=True):
    p.begin_transaction()
    for i, v in enumerate(values):
        p.produce(topic, v.encode(), partition=i % 2)
    if commit:
        p.commit_transaction(30)
    else:
        p.flush(30)
        p.abort_transaction(30)


def consume(broker, topic, isolation, expect, timeout=30):
    """The values a consumer reads from both partitions until it has
    `expect` of them (or the timeout), per partition in offset order."""
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": f"g-{uuid.uuid4().hex[:6]}",
                  "auto.offset.reset": "earliest", "isolation.level": isolation,
                  "enable.auto.commit": False})
    c.subscribe([topic])
    got = {0: [], 1: []}
    deadline = time.time() + timeout
    try:
        while sum(map(len, got.values())) < expect and time.time() < deadline:
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                got[m.partition()].append(m.value().decode())
    finally:
        c.close()
    return got


def test_read_committed_sees_exactly_the_committed_records_in_order(txn_broker):
    topic = new_topic(txn_broker)
    p = producer(txn_broker, f"tx-{topic}")
    transaction(p, topic, [f"c1-{i}" for i in range(6)])
    transaction(p, topic, [f"a-{i}" for i in range(4)], commit=False)
    transaction(p, topic, [f"c2-{i}" for i in range(4)])
    committed = consume(txn_broker, topic, "read_committed", 10)
    assert committed == {0: ["c1-0", "c1-2", "c1-4", "c2-0", "c2-2"],
                         1: ["c1-1", "c1-3", "c1-5", "c2-1", "c2-3"]}
    everything = consume(txn_broker, topic, "read_uncommitted", 14)
    assert everything == {0: ["c1-0", "c1-2", "c1-4", "a-0", "a-2", "c2-0", "c2-2"],
                          1: ["c1-1", "c1-3", "c1-5", "a-1", "a-3", "c2-1", "c2-3"]}


def test_a_zombie_producer_is_fenced(txn_broker):
    topic = new_topic(txn_broker)
    txn_id = f"tx-{topic}"
    zombie = producer(txn_broker, txn_id)
    zombie.begin_transaction()
    zombie.produce(topic, b"zombie", partition=0)
    zombie.flush(30)
    successor = producer(txn_broker, txn_id)  # bumps the epoch, aborts the zombie's
    with pytest.raises(KafkaException) as failed:
        zombie.commit_transaction(30)
    assert failed.value.args[0].fatal(), f"the zombie is fenced, fatally: {failed.value}"
    transaction(successor, topic, ["after-0", "after-1"])
    committed = consume(txn_broker, topic, "read_committed", 2)
    assert committed == {0: ["after-0"], 1: ["after-1"]}


def test_an_abandoned_transaction_is_aborted_after_its_timeout(txn_broker):
    topic = new_topic(txn_broker)
    # A producer process that dies (os._exit: no clean-up, no abort)
    # after writing into its transaction.
    script = textwrap.dedent(f"""
        import os
        from confluent_kafka import Producer
        p = Producer({{"bootstrap.servers": "{txn_broker.bootstrap}", "transactional.id": "gone-{topic}",
                      "transaction.timeout.ms": 2000}})
        p.init_transactions(30)
        p.begin_transaction()
        p.produce("{topic}", b"never committed", partition=0)
        p.flush(30)
        os._exit(0)
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    p = producer(txn_broker, f"tx-{topic}")
    transaction(p, topic, ["c-0", "c-1"])
    # Until the coordinator aborts it (about 2 s), the open transaction
    # holds partition 0's last stable offset; then c-0 shows.
    committed = consume(txn_broker, topic, "read_committed", 2, timeout=30)
    assert committed == {0: ["c-0"], 1: ["c-1"]}


def describe_producers(broker, topic, partition):
    """DescribeProducers v0 (flexible) for one partition: its error code and
    [(producer id, epoch, last sequence, coordinator epoch, txn start)]."""
    body = compact_array([compact_str(topic) + compact_array([struct.pack(">i", partition)]) + NO_TAGS]) + NO_TAGS
    client = b"txn-test"
    header = struct.pack(">hhih", 61, 0, 5, len(client)) + client + NO_TAGS
    with connect(broker) as s:
        s.sendall(struct.pack(">i", len(header + body)) + header + body)
        frame = read_frame(s)
    r = Reader(frame)
    assert r.int32() == 5
    r.uvarint()  # header tags
    r.int32()  # throttle

    def producer():
        p = (r.int64(), r.int32(), r.int32(), r.int64(), r.int32(), r.int64())
        r.uvarint()
        return (p[0], p[1], p[2], p[4], p[5])

    def part():
        _index, code = r.int32(), r.int16()
        r.compact_str()
        producers = r.compact_array(producer)
        r.uvarint()
        return code, producers

    def topic_entry():
        r.compact_str()
        parts = r.compact_array(part)
        r.uvarint()
        return parts[0]

    return r.compact_array(topic_entry)[0]


def test_describe_producers_shows_the_open_transaction(txn_broker):
    topic = new_topic(txn_broker)
    p = producer(txn_broker, f"dp-{topic}")
    p.begin_transaction()
    p.produce(topic, b"x", partition=0)
    p.flush(30)
    code, producers = describe_producers(txn_broker, topic, 0)
    assert code == 0 and len(producers) == 1
    pid, epoch, last_seq, _coordinator_epoch, txn_start = producers[0]
    assert pid >= 0 and epoch >= 0 and last_seq == 0 and txn_start == 0
    p.commit_transaction(30)
    # The marker follows the commit; the open transaction is then gone.
    deadline = time.time() + 10
    while time.time() < deadline:
        code, producers = describe_producers(txn_broker, topic, 0)
        if producers and producers[0][4] == -1:
            break
        time.sleep(0.1)
    assert code == 0 and producers[0][0] == pid and producers[0][4] == -1
    assert producers[0][3] >= 0, "the marker's coordinator epoch is recorded"


def eos_round(consumer, p, sink, n, commit):
    """Reads `n` records, writes them transformed to `sink` and commits the
    consumer's positions in the same transaction (or aborts it all)."""
    got = []
    deadline = time.time() + 30
    while len(got) < n and time.time() < deadline:
        got += [m for m in consumer.consume(n - len(got), 1.0) if m.error() is None]
    assert len(got) == n
    p.begin_transaction()
    for m in got:
        p.produce(sink, m.value().replace(b"in", b"out"), partition=0)
    p.send_offsets_to_transaction(consumer.position(consumer.assignment()),
                                  consumer.consumer_group_metadata(), 30)
    if commit:
        p.commit_transaction(30)
    else:
        p.abort_transaction(30)


def test_consume_transform_produce_commits_offsets_with_the_transaction(txn_broker):
    """Exactly-once processing as Kafka Streams does it: input offsets are
    committed in the same transaction as the output (send_offsets_to_
    transaction), so an aborted round leaves both untouched."""
    source, sink = new_topic(txn_broker, 1), new_topic(txn_broker, 1)
    feed = Producer({"bootstrap.servers": txn_broker.bootstrap})
    for i in range(15):
        feed.produce(source, f"in-{i}".encode())
    feed.flush(30)
    group = f"eos-{source}"
    consumer = Consumer({"bootstrap.servers": txn_broker.bootstrap, "group.id": group,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "isolation.level": "read_committed"})
    consumer.subscribe([source])
    p = producer(txn_broker, f"eos-{source}")
    try:
        eos_round(consumer, p, sink, 10, commit=True)
        eos_round(consumer, p, sink, 5, commit=False)
        committed = consumer.committed([TopicPartition(source, 0)], 10)[0].offset
    finally:
        consumer.close()
    assert committed == 10, "the aborted round's offsets did not count"
    out = consume(txn_broker, sink, "read_committed", 10)
    assert out[0] == [f"out-{i}" for i in range(10)]
