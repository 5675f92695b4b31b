"""Transactions on a three-node cluster: the coordinator writes markers
to partition leaders on other brokers (WriteTxnMarkers over the
inter-broker listener), and kill -9 of the coordinator's broker in the
middle of a stream of transactions loses no committed transaction and
shows no aborted or half transaction to a read_committed consumer."""
import socket
import struct
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import NewTopic

from cluster import Cluster, wait_for
from test_transactions import eos_round
from test_transactions_wire import INVALID_TXN_STATE, batch, produce_v3
from txn_v2_client import INVALID_PRODUCER_EPOCH, NONE, Connection, TxnV2Producer

INVALID_PRODUCER_ID_MAPPING = 49

PARTITIONS = 6


@pytest.fixture(scope="module")
def cluster():
    c = Cluster()
    c.start(3, extra_settings={"transaction.abort.timed.out.transaction.cleanup.interval.ms": "500"})
    yield c
    c.cleanup()


def transactional(c, txn_id):
    bootstrap = ",".join(c.bootstrap(i) for i in c.live())
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id,
                  "transaction.timeout.ms": 30000, "message.timeout.ms": 30000})
    p.init_transactions(60)
    return p


def read_committed(c, topic, expect, timeout=60):
    """Values a read_committed consumer reads until `expect` of them have
    come and nothing more for 3 s (or the timeout)."""
    bootstrap = ",".join(c.bootstrap(i) for i in c.live())
    cons = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{uuid.uuid4().hex[:6]}",
                     "auto.offset.reset": "earliest", "isolation.level": "read_committed",
                     "enable.auto.commit": False})
    cons.subscribe([topic])
    got, quiet_since = [], time.time()
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            m = cons.poll(0.5)
            if m is not None and m.error() is None:
                got.append(m.value().decode())
                quiet_since = time.time()
            elif len(got) >= expect and time.time() - quiet_since > 3:
                break
    finally:
        cons.close()
    return got


def new_topic(c):
    topic = f"ctx-{uuid.uuid4().hex[:6]}"
    c.create_topics(1, [NewTopic(topic, PARTITIONS, 3, config={"min.insync.replicas": "2"})], timeout=30)
    return topic


def test_markers_reach_leaders_on_every_broker(cluster):
    c = cluster
    topic = new_topic(c)
    p = transactional(c, f"x-{topic}")
    for n, commit in enumerate([True, False, True]):
        p.begin_transaction()
        for k in range(PARTITIONS * 2):
            p.produce(topic, f"t{n}-{k}".encode(), partition=k % PARTITIONS)
        if commit:
            p.commit_transaction(60)
        else:
            p.abort_transaction(60)
    got = read_committed(c, topic, 2 * PARTITIONS * 2)
    want = {f"t{n}-{k}" for n in (0, 2) for k in range(PARTITIONS * 2)}
    assert sorted(got) == sorted(want)


def run_transactions(c, topic, txn_id, victim):
    """30 transactions of one record per partition; before the 11th commits,
    kill -9 the node `victim(c)` names. Returns (committed, aborted,
    unknown) value lists, and restarts the node."""
    p = transactional(c, txn_id)
    committed, aborted, unknown = [], [], []
    killed = None
    deadline = time.time() + 90
    for n in range(30):
        if time.time() > deadline:
            break
        values = [f"n{n}-{k}" for k in range(PARTITIONS)]
        try:
            p.begin_transaction()
            for k, v in enumerate(values):
                p.produce(topic, v.encode(), partition=k)
            if n == 10:
                killed = victim(c)
                c.node(killed).kill9()
            p.commit_transaction(60)
            committed.append(values)
        except KafkaException as e:
            err = e.args[0]
            if not (err.txn_requires_abort() or err.retriable()):
                raise
            try:
                p.abort_transaction(60)
                aborted.append(values)
            except KafkaException:
                unknown.append(values)
    assert killed is not None
    c.node(killed).start()
    return committed, aborted, unknown


def check_outcomes(c, topic, committed, aborted, unknown):
    """No committed transaction lost, no aborted one visible, none half
    visible, nothing read twice."""
    assert len(committed) >= 20, f"only {len(committed)} transactions committed"
    got = read_committed(c, topic, sum(map(len, committed)), timeout=90)
    seen = set(got)
    assert len(got) == len(seen), "a record was read twice"
    for values in committed:
        assert set(values) <= seen, f"a committed transaction lost records: {set(values) - seen}"
    for values in aborted:
        assert not set(values) & seen, f"an aborted transaction is visible: {set(values) & seen}"
    for values in unknown:
        part = set(values) & seen
        assert not part or part == set(values), f"a transaction is half visible: {sorted(part)}"


def test_kill9_of_the_coordinator_loses_no_committed_transaction(cluster):
    c = cluster
    topic = new_topic(c)
    txn_id = f"k-{topic}"
    outcomes = run_transactions(c, topic, txn_id, lambda c: coordinator_node(c, txn_id))
    check_outcomes(c, topic, *outcomes)


def test_kill9_of_a_partition_leader_during_commits_loses_nothing(cluster):
    c = cluster
    topic = new_topic(c)
    txn_id = f"l-{topic}"

    def leader_not_coordinator(c):
        coordinator = coordinator_node(c, txn_id)
        md = c.admin(c.live()[0]).list_topics(topic, timeout=10)
        leaders = [md.topics[topic].partitions[k].leader for k in range(PARTITIONS)]
        return next(n for n in leaders if n != coordinator)

    outcomes = run_transactions(c, topic, txn_id, leader_not_coordinator)
    check_outcomes(c, topic, *outcomes)


