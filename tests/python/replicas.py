"""Helpers for the replication tests: who leads a partition and who is in
its ISR (as a client sees it), and the record batches each replica holds on
disk, read straight from its segment files, so a test can check that every
replica stores the same bytes at the same offsets."""
import glob
import os
import struct
import threading
import time

from confluent_kafka import Producer


def partition_state(cluster, ask, topic, partition=0, timeout=5):
    """(leader, replicas, isr) of a partition, as node `ask` answers."""
    md = cluster.admin(ask).list_topics(topic, timeout=timeout)
    p = md.topics[topic].partitions[partition]
    return p.leader, list(p.replicas), sorted(p.isrs)


def full_isr(cluster, ask, topic):
    """The ISR when the partition has three replicas, all in it; else None."""
    _leader, replicas, isr = partition_state(cluster, ask, topic)
    return isr if len(replicas) == 3 and len(isr) == 3 else None


def produce_all(cluster, topic, n=20):
    """Writes `n` records with acks=all through the live nodes (with
    cluster.client_conf); returns (offsets acknowledged, errors)."""
    bootstrap = ",".join(cluster.bootstrap(i) for i in cluster.live())
    acked, failed = [], []
    p = Producer({**cluster.client_conf, "bootstrap.servers": bootstrap, "acks": "all",
                  "message.timeout.ms": 20000})
    for k in range(n):
        p.produce(topic, f"v{k}".encode(),
                  on_delivery=lambda err, m: (failed if err else acked).append(err or m.offset()))
    p.flush(30)
    return acked, failed


def batches(data_dir, topic, partition):
    """[(base offset, last offset, leader epoch, crc)] of every batch in the
    partition's segment files, in order; stops at a segment's zero padding
    or torn tail."""
    out = []
    for path in sorted(glob.glob(os.path.join(data_dir, f"{topic}-{partition}", "*.log"))):
        with open(path, "rb") as f:
            data = f.read()
        pos = 0
        while pos + 61 <= len(data):
            base, length, epoch = struct.unpack_from(">qii", data, pos)
            if length < 49 or pos + 12 + length > len(data):
                break
            crc, = struct.unpack_from(">I", data, pos + 17)
            last_delta, = struct.unpack_from(">i", data, pos + 23)
            out.append((base, base + last_delta, epoch, crc))
            pos += 12 + length
    return out


class Writer:
    """An idempotent acks=all producer writing `value-<n>` to one partition
    from a thread until stopped, remembering what was acknowledged."""

    def __init__(self, bootstrap, topic, partition=0, **conf):
        self.topic, self.partition = topic, partition
        self.producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                                  "linger.ms": 2, "message.timeout.ms": 60000, **conf})
        self.acked = {}  # value -> offset
        self.failed = []
        self.sent = 0
        self.sent_at = {}  # value -> time it was handed to the producer
        self.ack_times = []  # (ack time, send time) of each ack
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _delivered(self, err, msg):
        if err is not None:
            self.failed.append(str(err))
            return
        self.acked[msg.value()] = msg.offset()
        self.ack_times.append((time.time(), self.sent_at.get(msg.value(), 0)))

    def _run(self):
        while not self._stop.is_set():
            try:
                value = b"value-%d" % self.sent
                self.sent_at[value] = time.time()
                self.producer.produce(self.topic, value=value, partition=self.partition,
                                      on_delivery=self._delivered)
                self.sent += 1
            except BufferError:
                pass
            self.producer.poll(0.002)

    def start(self):
        self._thread.start()
        return self

    def first_ack_after(self, t):
        """When the first record produced after `t` was acknowledged."""
        return next((acked for acked, sent in list(self.ack_times) if sent > t), None)

    def stop(self, flush_timeout=60):
        self._stop.set()
        self._thread.join()
        self.producer.flush(flush_timeout)
