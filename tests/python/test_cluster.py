"""A three-node fjord cluster of real processes, driven by real clients
(confluent-kafka, kcat): metadata agreement from every node, produce and
consume across nodes, losing the active controller, losing the majority,
restarting everything, metadata snapshots, and garbage on the controller
listener. Harness: cluster.py."""
import json
import os
import random
import re
import socket
import struct
import subprocess
import sys
import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition

from confluent_kafka.admin import AdminClient, NewPartitions

from cluster import Cluster, new_topic, retriable, wait_for
from conftest import FJORD

LEADER_NOT_AVAILABLE = KafkaError.LEADER_NOT_AVAILABLE
ALL = [1, 2, 3]


@pytest.fixture
def cluster(request):
    """cluster(n=3, **settings) starts a cluster; every node is killed at
    teardown. A failed test keeps the cluster's dir and prints each node's
    log tail to the terminal; FJORD_KEEP_CLUSTER=1 keeps every dir."""
    made = []
    failed_before = request.session.testsfailed

    def make(n=3, **settings):
        c = Cluster()
        made.append(c)
        c.start(n, {k.replace("_", "."): str(v) for k, v in settings.items()})
        return c

    yield make
    failed = request.session.testsfailed > failed_before
    for c in made:
        c.kill_all()
        if failed:
            sys.__stderr__.write(f"\n==== {request.node.name}: cluster dir kept at {c.dir} ====\n")
            for node in c.nodes.values():
                sys.__stderr__.write(f"---- node {node.id} ({node.log_path}) ----\n{node.tail(30)}\n")
        c.cleanup(keep=failed or bool(os.environ.get("FJORD_KEEP_CLUSTER")))


def has_topics(*names):
    return lambda view: all(n in view[1] for n in names)


def leaders(view, topic):
    return {p: leader for p, (leader, _, _) in view[1][topic].items()}


def produce(bootstrap, topic, count, prefix="value"):
    """Produces `count` keyed messages with acks=all; returns {value: (partition, offset, key)}."""
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    delivered, errors = {}, []

    def report(err, msg):
        if err is not None:
            errors.append(err)
        else:
            delivered[msg.value()] = (msg.partition(), msg.offset(), msg.key())

    for k in range(count):
        p.produce(topic, key=f"key-{k}".encode(), value=f"{prefix}-{k}".encode(), on_delivery=report)
    assert p.flush(30) == 0, "messages left undelivered"
    assert errors == []
    assert len(delivered) == count
    return delivered


