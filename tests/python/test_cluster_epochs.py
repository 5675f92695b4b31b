"""Leader epochs move when a broker is fenced and comes back; clients that
track them (librdkafka validates its position with OffsetForLeaderEpoch
after a leader change) carry on with nothing lost or repeated."""
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import NewTopic

from cluster import Cluster


def poll_values(consumer, want, timeout=30):
    got = []
    deadline = time.time() + timeout
    while len(got) < want and time.time() < deadline:
        m = consumer.poll(0.5)
        if m is not None and not m.error():
            got.append(m.value().decode())
    return got


def test_consumer_continues_across_a_leader_epoch_change():
    cluster = Cluster()
    try:
        cluster.start(3)
        admin = cluster.admin(1)
        admin.create_topics([NewTopic("epochs", 3, 1)])["epochs"].result(20)
        md = admin.list_topics(timeout=10).topics["epochs"].partitions
        partition, leader = next((p.id, p.leader) for p in md.values() if p.leader != 1)
        produce_to = cluster.bootstrap(1)

        def produce(values):
            p = Producer({"bootstrap.servers": produce_to, "acks": "all"})
            for v in values:
                p.produce("epochs", value=v, partition=partition)
            assert p.flush(30) == 0

        produce([f"a{i}" for i in range(10)])
        c = Consumer({"bootstrap.servers": cluster.bootstrap(1), "group.id": "epochs",
                      "topic.metadata.refresh.interval.ms": 500})
        c.assign([TopicPartition("epochs", partition, 0)])
        assert poll_values(c, 10) == [f"a{i}" for i in range(10)]

        cluster.node(leader).kill9()
        cluster.restart(leader)
        cluster.wait_brokers(cluster.live(), cluster.live(), timeout=30)
        now = admin.list_topics(timeout=10).topics["epochs"].partitions[partition]
        assert now.leader == leader
        produce([f"b{i}" for i in range(10)])
        assert poll_values(c, 10) == [f"b{i}" for i in range(10)]
        c.close()
    finally:
        cluster.cleanup()
