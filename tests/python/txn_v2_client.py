"""A transactional producer speaking transaction version 2 (KIP-890 part 2)
as Kafka 4.x's Java client does, since no client installable here does:
no AddPartitionsToTxn (Produce v12 adds the partition), no AddOffsetsToTxn
(TxnOffsetCommit v5 adds the group's partition), and EndTxn v5, whose
answer is the producer id and epoch of the next transaction. Requests are
encoded by kafka-python's protocol classes (Kafka's own message schemas).

Retriable answers are retried as the Java client does; anything else is
returned to the test, which asserts on it."""
import socket
import struct
import time

from kafka.protocol.admin.transactions import DescribeTransactionsRequest
from kafka.protocol.metadata import ApiVersionsRequest, FindCoordinatorRequest
from kafka.protocol.parser import KafkaProtocol
from kafka.protocol.producer import EndTxnRequest, InitProducerIdRequest, ProduceRequest, TxnOffsetCommitRequest
from kafka.record.default_records import DefaultRecordBatchBuilder

NONE = 0
INVALID_PRODUCER_EPOCH = 47
INVALID_TXN_STATE = 48
CONCURRENT_TRANSACTIONS = 51
NOT_ENOUGH_REPLICAS = 19
COORDINATOR_LOAD_IN_PROGRESS = 14
COORDINATOR_NOT_AVAILABLE = 15
NOT_COORDINATOR = 16
PRODUCER_FENCED = 90
TRANSACTION_ABORTABLE = 120
RETRIABLE = {NOT_ENOUGH_REPLICAS, CONCURRENT_TRANSACTIONS, COORDINATOR_LOAD_IN_PROGRESS,
             COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR}


class Connection:
    """One broker connection; `call` sends a request and returns its response."""

    def __init__(self, address):
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=15)
        self.protocol = KafkaProtocol(client_id="txn-v2-test")

    def call(self, request):
        self.protocol.send_request(request)
        self.sock.sendall(self.protocol.send_bytes())
        while True:
            data = self.sock.recv(1 << 20)
            assert data, f"connection closed instead of answering {request}"
            responses = self.protocol.receive_bytes(data)
            if responses:
                return responses[0][1]

    def close(self):
        self.sock.close()


def transaction_version(address):
    """The finalized transaction.version the broker advertises (0 if none)."""
    c = Connection(address)
    try:
        r = c.call(ApiVersionsRequest[3](client_software_name="t", client_software_version="1"))
        return {f.name: f.max_version_level for f in r.finalized_features}.get("transaction.version", 0)
    finally:
        c.close()


def batch(producer_id, epoch, sequence, values):
    b = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=True,
                                  producer_id=producer_id, producer_epoch=epoch,
                                  base_sequence=sequence, batch_size=1 << 20)
    for i, v in enumerate(values):
        b.append(i, timestamp=int(time.time() * 1000), key=None, value=v, headers=[])
    return bytes(b.build())


