"""process.roles: three controller-only nodes (a dedicated quorum, no client
listener) and two broker-only nodes that follow the metadata from them."""
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import NewTopic

from cluster import Cluster


def test_dedicated_controllers_and_broker_only_nodes():
    cluster = Cluster()
    try:
        roles = {1: "controller", 2: "controller", 3: "controller", 4: "broker", 5: "broker"}
        cluster.start(5, roles=roles)
        # Only the brokers are brokers: Metadata lists exactly 4 and 5.
        brokers, _ = cluster.metadata(4)
        assert sorted(brokers) == [4, 5]
        admin = cluster.admin(5)
        admin.create_topics([NewTopic("split", 4, 1)])["split"].result(20)
        md = cluster.admin(4).list_topics(timeout=10)
        leaders = sorted(p.leader for p in md.topics["split"].partitions.values())
        assert leaders == [4, 4, 5, 5]

        p = Producer({"bootstrap.servers": cluster.bootstrap(4), "acks": "all"})
        for i in range(40):
            p.produce("split", value=f"m{i}", partition=i % 4)
        assert p.flush(20) == 0
        c = Consumer({"bootstrap.servers": cluster.bootstrap(5), "group.id": "roles",
                      "enable.partition.eof": True})
        c.assign([TopicPartition("split", i, 0) for i in range(4)])
        got, eof = set(), set()
        while len(eof) < 4:
            m = c.poll(10)
            assert m is not None, "timed out reading back"
            if m.error():
                eof.add(m.partition())
            else:
                got.add(m.value().decode())
        c.close()
        assert got == {f"m{i}" for i in range(40)}

        # Losing one controller of three changes nothing for the brokers.
        active = cluster.find_active_controller(among=[1, 2, 3])
        cluster.node(active).kill9()
        admin.create_topics([NewTopic("after", 2, 1)])["after"].result(20)
        assert "after" in cluster.admin(4).list_topics(timeout=10).topics
    finally:
        cluster.cleanup()
