"""Moving replicas and leaders as an operator does with Kafka's tools:
AlterPartitionReassignments (kafka-reassign-partitions.sh) moves a partition
to other brokers while a producer writes to it, and ElectLeaders
(kafka-leader-election.sh) and auto.leader.rebalance.enable put leadership
back on the preferred replica."""
import os
import threading
import time

from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import NewTopic
from confluent_kafka import ElectionType
from kafka import TopicPartition as KTopicPartition
from kafka.admin import KafkaAdminClient

from cluster import Cluster, wait_for
from replicas import partition_state
from test_replication import all_in_sync, read_partition, replicas_identical

TOPIC = "moving"


def produce_until(stop, bootstrap, acked):
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5, "enable.idempotence": True})
    n = 0
    while not stop.is_set():
        try:
            p.produce(TOPIC, b"r%d" % n, partition=0,
                      on_delivery=lambda err, msg: err is None and acked.__setitem__(msg.value(), msg.offset()))
            n += 1
        except BufferError:
            pass
        p.poll(0.005)
    p.flush(30)


def test_reassignment_moves_a_partition_while_producing():
    cluster = Cluster()
    stop, acked = threading.Event(), {}
    try:
        cluster.start(3)
        admin = cluster.admin(1)
        admin.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=-1, replica_assignment=[[1]])])[TOPIC].result(20)
        bootstrap = ",".join(cluster.bootstrap(i) for i in cluster.nodes)
        thread = threading.Thread(target=produce_until, args=(stop, bootstrap, acked), daemon=True)
        thread.start()
        wait_for(lambda: len(acked) > 300, 20, "acknowledgements before the move")
        kadmin = KafkaAdminClient(bootstrap_servers=bootstrap)
        result = kadmin.alter_partition_reassignments({KTopicPartition(TOPIC, 0): [2, 3]})
        assert all(err is None for err in result.values()), result
        wait_for(lambda: not kadmin.list_partition_reassignments() and
                 partition_state(cluster, 2, TOPIC)[1] == [2, 3] and
                 partition_state(cluster, 2, TOPIC)[2] == [2, 3], 60, "the move to complete")
        count = len(acked)
        wait_for(lambda: len(acked) > count + 300, 30, "produce to carry on on the new replicas")
        stop.set()
        thread.join(60)
        kadmin.close()
        records = read_partition(cluster.bootstrap(2), TOPIC, expect=len(acked))
        assert [o for o, _ in records] == list(range(len(records)))
        got = set(records)
        assert all((o, v) in got for v, o in acked.items()), "every acknowledged record moved"
        wait_for(lambda: not os.path.exists(os.path.join(cluster.node(1).data_dir, f"{TOPIC}-0")), 20,
                 "the old replica's copy deleted")
        views = {i: replicas_identical_on(cluster, [2, 3]) for i in (2,)}
        assert views[2]
    finally:
        stop.set()
        cluster.cleanup()


def replicas_identical_on(cluster, nodes):
    from replicas import batches
    def same():
        views = [batches(cluster.node(i).data_dir, TOPIC, 0) for i in nodes]
        return all(v == views[0] for v in views) and views[0]
    return wait_for(same, 30, f"replicas {nodes} identical")


def test_preferred_leader_comes_back_by_election_and_by_rebalance():
    cluster = Cluster()
    try:
        cluster.start(3, extra_settings={"leader.imbalance.check.interval.seconds": "1",
                                         "leader.imbalance.per.broker.percentage": "0"})
        admin = cluster.admin(1)
        admin.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=-1, replica_assignment=[[1, 2, 3]])])[TOPIC].result(20)
        wait_for(lambda: all_in_sync(cluster, 1, TOPIC), 20, "three replicas in sync")
        assert partition_state(cluster, 1, TOPIC)[0] == 1
        cluster.node(1).kill9()
        wait_for(lambda: partition_state(cluster, 2, TOPIC)[0] == 2, 20, "leadership to move to 2")
        cluster.restart(1)
        # With the imbalance check every second and no tolerance, the
        # controller moves leadership back to the preferred replica once
        # it is in sync again.
        wait_for(lambda: partition_state(cluster, 2, TOPIC)[0] == 1, 30, "leadership back on 1")
    finally:
        cluster.cleanup()


def test_elect_leaders_preferred():
    cluster = Cluster()
    try:
        cluster.start(3, extra_settings={"auto.leader.rebalance.enable": "false"})
        admin = cluster.admin(1)
        admin.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=-1, replica_assignment=[[1, 2, 3]])])[TOPIC].result(20)
        wait_for(lambda: all_in_sync(cluster, 1, TOPIC), 20, "three replicas in sync")
        cluster.node(1).kill9()
        wait_for(lambda: partition_state(cluster, 2, TOPIC)[0] == 2, 20, "leadership to move to 2")
        cluster.restart(1)
        wait_for(lambda: all_in_sync(cluster, 2, TOPIC), 30, "node 1 back in sync")
        assert partition_state(cluster, 2, TOPIC)[0] == 2, "no automatic move back"
        admin = cluster.admin(2)
        result = admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition(TOPIC, 0)]).result(20)
        assert result[TopicPartition(TOPIC, 0)] is None, result
        wait_for(lambda: partition_state(cluster, 2, TOPIC)[0] == 1, 20, "the preferred replica leading")
        again = admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition(TOPIC, 0)]).result(20)
        err = again[TopicPartition(TOPIC, 0)]
        assert err is not None and "ELECTION_NOT_NEEDED" in str(err), again
    finally:
        cluster.cleanup()