class TxnV2Producer:
    """One transactional id against one broker (a single-node cluster, or
    a bootstrap whose Produce goes to the leader the test names)."""

    def __init__(self, address, transactional_id, timeout_ms=60000):
        self.address = address
        self.id = transactional_id
        self.timeout_ms = timeout_ms
        self.conn = Connection(address)
        self.producer_id, self.epoch = -1, -1
        self.sequences = {}

    def close(self):
        self.conn.close()

    def _retry(self, send, code_of, deadline_s=30):
        end = time.time() + deadline_s
        while True:
            response = send()
            code = code_of(response)
            if code not in RETRIABLE or time.time() > end:
                return response
            time.sleep(0.05)

    def find_coordinator(self, key_type=1, key=None):
        """FindCoordinator (a transaction's by default), which also creates
        the coordinator's topic on first use; returns its error code."""
        request = FindCoordinatorRequest[4](key_type=key_type, coordinator_keys=[key or self.id])
        r = self._retry(lambda: self.conn.call(request), lambda r: r.coordinators[0].error_code)
        return r.coordinators[0].error_code

    def init(self):
        assert self.find_coordinator() == NONE
        r = self._retry(lambda: self.conn.call(InitProducerIdRequest[5](
            transactional_id=self.id, transaction_timeout_ms=self.timeout_ms,
            producer_id=-1, producer_epoch=-1)), lambda r: r.error_code)
        assert r.error_code == NONE, f"InitProducerId: {r.error_code}"
        self.producer_id, self.epoch = r.producer_id, r.producer_epoch
        self.sequences = {}
        return self.producer_id, self.epoch

    def produce(self, topic, partition, values, epoch=None, version=12, conn=None):
        """Produces `values` in the transaction; returns the partition's
        error code. `epoch` overrides the producer's (a zombie's batch)."""
        epoch = self.epoch if epoch is None else epoch
        seq = self.sequences.get((topic, partition, epoch), 0)
        records = batch(self.producer_id, epoch, seq, values)
        request = ProduceRequest[version](
            transactional_id=self.id, acks=-1, timeout_ms=10000,
            topic_data=[ProduceRequest.TopicProduceData(name=topic, partition_data=[
                ProduceRequest.TopicProduceData.PartitionProduceData(index=partition, records=records)])])
        conn = conn or self.conn
        code_of = lambda r: r.responses[0].partition_responses[0].error_code
        code = code_of(self._retry(lambda: conn.call(request), code_of))
        if code == NONE:
            self.sequences[(topic, partition, epoch)] = seq + len(values)
        return code

    def end(self, commit, epoch=None):
        """EndTxn v5; on success the producer takes the id and epoch it
        answers. Returns (error code, producer id, epoch) as answered."""
        epoch = self.epoch if epoch is None else epoch
        r = self._retry(lambda: self.conn.call(EndTxnRequest[5](
            transactional_id=self.id, producer_id=self.producer_id,
            producer_epoch=epoch, committed=commit)), lambda r: r.error_code)
        if r.error_code == NONE and epoch == self.epoch:
            self.producer_id, self.epoch = r.producer_id, r.producer_epoch
            self.sequences = {}
        return r.error_code, r.producer_id, r.producer_epoch

    def send_offsets(self, group, offsets, conn=None):
        """TxnOffsetCommit v5 without AddOffsetsToTxn; `offsets` is
        {(topic, partition): offset}. Returns the first error code."""
        assert self.find_coordinator(key_type=0, key=group) == NONE
        topics = {}
        for (topic, partition), offset in offsets.items():
            topics.setdefault(topic, []).append(TxnOffsetCommitRequest.TxnOffsetCommitRequestTopic.TxnOffsetCommitRequestPartition(
                partition_index=partition, committed_offset=offset, committed_leader_epoch=-1,
                committed_metadata=""))
        request = TxnOffsetCommitRequest[5](
            transactional_id=self.id, group_id=group, producer_id=self.producer_id,
            producer_epoch=self.epoch, generation_id=-1, member_id="", group_instance_id=None,
            topics=[TxnOffsetCommitRequest.TxnOffsetCommitRequestTopic(name=t, partitions=ps)
                    for t, ps in topics.items()])
        conn = conn or self.conn
        code_of = lambda r: max((p.error_code for t in r.topics for p in t.partitions), default=0)
        return code_of(self._retry(lambda: conn.call(request), code_of))

    def describe(self):
        """DescribeTransactions: (state, epoch, sorted [(topic, partition)])."""
        r = self.conn.call(DescribeTransactionsRequest[0](transactional_ids=[self.id]))
        s = r.transaction_states[0]
        assert s.error_code == NONE, f"DescribeTransactions: {s.error_code}"
        parts = sorted((t.topic, p) for t in s.topics for p in t.partitions)
        return s.transaction_state, s.producer_epoch, parts