def consume(bootstrap, topic, partitions, count, group="cluster-reader", timeout=30):
    """Reads `count` messages from the start of `partitions`: {value: (partition, offset, key)}."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    got = {}
    deadline = time.time() + timeout
    try:
        while len(got) < count and time.time() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            assert m.error() is None, m.error()
            assert m.value() not in got, f"duplicate {m.value()!r}"
            got[m.value()] = (m.partition(), m.offset(), m.key())
        # Nothing beyond `count`.
        extra = c.poll(1)
        assert extra is None or extra.error() is not None, f"unexpected extra message {extra.value()!r}"
    finally:
        c.close()
    assert len(got) == count, f"read {len(got)} of {count}"
    return got


def test_three_nodes_metadata_produce_consume_kcat(cluster):
    c = cluster()
    topics = {i: f"via-{i}" for i in ALL}
    for i, name in topics.items():
        c.create_topics(i, [new_topic(name, 6)])
    view = c.wait_agreement(ALL, timeout=5, check=has_topics(*topics.values()))
    brokers, described = view
    assert brokers == c.expected_brokers(ALL)
    for name in topics.values():
        parts = described[name]
        assert sorted(parts) == list(range(6)), name
        for p, (leader, replicas, err) in parts.items():
            assert err == 0 and leader in ALL and replicas == (leader,), (name, p, parts[p])
        assert set(leaders(view, name).values()) == set(ALL), f"{name} not spread over all nodes: {parts}"

    for i in ALL:
        admin = c.admin(i)
        described_cluster = admin.describe_cluster(request_timeout=10).result(15)
        assert sorted((n.id, n.port) for n in described_cluster.nodes) == sorted(c.expected_brokers(ALL).items())
        assert described_cluster.controller is not None and described_cluster.controller.id in ALL

    topic = topics[1]
    delivered = produce(c.bootstrap(1), topic, 300)
    assert {part for part, _, _ in delivered.values()} == set(range(6)), "keys did not reach every partition"
    for part in range(6):
        offsets = sorted(off for p, off, _ in delivered.values() if p == part)
        assert offsets == list(range(len(offsets))), f"partition {part} offsets {offsets}"

    assert consume(c.bootstrap(2), topic, range(6), 300) == delivered

    # kcat, bootstrapped from the third node: the same metadata and records.
    md = json.loads(subprocess.run(["kcat", "-b", c.bootstrap(3), "-L", "-J"], capture_output=True, text=True,
                                   check=True, timeout=30).stdout)
    assert sorted(b["id"] for b in md["brokers"]) == ALL
    by_name = {t["topic"]: t for t in md["topics"]}
    for name in topics.values():
        kcat_leaders = {p["partition"]: p["leader"] for p in by_name[name]["partitions"]}
        assert kcat_leaders == leaders(view, name), name
    out = subprocess.run(["kcat", "-b", c.bootstrap(3), "-C", "-t", topic, "-o", "beginning", "-e", "-q",
                          "-f", "%p %o %k %s\n"], capture_output=True, text=True, check=True, timeout=30).stdout
    rows = [line.split(" ") for line in out.splitlines()]
    kcat_got = {v.encode(): (int(p), int(o), k.encode()) for p, o, k, v in rows}
    assert len(rows) == 300 and kcat_got == delivered


def test_topic_create_visible_everywhere(cluster):
    c = cluster()
    for k in range(3):
        name = f"seen-{k}"
        c.create_topics(2, [new_topic(name, 3)])
        t0 = time.time()
        view = c.wait_agreement([1, 3], timeout=2, check=has_topics(name), interval=0.05)
        assert time.time() - t0 < 2.5
        assert c.metadata(2)[1][name] == view[1][name]


def test_admin_forwarding_and_replication_factor(cluster):
    c = cluster()
    c.create_topics(3, [new_topic("rf3", 3, rf=3), new_topic("rf2", 4, rf=2)])
    view = c.wait_agreement(ALL, timeout=5, check=has_topics("rf3", "rf2"))
    for p, (leader, replicas, err) in view[1]["rf3"].items():
        assert err == 0 and sorted(replicas) == ALL and leader in replicas, (p, view[1]["rf3"][p])
    for p, (leader, replicas, err) in view[1]["rf2"].items():
        assert err == 0 and len(set(replicas)) == 2 and leader in replicas, (p, view[1]["rf2"][p])
    assert set(leaders(view, "rf3").values()) == set(ALL)

    with pytest.raises(KafkaException) as refused:
        c.create_topics(2, [new_topic("rf4", 1, rf=4)])
    assert refused.value.args[0].code() == KafkaError.INVALID_REPLICATION_FACTOR, refused.value
    assert "rf4" not in c.metadata(1)[1]

    # CreatePartitions through a node, seen on every node, new partitions
    # spread like the old ones.
    admin = c.admin(1)
    admin.create_partitions([NewPartitions("rf3", 6)], request_timeout=10, operation_timeout=10)["rf3"].result(15)
    view = c.wait_agreement(ALL, timeout=5, check=lambda v: len(v[1]["rf3"]) == 6)
    assert all(sorted(replicas) == ALL for _, replicas, _ in view[1]["rf3"].values())

    # Produce and consume against a replicated topic: clients find the leader.
    delivered = produce(c.bootstrap(2), "rf3", 60)
    assert consume(c.bootstrap(1), "rf3", range(6), 60) == delivered

    c.delete_topics(2, ["rf2"])
    c.wait_agreement(ALL, timeout=2, check=lambda v: "rf2" not in v[1] and "rf3" in v[1])


def test_consumer_group_across_nodes(cluster):
    """A subscribing group: the first member (bootstrapped from node 1)
    commits half the records; a second member bootstrapped from node 3
    resumes exactly after them. __consumer_offsets lives on whichever node
    leads its partition; the others answer NOT_COORDINATOR."""
    c = cluster()
    c.create_topics(2, [new_topic("grp", 6)])
    c.wait_agreement(ALL, timeout=5, check=has_topics("grp"))
    delivered = produce(c.bootstrap(2), "grp", 120)

    def member(i):
        m = Consumer({"bootstrap.servers": c.bootstrap(i), "group.id": "cluster-group", "enable.auto.commit": False,
                      "auto.offset.reset": "earliest", "session.timeout.ms": 6000})
        m.subscribe(["grp"])
        return m

    def read(m, count, timeout=30):
        got = {}
        deadline = time.time() + timeout
        while len(got) < count and time.time() < deadline:
            msg = m.poll(0.5)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            got[msg.value()] = (msg.partition(), msg.offset(), msg.key())
        return got

    first = member(1)
    got_first = read(first, 60)
    assert len(got_first) == 60
    first.commit(asynchronous=False)
    first.close()

    second = member(3)
    got_second = read(second, 60)
    extra = second.poll(2)
    second.close()
    assert extra is None or extra.error() is not None, f"read past the end: {extra.value()!r}"
    assert not set(got_first) & set(got_second), "records read twice across the commit"
    assert {**got_first, **got_second} == delivered


def test_kill_active_controller(cluster):
    c = cluster()
    c.create_topics(1, [new_topic("before", 6)])
    before = c.wait_agreement(ALL, timeout=5, check=has_topics("before"))
    active = c.find_active_controller()
    survivors = [i for i in ALL if i != active]
    led = sorted(p for p, leader in leaders(before, "before").items() if leader == active)
    assert led, "the active controller leads none of the partitions"

    c.node(active).kill9()
    t_kill = time.time()
    new_active = c.find_active_controller(among=survivors, timeout=10)
    elected_after = time.time() - t_kill

    # Admin requests work again through either survivor. The new controller
    # does not know yet that the old one is dead (it fences it when its
    # session expires), so "during" may get partitions on the dead node.
    c.create_topics(survivors[0], [new_topic("during", 4)], retry_for=10)
    created_after = time.time() - t_kill
    c.alter_topic_configs(survivors[1], "before", {"retention.ms": "123456"}, retry_for=10)

    # The dead node is fenced: its partitions have no leader.
    def fenced(view):
        return (view[0] == c.expected_brokers(survivors) and "during" in view[1]
                and all(view[1]["before"][p][0] == -1 for p in led))

    down = c.wait_agreement(survivors, timeout=10, check=fenced)
    fenced_after = time.time() - t_kill
    for p in led:
        assert down[1]["before"][p][2] == LEADER_NOT_AVAILABLE, down[1]["before"][p]
    assert set(leaders(down, "during").values()) <= set(survivors) | {-1}
    with pytest.raises(KafkaException) as refused:
        c.create_topics(survivors[0], [new_topic("rf3-now", 1, rf=3)])
    assert refused.value.args[0].code() == KafkaError.INVALID_REPLICATION_FACTOR, refused.value
    # Once fenced, a new topic is placed on the live brokers only.
    c.create_topics(survivors[1], [new_topic("fenced", 4)])
    down = c.wait_agreement(survivors, timeout=5, check=has_topics("fenced"))
    assert set(leaders(down, "fenced").values()) == set(survivors), down[1]["fenced"]

    c.node(active).start()

    def back(view):
        return (view[0] == c.expected_brokers(ALL) and has_topics("during", "fenced")(view)
                and all(leader >= 0 for t in view[1].values() for leader, _, _ in t.values()))

    after = c.wait_agreement(ALL, timeout=10, check=back)
    # The restarted node leads again what it led, and nothing moved.
    assert after[1]["before"] == before[1]["before"], "leaders changed across the restart"
    for topic in ("during", "fenced"):
        expect = {p: active if leader == -1 else leader for p, leader in leaders(down, topic).items()}
        assert leaders(after, topic) == expect, topic
    for i in ALL:
        wait_for(lambda: c.topic_configs(i, "before")["retention.ms"] == "123456", 5, f"retention.ms on node {i}")
    print(f"active {active} -> {new_active}: elected after {elected_after:.2f}s, create ok after "
          f"{created_after:.2f}s, old controller fenced after {fenced_after:.2f}s")


def test_majority_down(cluster):
    c = cluster()
    c.create_topics(1, [new_topic("base", 6)])
    base = c.wait_agreement(ALL, timeout=5, check=has_topics("base"))
    active = c.find_active_controller()
    first, second = [i for i in ALL if i != active]

    # A broker killed while the controller lives is fenced at once (its
    # controller connection closes), well before its 3 s session expires.
    c.node(first).kill9()
    t0 = time.time()
    led = [p for p, leader in leaders(base, "base").items() if leader == first]
    c.wait_agreement([active, second], timeout=2.5, interval=0.05,
                     check=lambda v: v[0] == c.expected_brokers([active, second])
                     and all(v[1]["base"][p][0] == -1 for p in led))
    fenced_after = time.time() - t0

    # Now the majority is gone. A create sent at once reaches a controller
    # that still believes it leads: it fails with a retriable error, and is
    # not applied while the majority is down. (Its outcome is unknown to the
    # client, as with Kafka: the proposal may still commit once the others
    # are back; checked below that it then is whole.)
    c.node(second).kill9()
    t0 = time.time()
    with pytest.raises(KafkaException) as failure:
        c.create_topics(active, [new_topic("orphan-a", 3)], timeout=8)
    failed_a = time.time() - t0
    err_a = failure.value.args[0]
    assert retriable(err_a), f"not a retriable error: {err_a}"
    assert failed_a < 15
    assert "orphan-a" not in c.metadata(active)[1]

    # Once the survivor has stepped down (it hears from no majority), a
    # create fails without anything being proposed: it never appears.
    wait_for(lambda: c.node(active).log_lines("no longer the active controller"), 10, "the survivor to step down")
    t0 = time.time()
    with pytest.raises(KafkaException) as failure:
        c.create_topics(active, [new_topic("orphan-b", 3)], timeout=8)
    failed_b = time.time() - t0
    err_b = failure.value.args[0]
    assert retriable(err_b), f"not a retriable error: {err_b}"
    assert failed_b < 15
    assert not {"orphan-a", "orphan-b"} & set(c.metadata(active)[1])

    for i in (first, second):
        c.node(i).spawn()
    for i in (first, second):
        c.node(i).wait_listening()
    c.wait_brokers(ALL, ALL, timeout=15)
    c.create_topics(active, [new_topic("orphan-b", 3)], retry_for=10)
    view = c.wait_agreement(ALL, timeout=5, check=has_topics("orphan-b", "base"))
    late = "orphan-a" in view[1]
    if late:
        parts = view[1]["orphan-a"]
        assert sorted(parts) == [0, 1, 2] and all(leader >= 0 for leader, _, _ in parts.values()), parts
        # Only an ambiguous answer (a timeout) may turn out applied;
        # NOT_CONTROLLER tells the client nothing was done.
        assert err_a.code() in (KafkaError.REQUEST_TIMED_OUT, KafkaError._TIMED_OUT), \
            f"create answered {err_a} but was applied once the majority was back"
    print(f"fenced after {fenced_after:.2f}s; create failed after {failed_a:.2f}s with {err_a} "
          f"(applied later: {late}); after step-down after {failed_b:.2f}s with {err_b}")


def test_restart_everything(cluster):
    c = cluster()
    names = [f"keep-{k:02d}" for k in range(20)]
    c.create_topics(1, [new_topic(n, 1 + k % 3) for k, n in enumerate(names)])
    altered = {n: {"retention.ms": str(1000 * (k + 100)), "cleanup.policy": "compact" if k % 2 else "delete"}
               for k, n in enumerate(names) if k % 4 == 0}
    for k, (name, configs) in enumerate(altered.items()):
        c.alter_topic_configs(1 + k % 3, name, configs)
    before = c.wait_agreement(ALL, timeout=5, check=has_topics(*names))
    data_topic = "keep-02"  # 3 partitions: one on each node
    assert set(leaders(before, data_topic).values()) == set(ALL)
    delivered = produce(c.bootstrap(1), data_topic, 50)

    cluster_id = c.cluster_id(1)
    assert cluster_id and all(c.cluster_id(i) == cluster_id for i in ALL)
    stopped = c.stop_all()
    assert all(code == 0 for code, _ in stopped.values()), stopped
    c.start_all()
    after = c.wait_agreement(ALL, timeout=20, check=lambda v: v[0] == c.expected_brokers(ALL) and all(
        leader >= 0 for t in v[1].values() for leader, _, _ in t.values()))
    assert after == before
    assert sorted(after[1]) == names
    assert [c.cluster_id(i) for i in ALL] == [cluster_id] * 3
    for i in ALL:
        for name, configs in altered.items():
            described = c.topic_configs(i, name)
            assert {k: described[k] for k in configs} == configs, (i, name)
    assert consume(c.bootstrap(3), data_topic, range(3), 50) == delivered
    print(f"stopped (exit code, seconds): {stopped}")


def test_metadata_snapshots(cluster):
    c = cluster(metadata_log_max_record_bytes_between_snapshots=20000)
    names = [f"snap-{k:03d}" for k in range(300)]
    kept = set(names[::6])
    for b in range(0, 300, 50):
        c.create_topics(1 + (b // 50) % 3, [new_topic(n, 1) for n in names[b:b + 50]])
    doomed = [n for n in names if n not in kept]
    for b in range(0, len(doomed), 50):
        c.delete_topics(1 + (b // 50) % 3, doomed[b:b + 50])
    before = c.wait_agreement(ALL, timeout=10, check=lambda v: set(v[1]) == kept)

    def snapshot_files(node):
        if not os.path.isdir(node.metadata_dir):
            return []
        return [f for f in os.listdir(node.metadata_dir)
                if "snapshot" in f and os.path.getsize(os.path.join(node.metadata_dir, f)) > 0]

    for i in ALL:
        node = c.node(i)
        wait_for(lambda: snapshot_files(node), 5,
                 f"a snapshot in node {i}'s {node.metadata_dir} (files: "
                 f"{os.listdir(node.metadata_dir) if os.path.isdir(node.metadata_dir) else None})")
        assert node.log_lines("metadata snapshot taken"), f"node {i} logged no snapshot"

    cluster_id = c.cluster_id(1)
    c.kill_all()
    c.start_all()
    after = c.wait_agreement(ALL, timeout=20, check=lambda v: v[0] == c.expected_brokers(ALL) and set(v[1]) == kept
                             and all(leader >= 0 for t in v[1].values() for leader, _, _ in t.values()))
    assert after == before
    assert [c.cluster_id(i) for i in ALL] == [cluster_id] * 3
    # And the cluster still takes changes.
    c.create_topics(2, [new_topic("snap-after", 3)], retry_for=10)
    c.wait_agreement(ALL, timeout=5, check=has_topics("snap-after"))


def test_relative_data_dir(tmp_path):
    """The metadata log under a data dir given relative to the working
    directory (as the default ./fjord-data is): the node serves, and keeps
    its topics across a restart."""
    def start():
        log = open(tmp_path / "stderr.log", "a")
        proc = subprocess.Popen([FJORD, "serve", "--listen", "127.0.0.1:0", "--data-dir", "data", "--cores", "1"],
                                cwd=tmp_path, stdout=subprocess.PIPE, stderr=log, text=True,
                                env=dict(os.environ, NO_COLOR="1"))
        line = proc.stdout.readline()
        assert line.startswith("fjord listening on "), \
            f"did not start ({line!r}):\n{(tmp_path / 'stderr.log').read_text()[-2000:]}"
        return proc, line.split()[-1]

    proc, bootstrap = start()
    try:
        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.create_topics([new_topic("rel", 2)])["rel"].result(20)
        proc.terminate()
        assert proc.wait(30) == 0
        proc, bootstrap = start()
        assert "rel" in AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics
    finally:
        proc.kill()
        proc.wait()


def test_snapshot_sent_to_lagging_node(cluster):
    """A node down while the others compact their log past it catches up
    from the leader's snapshot."""
    c = cluster(metadata_log_max_record_bytes_between_snapshots=20000)
    c.create_topics(1, [new_topic("early", 3)])
    c.wait_agreement(ALL, timeout=5, check=has_topics("early"))
    active = c.find_active_controller()
    lagging = next(i for i in ALL if i != active)
    live = [i for i in ALL if i != lagging]
    c.node(lagging).kill9()
    c.wait_brokers(live, live, timeout=10)

    names = [f"lag-{k:03d}" for k in range(200)]
    kept = {"early"} | set(names[::5])
    for b in range(0, 200, 50):
        c.create_topics(live[b // 50 % 2], [new_topic(n, 1) for n in names[b:b + 50]])
    c.delete_topics(active, [n for n in names if n not in kept])
    before = c.wait_agreement(live, timeout=10, check=lambda v: set(v[1]) == kept)
    assert c.node(active).log_lines("metadata snapshot taken"), "the leader took no snapshot"

    c.node(lagging).start()
    after = c.wait_agreement(ALL, timeout=15, check=lambda v: v[0] == c.expected_brokers(ALL) and set(v[1]) == kept
                             and all(leader >= 0 for t in v[1].values() for leader, _, _ in t.values()))
    assert {t: after[1][t] for t in kept if t != "early"} == {t: before[1][t] for t in kept if t != "early"}
    # The leader no longer had the entries the lagging node lacked: it can
    # only have caught up from a snapshot.
    replayed = [int(re.search(r"offset=(\d+)", line).group(1)) for line in c.node(lagging).log_lines("metadata replayed")]
    compacted = [int(re.search(r"offset=(\d+)", line).group(1)) for line in c.node(active).log_lines("snapshot taken")]
    assert replayed and compacted and max(compacted) > replayed[0] + 1, (replayed, compacted)
    # The caught-up node takes part: a change through it is seen everywhere.
    c.create_topics(lagging, [new_topic("lag-after", 3)], retry_for=10)
    c.wait_agreement(ALL, timeout=5, check=has_topics("lag-after"))


def frame(kind, body):
    return struct.pack(">I", len(body) + 1) + bytes([kind]) + body


def hello(node_id, purpose="Raft"):
    return frame(1, json.dumps({"node_id": node_id, "purpose": purpose}).encode())


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def raft_message(msg_type, to, frm, term, **fields):
    """A well-formed eraftpb.Message (protobuf): varint fields only."""
    numbers = {"msg_type": 1, "to": 2, "from": 3, "term": 4, "log_term": 5, "index": 6, "commit": 8}
    values = {"msg_type": msg_type, "to": to, "from": frm, "term": term, **fields}
    return b"".join(varint(numbers[k] << 3) + varint(v) for k, v in values.items())


MSG_REQUEST_VOTE, MSG_HEARTBEAT = 5, 8


def test_garbage_on_controller_listener(cluster):
    c = cluster()
    target = c.find_active_controller()
    node = c.node(target)
    raft_id = target + 1  # raft ids are node ids + 1
    rng = random.Random(7)
    inputs = {
        "garbage": b"GET / HTTP/1.1\r\nHost: fjord\r\n\r\n" + bytes(rng.randrange(256) for _ in range(200)),
        "huge length": b"\xff\xff\xff\xff\x01",
        "zero length": b"\x00\x00\x00\x00",
        "raft before hello": frame(2, bytes(rng.randrange(256) for _ in range(64))),
        "hello from 77, random raft": hello(77) + frame(2, bytes(rng.randrange(256) for _ in range(300))),
        "hello from 77, unknown kind": hello(77) + frame(9, b"?"),
        "hello from 77, bad request": hello(77, "Client") + frame(3, b"\x00" * 8 + b"{not json"),
        "hello from 77, truncated": hello(77) + struct.pack(">I", 1000) + b"\x02abc",
        # Well-formed raft messages from a node that is not a voter, with a
        # far higher term: stepped, they would depose the leader.
        "hello from 77, heartbeat at term 1000": hello(77) + frame(2, raft_message(
            MSG_HEARTBEAT, raft_id, 78, 1000)),
        "hello from 77, vote request at term 1000": hello(77) + frame(2, raft_message(
            MSG_REQUEST_VOTE, raft_id, 78, 1000, log_term=1000, index=1_000_000)),
    }
    for what, data in inputs.items():
        s = socket.create_connection(("127.0.0.1", node.cport), timeout=10)
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        try:
            while s.recv(4096):
                pass
        except (ConnectionResetError, socket.timeout):
            pass
        s.close()
        assert node.alive, f"node died after {what!r}:\n{node.tail()}"

    # Still serving, still the active controller of the same cluster.
    c.create_topics(target, [new_topic("after-garbage", 3)], retry_for=10)
    c.wait_agreement(ALL, timeout=5, check=has_topics("after-garbage"))
    assert all(c.node(i).alive for i in ALL)
    assert not node.log_lines("no longer the active controller"), "an outsider's raft message deposed the leader"
    assert c.find_active_controller() == target

    lines = node.log().splitlines()
    closed = [line for line in lines if "controller connection closed" in line]
    assert len(closed) >= 4, f"refused connections not logged:\n{node.tail()}"
    assert any("no hello" in line or "controller frame of" in line for line in closed), closed
    about_77 = [line for line in lines if re.search(r"(from|node|node_id|claimed)[= ]77\b", line)]
    assert about_77, f"nothing logged about node 77's input:\n{node.tail()}"
    refused = [line for line in lines if re.search(r"\b78\b", line) and "refused" in line]
    assert len(refused) >= 2, f"well-formed raft messages from a non-voter not refused in the log:\n{node.tail()}"
