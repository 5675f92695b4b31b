"""Consumer groups with librdkafka's high-level consumer (confluent-kafka):
partitions shared among members, handed over when a member closes or dies,
exactly-once consumption with manual commits, commits surviving a broker
kill -9, static membership and cooperative-sticky rebalancing."""
import os
import signal
import subprocess
import sys
import textwrap
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from conftest import Broker

FAST = ["--set", "group.initial.rebalance.delay.ms=0"]
SESSION_MS = 6000  # the broker's group.min.session.timeout.ms


def consumer(bootstrap, group, **extra):
    conf = {"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
            "enable.auto.commit": False, "session.timeout.ms": SESSION_MS, "heartbeat.interval.ms": 500}
    conf.update(extra)
    return Consumer(conf)


def produce(bootstrap, topic, start, count, partitions):
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(start, start + count):
        p.produce(topic, value=str(i).encode(), partition=i % partitions)
    assert p.flush(20) == 0


def poll_until(members, done, seen, timeout=60):
    """Polls every member in turn, committing each message synchronously before
    counting it, until done() or the timeout."""
    deadline = time.time() + timeout
    while not done() and time.time() < deadline:
        for c in members:
            pump(c, seen)
    assert done(), f"timed out: {len(seen)} consumed"


def pump(c, seen):
    """One poll; a message is committed, then counted. Every poll of a test
    that counts goes through here, so no message is dropped unseen."""
    m = c.poll(0.05)
    if m is None or m.error():
        return
    c.commit(message=m, asynchronous=False)
    if seen is not None:
        seen.append((m.partition(), m.offset(), m.value().decode()))


def assignments(members):
    return [sorted(tp.partition for tp in c.assignment()) for c in members]


