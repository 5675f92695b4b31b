"""A data dir in the single-node format (before the metadata log) starts as
a one-node cluster that keeps every topic, topic config, record, committed
offset, ACL, SCRAM credential and the producer-id high mark.

The single-node format is what remains when the metadata log is taken
away: partition directories with their `partition.metadata` topic ids,
`topic-configs/<topic>.properties`, `producer_ids`, `cluster.id`,
`security/{acls,scram}.toml`, `dynamic-configs.toml` and the
`__consumer_offsets` partitions. The test makes such a dir by running the
broker, stopping it, removing `metadata/` and writing the files the old
broker kept (topic configs, producer ids, ACLs, SCRAM credentials, dynamic
configs)."""
import hashlib
import hmac
import os
import shutil
import signal
import subprocess

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import (AclBindingFilter, AclOperation, AclPermissionType, AdminClient, ConfigResource,
                                   NewTopic, ResourcePatternType, ResourceType, ScramMechanism)

from conftest import FJORD


def start(data_dir):
    proc = subprocess.Popen([FJORD, "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir, "--cores", "2"],
                            stdout=subprocess.PIPE, stderr=open(os.path.join(os.path.dirname(data_dir), "log"), "a"),
                            text=True)
    line = proc.stdout.readline()
    assert line.startswith("fjord listening on "), line
    return proc, line.split()[-1]


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0


def test_single_node_data_dir_upgrades_in_place(tmp_path):
    data = str(tmp_path / "data")
    proc, bootstrap = start(data)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic("orders", 3, 1), NewTopic("audit", 1, 1)]).values():
        f.result(20)
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True})
    for i in range(90):
        p.produce("orders", key=str(i), value=f"v{i}", partition=i % 3)
    assert p.flush(20) == 0
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "billing", "enable.auto.commit": False})
    c.commit(offsets=[TopicPartition("orders", 0, 17), TopicPartition("orders", 2, 5)], asynchronous=False)
    c.close()
    stop(proc)

    # Back to the single-node format: no metadata log, configs and the
    # producer-id mark in their own files.
    cluster_id = open(os.path.join(data, "cluster.id")).read().strip()
    shutil.rmtree(os.path.join(data, "metadata"))
    os.makedirs(os.path.join(data, "topic-configs"), exist_ok=True)
    with open(os.path.join(data, "topic-configs", "orders.properties"), "w") as f:
        f.write("retention.ms=123456789\ncleanup.policy=delete\n")
    with open(os.path.join(data, "producer_ids"), "w") as f:
        f.write("5000\n")
    write_single_node_security(data)

    proc, bootstrap = start(data)
    try:
        admin = AdminClient({"bootstrap.servers": bootstrap})
        md = admin.list_topics(timeout=20)
        assert md.cluster_id == cluster_id
        assert {"orders", "audit"} <= set(md.topics)
        assert len(md.topics["orders"].partitions) == 3
        res = ConfigResource(ResourceType.TOPIC, "orders")
        configs = admin.describe_configs([res])[res].result(20)
        assert configs["retention.ms"].value == "123456789"
        assert not configs["retention.ms"].is_default

        c = Consumer({"bootstrap.servers": bootstrap, "group.id": "billing", "enable.partition.eof": True})
        committed = c.committed([TopicPartition("orders", 0), TopicPartition("orders", 2)], timeout=20)
        assert [(t.partition, t.offset) for t in committed] == [(0, 17), (2, 5)]
        c.assign([TopicPartition("orders", p, 0) for p in range(3)])
        values, eof = set(), set()
        while len(eof) < 3:
            m = c.poll(10)
            assert m is not None, "timed out reading back"
            if m.error():
                eof.add(m.partition())
            else:
                values.add(m.value().decode())
        c.close()
        assert values == {f"v{i}" for i in range(90)}

        bindings = admin.describe_acls(AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None,
                                                         None, AclOperation.ANY,
                                                         AclPermissionType.ANY)).result(20)
        assert [(b.name, b.principal) for b in bindings] == [("orders", "User:alice")]
        users = admin.describe_user_scram_credentials().result(20)
        assert sorted(users) == ["alice"]
        info = users["alice"].scram_credential_infos
        assert [(i.mechanism, i.iterations) for i in info] == [(ScramMechanism.SCRAM_SHA_256, 8192)]
        rb = ConfigResource(ResourceType.BROKER, "0")
        assert admin.describe_configs([rb])[rb].result(20)["max.connections"].value == "1000"
        rg = ConfigResource(ResourceType.GROUP, "billing")
        assert admin.describe_configs([rg])[rg].result(20)["consumer.session.timeout.ms"].value == "50000"

        # Producer ids continue above the old high mark: never reused.
        p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"})
        p.produce("audit", value=b"x")
        assert p.flush(20) == 0
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": "x"})
        c.assign([TopicPartition("audit", 0, 0)])
        m = c.poll(10)
        c.close()
        assert m is not None and not m.error()
    finally:
        stop(proc)
    # The batch header (v2) holds the producer id at byte 43.
    with open(os.path.join(data, "audit-0", "00000000000000000000.log"), "rb") as f:
        header = f.read(61)
    assert int.from_bytes(header[43:51], "big", signed=True) >= 5000

    # And it restarts from the log alone: the single-node files, left on
    # disk, are not read again.
    os.remove(os.path.join(data, "security", "acls.toml"))
    with open(os.path.join(data, "dynamic-configs.toml"), "w") as f:
        f.write("not toml [")
    proc, bootstrap = start(data)
    try:
        admin = AdminClient({"bootstrap.servers": bootstrap})
        md = admin.list_topics(timeout=20)
        assert {"orders", "audit"} <= set(md.topics)
        assert md.cluster_id == cluster_id
        bindings = admin.describe_acls(AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None,
                                                         None, AclOperation.ANY,
                                                         AclPermissionType.ANY)).result(20)
        assert [(b.name, b.principal) for b in bindings] == [("orders", "User:alice")]
    finally:
        stop(proc)


def write_single_node_security(data):
    """The files a single-node fjord kept its ACLs, SCRAM credentials and
    dynamic configs in."""
    os.makedirs(os.path.join(data, "security"), exist_ok=True)
    with open(os.path.join(data, "security", "acls.toml"), "w") as f:
        f.write('[[acl]]\nresource_type = 2\nresource_name = "orders"\npattern_type = 3\n'
                'principal = "User:alice"\nhost = "*"\noperation = 3\npermission_type = 3\n')
    salted = hashlib.pbkdf2_hmac("sha256", b"pw", b"salt", 8192)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).hexdigest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).hexdigest()
    with open(os.path.join(data, "security", "scram.toml"), "w") as f:
        f.write(f'[[user]]\nname = "alice"\n\n[[user.credential]]\nmechanism = 1\niterations = 8192\n'
                f'salt = "{b"salt".hex()}"\nstored_key = "{stored_key}"\nserver_key = "{server_key}"\n')
    with open(os.path.join(data, "dynamic-configs.toml"), "w") as f:
        f.write('[broker]\n"max.connections" = "1000"\n\n[group.billing]\n"consumer.session.timeout.ms" = "50000"\n')
