"""Transaction version 2 (KIP-890 part 2), as Kafka 4.x's Java producer
uses it (driven over the wire by txn_v2_client, since no client installable
here speaks it): partitions join the transaction through Produce v12 and
TxnOffsetCommit v5, and every EndTxn bumps the producer epoch, so a late
batch from a finished transaction is refused instead of joining the next
one or hanging read_committed consumers."""
import uuid

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka.protocol.producer import AddPartitionsToTxnRequest, EndTxnRequest

from cluster import wait_for
from txn_v2_client import (INVALID_PRODUCER_EPOCH, NONE, TRANSACTION_ABORTABLE, TxnV2Producer,
                           transaction_version)


def topic_with(broker, partitions):
    topic = f"tv2-{uuid.uuid4().hex[:6]}"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(20)
    return topic


def read_all(broker, topic, partitions, isolation):
    """Every (partition, value) up to the end, read with `isolation`."""
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": f"r-{uuid.uuid4().hex[:6]}",
                  "auto.offset.reset": "earliest", "isolation.level": isolation,
                  "enable.partition.eof": True})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got, eof = [], set()
    try:
        while len(eof) < partitions:
            m = c.poll(10)
            assert m is not None, f"{isolation} consumer stalled after {got}"
            if m.error() is None:
                got.append((m.partition(), m.value()))
            elif m.error().code() == -191:  # _PARTITION_EOF
                eof.add(m.partition())
        return got
    finally:
        c.close()


def test_the_broker_advertises_transaction_version_2(broker):
    assert transaction_version(broker.bootstrap) == 2


def test_partitions_join_through_produce_and_every_end_bumps_the_epoch(broker):
    topic = topic_with(broker, 2)
    p = TxnV2Producer(broker.bootstrap, f"tv2-{topic}")
    try:
        pid, epoch = p.init()
        # No AddPartitionsToTxn: Produce v12 adds each partition.
        assert p.produce(topic, 0, [b"c1-a"]) == NONE
        assert p.produce(topic, 1, [b"c1-b"]) == NONE
        state, _, parts = p.describe()
        assert (state, parts) == ("Ongoing", [(topic, 0), (topic, 1)])
        assert p.end(commit=True) == (NONE, pid, epoch + 1)

        assert p.produce(topic, 0, [b"a2-a"]) == NONE
        assert p.end(commit=False) == (NONE, pid, epoch + 2)

        assert p.produce(topic, 1, [b"c3-b"]) == NONE
        assert p.produce(topic, 0, [b"c3-a"]) == NONE
        assert p.end(commit=True) == (NONE, pid, epoch + 3)
        # The markers are written after the answer; then the Complete record.
        wait_for(lambda: p.describe()[:2] == ("CompleteCommit", epoch + 3), 10, "CompleteCommit")
    finally:
        p.close()
    committed = read_all(broker, topic, 2, "read_committed")
    assert sorted(committed) == [(0, b"c1-a"), (0, b"c3-a"), (1, b"c1-b"), (1, b"c3-b")]
    everything = read_all(broker, topic, 2, "read_uncommitted")
    assert sorted(everything) == sorted(committed + [(0, b"a2-a")])


def test_a_late_batch_of_a_finished_transaction_is_refused(broker):
    """The hanging-transaction defence: the markers closed the transaction
    at a bumped epoch, so a batch of the old epoch arriving late (a retry,
    a zombie) is refused by the coordinator and by the partition, and
    read_committed consumers are never held back by it."""
    topic = topic_with(broker, 1)
    p = TxnV2Producer(broker.bootstrap, f"late-{topic}")
    try:
        _, old = p.init()
        assert p.produce(topic, 0, [b"kept"]) == NONE
        assert p.end(commit=True)[0] == NONE
        # The old epoch again, as Produce v12 (would add) and v11 (verifies).
        assert p.produce(topic, 0, [b"late"], epoch=old) == INVALID_PRODUCER_EPOCH
        assert p.produce(topic, 0, [b"late"], epoch=old, version=11) == INVALID_PRODUCER_EPOCH
        # Nothing open: DescribeTransactions agrees, and a read_committed
        # consumer reaches the end of the log.
        wait_for(lambda: p.describe()[0] == "CompleteCommit", 10, "CompleteCommit")
    finally:
        p.close()
    assert read_all(broker, topic, 1, "read_committed") == [(0, b"kept")]
    assert read_all(broker, topic, 1, "read_uncommitted") == [(0, b"kept")]


