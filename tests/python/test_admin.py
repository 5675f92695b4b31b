"""Admin APIs through confluent-kafka's AdminClient: CreateTopics,
DescribeConfigs and DeleteTopics, checked through Metadata."""
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic


def test_create_describe_delete(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("adm", num_partitions=6, replication_factor=1)])["adm"].result(20)
    md = admin.list_topics(timeout=10)
    assert len(md.topics["adm"].partitions) == 6

    dup = admin.create_topics([NewTopic("adm", num_partitions=1, replication_factor=1)])["adm"]
    try:
        dup.result(20)
        raise AssertionError("creating an existing topic must fail")
    except Exception as e:  # KafkaException(TOPIC_ALREADY_EXISTS)
        assert "TOPIC_ALREADY_EXISTS" in str(e) or "already exists" in str(e)

    res = ConfigResource(ConfigResource.Type.TOPIC, "adm")
    configs = admin.describe_configs([res])[res].result(20)
    assert configs["cleanup.policy"].value == "delete"
    assert configs["segment.bytes"].value == "1073741824"

    admin.delete_topics(["adm"])["adm"].result(20)
    assert "adm" not in admin.list_topics(timeout=10).topics


def test_describe_cluster(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    cluster = admin.describe_cluster(request_timeout=20).result(20)
    host, port = broker.bootstrap.rsplit(":", 1)
    assert [(n.id, n.host, n.port) for n in cluster.nodes] == [(0, host, int(port))]
    assert cluster.controller.id == 0
    assert cluster.cluster_id  # the id Metadata reports too
    assert cluster.cluster_id == admin.list_topics(timeout=10).cluster_id


def test_concurrent_creates_all_commit(broker):
    """Admin requests arriving together are planned one at a time and each
    answered once its own change commits (a proposal made while the quorum
    is persisting must still be recognised when it commits)."""
    import concurrent.futures
    admins = [AdminClient({"bootstrap.servers": broker.bootstrap}) for _ in range(4)]

    def create(i):
        names = [f"burst-{i}-{j}" for j in range(15)]
        futures = admins[i].create_topics([NewTopic(n, num_partitions=1, replication_factor=1) for n in names])
        return [f.result(30) for f in futures.values()]

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(create, range(4)))
    topics = admins[0].list_topics(timeout=10).topics
    assert all(f"burst-{i}-{j}" in topics for i in range(4) for j in range(15))