def test_a_batch_outside_any_transaction_is_refused_by_a_remote_coordinator(cluster):
    """KIP-890 across brokers: the partition's leader asks the id's
    coordinator, on another broker, and refuses a transactional batch of a
    producer with no such transaction."""
    c = cluster
    topic = new_topic(c)
    txn_id = f"r-{topic}"
    transaction_ready = transactional(c, f"init-{topic}")  # creates __transaction_state
    del transaction_ready
    coordinator = coordinator_node(c, txn_id)
    md = c.admin(c.live()[0]).list_topics(topic, timeout=10)
    partition, leader = next((k, p.leader) for k, p in md.topics[topic].partitions.items()
                             if p.leader != coordinator)
    records = batch(True, b"zombie", producer_id=4242, epoch=0, sequence=0)
    host, port = c.bootstrap(leader).rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=20) as s:
        code = produce_v3(s, topic, records, 31, partition=partition, transactional_id=txn_id.encode())
    assert code in (INVALID_TXN_STATE, INVALID_PRODUCER_ID_MAPPING), code
    assert read_uncommitted_count(c, topic, partition) == 0


def test_version_2_adds_partitions_through_leaders_on_other_brokers(cluster):
    """Transaction version 2 across brokers: each partition's leader adds
    it to the transaction at the coordinator (AddPartitionsToTxn v5 over
    the inter-broker listener when that is another broker), the markers
    close each transaction at its bumped epoch on every leader, and a late
    batch of an old epoch is refused by every leader."""
    c = cluster
    topic = new_topic(c)
    txn_id = f"v2-{topic}"
    transactional(c, f"init-{topic}")  # creates __transaction_state
    coordinator = coordinator_node(c, txn_id)
    md = c.admin(c.live()[0]).list_topics(topic, timeout=10)
    leaders = {k: md.topics[topic].partitions[k].leader for k in range(PARTITIONS)}
    assert set(leaders.values()) - {coordinator}, "some partition led away from the coordinator"
    conns = {n: Connection(c.bootstrap(n)) for n in set(leaders.values())}
    p = TxnV2Producer(c.bootstrap(coordinator), txn_id)
    try:
        pid, first = p.init()
        for n, commit in enumerate([True, False, True]):
            for k in range(PARTITIONS):
                assert p.produce(topic, k, [f"v2-{n}-{k}".encode()], conn=conns[leaders[k]]) == NONE
            assert p.end(commit=commit) == (NONE, pid, first + n + 1)
        for k in range(PARTITIONS):
            late = p.produce(topic, k, [b"late"], epoch=first, conn=conns[leaders[k]])
            assert late == INVALID_PRODUCER_EPOCH, (k, late)
    finally:
        p.close()
        for conn in conns.values():
            conn.close()
    got = read_committed(c, topic, PARTITIONS * 2)
    assert sorted(got) == sorted(f"v2-{n}-{k}" for n in (0, 2) for k in range(PARTITIONS))


def read_uncommitted_count(c, topic, partition):
    cons = Consumer({"bootstrap.servers": c.bootstrap(c.live()[0]), "group.id": f"g-{uuid.uuid4().hex[:6]}"})
    try:
        low, high = cons.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
    finally:
        cons.close()
    return high - low


def test_transactional_offsets_survive_a_restart_of_every_node(cluster):
    """Offsets committed in a transaction are replayed from
    __consumer_offsets (records of the transaction, then its marker); an
    aborted round's are not."""
    c = cluster
    source, sink = new_topic(c), new_topic(c)
    bootstrap = ",".join(c.bootstrap(i) for i in c.live())
    feed = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for i in range(15):
        feed.produce(source, f"in-{i}".encode(), partition=0)
    feed.flush(30)
    group = f"eos-{source}"
    conf = {"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
            "enable.auto.commit": False, "isolation.level": "read_committed"}
    consumer = Consumer(conf)
    consumer.assign([TopicPartition(source, 0)])
    p = transactional(c, f"eos-{source}")
    try:
        eos_round(consumer, p, sink, 10, commit=True)
        eos_round(consumer, p, sink, 5, commit=False)
    finally:
        consumer.close()
    for i in list(c.live()):
        c.restart(i)
    c.wait_brokers(c.live(), expected=c.live())

    def committed():
        probe = Consumer(conf)
        try:
            return probe.committed([TopicPartition(source, 0)], 10)[0].offset
        finally:
            probe.close()

    assert wait_for(lambda: committed() >= 0 and committed(), 60, "the group's offsets") == 10


def java_hash(s):
    h = 0
    for unit in struct.unpack(f">{len(s.encode('utf-16-be')) // 2}H", s.encode("utf-16-be")):
        h = (31 * h + unit) & 0xFFFFFFFF
    return h - 2**32 if h >= 2**31 else h


def coordinator_node(c, txn_id):
    """The leader of the id's __transaction_state partition (Kafka's
    abs(hashCode) % 50)."""
    h = java_hash(txn_id)
    partition = (0 if h == -2**31 else abs(h)) % 50
    admin = c.admin(c.live()[0])
    md = admin.list_topics("__transaction_state", timeout=10)
    return md.topics["__transaction_state"].partitions[partition].leader