def wait_for_assignment(members, expect_each=None, total=8, timeout=30, seen=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for c in members:
            pump(c, seen)
        a = assignments(members)
        flat = sorted(p for ps in a for p in ps)
        if flat == list(range(total)) and (expect_each is None or all(len(ps) == expect_each for ps in a)):
            return a
    raise AssertionError(f"assignment never settled: {assignments(members)}")


VICTIM = textwrap.dedent("""
    import sys, time
    from confluent_kafka import Consumer
    c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2], "auto.offset.reset": "earliest",
                  "enable.auto.commit": False, "session.timeout.ms": 6000, "heartbeat.interval.ms": 500})
    c.subscribe([sys.argv[3]])
    while True:
        c.poll(0.1)  # holds its partitions; never consumes: it is killed first
        if c.assignment():
            print("assigned", flush=True)
""")


def test_group_shares_partitions_and_hands_them_over():
    b = Broker("--set", "num.partitions=8", *FAST)
    try:
        topic, group = "shared", "g-share"
        produce(b.bootstrap, topic, 0, 400, 8)
        members = [consumer(b.bootstrap, group) for _ in range(4)]
        for c in members:
            c.subscribe([topic])
        seen = []
        a = wait_for_assignment(members, expect_each=2, seen=seen)
        assert sorted(p for ps in a for p in ps) == list(range(8))
        poll_until(members, lambda: len(seen) >= 400, seen)

        # A member closes (LeaveGroup): its partitions go to the other three.
        members.pop().close()
        wait_for_assignment(members, seen=seen)
        produce(b.bootstrap, topic, 400, 400, 8)
        poll_until(members, lambda: len(seen) >= 800, seen)

        # A member dies without leaving: after its session times out, the
        # survivors take its partitions.
        victim = subprocess.Popen([sys.executable, "-c", VICTIM, b.bootstrap, group, topic],
                                  stdout=subprocess.PIPE, text=True)
        deadline = time.time() + 30
        while time.time() < deadline:
            for c in members:
                pump(c, seen)
            if sum(len(ps) for ps in assignments(members)) == 6:
                break
        assert sum(len(ps) for ps in assignments(members)) == 6, assignments(members)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
        produce(b.bootstrap, topic, 800, 400, 8)
        poll_until(members, lambda: len(seen) >= 1200, seen, timeout=90)
        wait_for_assignment(members, seen=seen)

        values = sorted(int(v) for _, _, v in seen)
        assert values == list(range(1200)), "every message exactly once"
        assert len({(p, o) for p, o, _ in seen}) == 1200
        for c in members:
            c.close()
    finally:
        b.stop()


def test_committed_offsets_survive_broker_kill_9(tmp_path):
    b = Broker("--set", "num.partitions=2", *FAST)
    data_args = b.proc.args
    try:
        produce(b.bootstrap, "resume", 0, 100, 2)
        c = consumer(b.bootstrap, "g-resume")
        c.subscribe(["resume"])
        seen = []
        poll_until([c], lambda: len(seen) >= 60, seen)
        c.close()
        committed = {}
        for p, o, _ in seen:
            committed[p] = max(committed.get(p, -1), o + 1)

        b.proc.send_signal(signal.SIGKILL)
        b.proc.wait()
        b.proc = subprocess.Popen(data_args, stdout=subprocess.PIPE, stderr=b.log, text=True)
        line = b.proc.stdout.readline()
        assert line.startswith("fjord listening on "), line
        b.bootstrap = line.split()[-1]

        c = consumer(b.bootstrap, "g-resume")
        got = c.committed([TopicPartition("resume", p) for p in range(2)], timeout=20)
        assert {tp.partition: tp.offset for tp in got} == committed
        c.subscribe(["resume"])
        rest = []
        poll_until([c], lambda: len(rest) >= 40, rest)
        firsts = {}
        for p, o, _ in rest:
            firsts.setdefault(p, o)
        assert firsts == {p: committed[p] for p in firsts}
        assert sorted(int(v) for _, _, v in seen + rest) == list(range(100))
        c.close()
    finally:
        b.stop()


def test_static_member_rejoins_without_rebalance():
    b = Broker("--set", "num.partitions=4", *FAST)
    try:
        produce(b.bootstrap, "static", 0, 8, 4)
        assigned = {"a": 0, "b": 0}

        def member(name):
            c = consumer(b.bootstrap, "g-static", **{"group.instance.id": f"instance-{name}"})
            c.subscribe(["static"], on_assign=lambda _c, _p: assigned.__setitem__(name, assigned[name] + 1))
            return c

        a, bb = member("a"), member("b")
        before = wait_for_assignment([a, bb], expect_each=2, total=4)
        calls_b = assigned["b"]
        # A static member's close sends no LeaveGroup; a new instance with
        # the same group.instance.id takes its place without a rebalance.
        a.close()
        a = member("a")
        after = wait_for_assignment([a, bb], expect_each=2, total=4)
        for _ in range(40):
            a.poll(0.05)
            bb.poll(0.05)
        assert after == before
        assert assigned["b"] == calls_b, "the other member was not rebalanced"
        admin = AdminClient({"bootstrap.servers": b.bootstrap})  # must outlive the future
        desc = admin.describe_consumer_groups(["g-static"])["g-static"].result(20)
        assert sorted(m.group_instance_id for m in desc.members) == ["instance-a", "instance-b"]
        a.close()
        bb.close()
    finally:
        b.stop()


def test_cooperative_sticky_keeps_unmoved_partitions():
    b = Broker("--set", "num.partitions=6", *FAST)
    try:
        produce(b.bootstrap, "coop", 0, 6, 6)
        revoked = []
        members = []

        def member():
            c = consumer(b.bootstrap, "g-coop", **{"partition.assignment.strategy": "cooperative-sticky"})
            c.subscribe(["coop"], on_revoke=lambda _c, parts: revoked.extend(p.partition for p in parts))
            members.append(c)

        member()
        member()
        before = wait_for_assignment(members, expect_each=3, total=6)
        revoked.clear()  # forming the pair may have moved partitions already
        member()
        after = wait_for_assignment(members, expect_each=2, total=6)
        for old, new in zip(before, after):
            assert set(new) <= set(old), "a member kept only partitions it had"
        assert len(revoked) == 2, f"only the moved partitions were revoked: {revoked}"
        for c in members:
            c.close()
    finally:
        b.stop()