def test_a_retried_end_txn_gets_the_same_answer(broker):
    topic = topic_with(broker, 1)
    p = TxnV2Producer(broker.bootstrap, f"retry-{topic}")
    try:
        pid, epoch = p.init()
        assert p.produce(topic, 0, [b"x"]) == NONE
        first = p.end(commit=True)
        assert first == (NONE, pid, epoch + 1)
        # The answer was lost: the retry carries the old epoch.
        assert p.end(commit=True, epoch=epoch) == first
        # A retry asking for the other outcome is refused.
        assert p.end(commit=False, epoch=epoch)[0] != NONE
        # An abort with nothing added still bumps (fences in-flight batches).
        assert p.end(commit=False) == (NONE, pid, epoch + 2)
    finally:
        p.close()


def test_offsets_join_through_txn_offset_commit(broker):
    """TxnOffsetCommit v5 without AddOffsetsToTxn: the offsets count once
    the transaction commits, and not when it aborts."""
    topic = topic_with(broker, 1)
    group = f"g-{topic}"
    p = TxnV2Producer(broker.bootstrap, f"off-{topic}")
    try:
        p.init()
        assert p.send_offsets(group, {(topic, 0): 5}) == NONE
        assert p.produce(topic, 0, [b"with offsets"]) == NONE
        assert p.end(commit=True)[0] == NONE
        assert p.send_offsets(group, {(topic, 0): 9}) == NONE
        assert p.end(commit=False)[0] == NONE
    finally:
        p.close()
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
    try:
        [tp] = c.committed([TopicPartition(topic, 0)], timeout=10)
        assert tp.offset == 5
    finally:
        c.close()


def test_an_add_right_after_end_txn_waits_for_the_last_transaction(broker):
    """Version 1's client sends AddPartitionsToTxn as soon as EndTxn
    answers, while the coordinator still writes the markers: the add waits
    for them instead of answering CONCURRENT_TRANSACTIONS."""
    topic = topic_with(broker, 4)
    p = TxnV2Producer(broker.bootstrap, f"v1-{topic}")
    try:
        pid, epoch = p.init()
        for n in range(10):
            add = AddPartitionsToTxnRequest[3](
                v3_and_below_transactional_id=p.id, v3_and_below_producer_id=pid,
                v3_and_below_producer_epoch=epoch,
                v3_and_below_topics=[AddPartitionsToTxnRequest.AddPartitionsToTxnTopic(
                    name=topic, partitions=[0, 1, 2, 3])])
            r = p.conn.call(add)
            codes = [q.partition_error_code for t in r.results_by_topic_v3_and_below
                     for q in t.results_by_partition]
            assert codes == [NONE] * 4, (n, codes)
            for k in range(4):
                assert p.produce(topic, k, [f"{n}-{k}".encode()], version=11) == NONE
            end = p.conn.call(EndTxnRequest[3](transactional_id=p.id, producer_id=pid,
                                               producer_epoch=epoch, committed=True))
            assert end.error_code == NONE
        # Once the markers are in, a batch of the same epoch (version 1
        # keeps it) to a partition not in any transaction is refused, though
        # the partition held this producer's transaction a moment ago.
        wait_for(lambda: p.describe()[0] == "CompleteCommit", 10, "CompleteCommit")
        assert p.produce(topic, 0, [b"late"], version=11) == TRANSACTION_ABORTABLE
    finally:
        p.close()
    assert len(read_all(broker, topic, 4, "read_committed")) == 40
