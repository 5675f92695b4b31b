"""Client quotas and connection limits against the real binary.

AlterClientQuotas / DescribeClientQuotas go as raw v0 requests (no Python
client here has them): set, validated, described, kept across a restart.
A producer and a consumer with client.id "slow" under a 1 MB/s quota are
held to it (within 20%, measured over 10 s after a first second, the
window Kafka's sensors average over), while "fast" ones beside them are
not. A request_percentage quota throttles any API. max.connections.per.ip=5
on the broker default: the sixth connection from 127.0.0.1 is closed, and
one closing lets a new one in.

The rates are the feature, so they are the only timed assertions; run with
`-s` to see them."""
import struct
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import Broker
from kafka_codec import Reader, array, string
from test_metrics import free_port, scrape, total
from test_topic_configs import restart
from test_wire import connect, read_frame, request

DESCRIBE_CLIENT_QUOTAS, ALTER_CLIENT_QUOTAS, INCREMENTAL_ALTER_CONFIGS = 48, 49, 44
INVALID_REQUEST = 42
MATCH_EXACT, MATCH_DEFAULT, MATCH_SPECIFIED = 0, 1, 2
QUOTA = 1_000_000  # bytes per second
WARMUP_S, MEASURE_S = 1.0, 10.0
VALUE = b"q" * 10_000


def nullable_string(s):
    return struct.pack(">h", -1) if s is None else string(s)


def read_nullable_string(r):
    n = r.int16()
    if n < 0:
        return None
    value = r.data[r.at:r.at + n].decode()
    r.at += n
    return value


def entity(components):
    return array([string(t) + nullable_string(n) for t, n in components])


def call(sock, api_key, body, correlation_id=1):
    sock.sendall(request(api_key, 0, correlation_id, body))
    frame = read_frame(sock)
    assert frame is not None, "connection closed"
    r = Reader(frame)
    assert r.int32() == correlation_id
    return r


def alter_quotas(sock, entries, validate_only=False):
    """entries: [(components, [(key, value or None to remove)])] ->
    [(components, error_code, message)]."""
    body = array([
        entity(components) + array([
            string(key) + struct.pack(">d?", value or 0.0, value is None) for key, value in ops])
        for components, ops in entries]) + struct.pack(">?", validate_only)
    r = call(sock, ALTER_CLIENT_QUOTAS, body)
    r.int32()  # throttle_time_ms
    results = []
    for _ in range(r.int32()):
        code, message = r.int16(), read_nullable_string(r)
        components = [(r.string(), read_nullable_string(r)) for _ in range(r.int32())]
        results.append((components, code, message))
    r.done()
    return results


def describe_quotas(sock, components, strict=False):
    """components: [(type, match_type, match)] -> (error_code,
    {((type, name), ...): {key: value}})."""
    body = array([string(t) + struct.pack(">b", m) + nullable_string(n) for t, m, n in components])
    r = call(sock, DESCRIBE_CLIENT_QUOTAS, body + struct.pack(">?", strict))
    r.int32()  # throttle_time_ms
    code, _message = r.int16(), read_nullable_string(r)
    found = {}
    count = r.int32()
    for _ in range(max(count, 0)):
        names = tuple((r.string(), read_nullable_string(r)) for _ in range(r.int32()))
        found[names] = {r.string(): r.take(">d") for _ in range(r.int32())}
    r.done()
    return code, found


def set_broker_default(sock, name, value):
    """IncrementalAlterConfigs v0 SET on the cluster-wide broker default."""
    config = string(name) + struct.pack(">b", 0) + nullable_string(value)
    body = array([struct.pack(">b", 4) + string("") + array([config])]) + struct.pack(">?", False)
    r = call(sock, INCREMENTAL_ALTER_CONFIGS, body)
    r.int32()  # throttle_time_ms
    assert r.int32() == 1
    code, message = r.int16(), read_nullable_string(r)
    assert (r.take(">b"), r.string()) == (4, "")
    assert code == 0, message


def test_quotas_are_validated_described_and_survive_a_restart(broker):
    with connect(broker) as s:
        slow = [("client-id", "slow")]
        results = alter_quotas(s, [
            (slow, [("producer_byte_rate", 1048576.0), ("consumer_byte_rate", 2097152.0)]),
            ([("user", None)], [("request_percentage", 50.0)]),
            ([("user", "alice"), ("client-id", None)], [("producer_byte_rate", 3.0)]),
        ])
        assert [code for _, code, _ in results] == [0, 0, 0], results
        # Kafka's refusals, each for its own entity only.
        results = alter_quotas(s, [
            ([("client-id", "x")], [("bytes_per_fortnight", 1.0)]),
            ([("group", "g")], [("producer_byte_rate", 1.0)]),
            ([("client-id", "y")], [("producer_byte_rate", 1.5)]),
            ([("client-id", "z")], [("producer_byte_rate", 5.0)]),
        ])
        assert [code for _, code, _ in results] == [INVALID_REQUEST] * 3 + [0], results
        assert "bytes_per_fortnight" in results[0][2]
        # validate_only answers the same and stores nothing.
        assert alter_quotas(s, [([("client-id", "v")], [("producer_byte_rate", 9.0)])], True)[0][1] == 0
        # Removing a key.
        assert alter_quotas(s, [([("client-id", "z")], [("producer_byte_rate", None)])])[0][1] == 0

        def described(sock):
            code, everything = describe_quotas(sock, [])
            assert code == 0
            return everything

        expected = {
            (("client-id", "slow"),): {"producer_byte_rate": 1048576.0, "consumer_byte_rate": 2097152.0},
            (("user", None),): {"request_percentage": 50.0},
            (("user", "alice"), ("client-id", None)): {"producer_byte_rate": 3.0},
        }
        assert described(s) == expected
        code, exact = describe_quotas(s, [("client-id", MATCH_EXACT, "slow")], strict=True)
        assert (code, list(exact)) == (0, [(("client-id", "slow"),)])
        code, defaults = describe_quotas(s, [("user", MATCH_DEFAULT, None)])
        assert list(defaults) == [(("user", None),)]
        code, any_user = describe_quotas(s, [("user", MATCH_SPECIFIED, None)])
        assert len(any_user) == 2
        code, _ = describe_quotas(s, [("user", MATCH_EXACT, None)])
        assert code == INVALID_REQUEST

    restart(broker)
    with connect(broker) as s:
        assert described(s) == expected


def run_all(calls):
    """Runs each (function, args) in its own thread; re-raises the first
    failure."""
    errors = []

    def run(f, args):
        try:
            f(*args)
        except Exception as e:  # noqa: BLE001 - handed to the test thread
            errors.append(e)

    threads = [threading.Thread(target=run, args=call) for call in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def metadata_throttle_ms(sock, client_id):
    """throttle_time_ms of a Metadata v4 response (all topics)."""
    sock.sendall(request(3, 4, 5, struct.pack(">i?", -1, False), client_id=client_id))
    frame = read_frame(sock)
    assert frame is not None
    correlation_id, throttle_ms = struct.unpack(">ii", frame[:8])
    assert correlation_id == 5
    return throttle_ms


def test_request_percentage_throttles_every_api_at_most_a_window(broker):
    with connect(broker) as s:
        # 0.001% of a core: any request is far over, and request-time
        # throttles are capped at one quota window (1 s), as in Kafka.
        entity = [("client-id", "busy")]
        assert alter_quotas(s, [(entity, [("request_percentage", 0.001)])])[0][1] == 0
    with connect(broker) as busy, connect(broker) as idle:
        assert metadata_throttle_ms(busy, b"busy") == 1000
        assert metadata_throttle_ms(idle, b"idle") == 0


def measure(events, start, seconds):
    """Bytes per second of `events` [(time, bytes)] in [start, start + seconds)."""
    return sum(n for t, n in events if start <= t < start + seconds) / seconds


def produce_flat_out(bootstrap, client_id, topic, until, acked):
    p = Producer({"bootstrap.servers": bootstrap, "client.id": client_id, "linger.ms": 5,
                  "batch.size": 65536, "acks": 1, "queue.buffering.max.kbytes": 4096})

    def delivered(err, msg):
        if err is None:
            acked.append((time.monotonic(), len(msg.value())))

    while time.monotonic() < until:
        try:
            p.produce(topic, VALUE, callback=delivered)
            p.poll(0)
        except BufferError:
            p.poll(0.005)
    p.purge(in_queue=True)
    p.flush(30)


def eventually_counted(metrics_addr, name, **labels):
    """Waits for a shard's once-a-second flush to publish `name`."""
    deadline = time.monotonic() + 20
    while total(scrape(metrics_addr), name, **labels) == 0:
        assert time.monotonic() < deadline, f"{name} {labels} never counted"
        time.sleep(0.2)


def test_producer_byte_rate_holds_a_producer_to_its_quota():
    metrics = f"127.0.0.1:{free_port()}"
    broker = Broker("--metrics-addr", metrics)
    try:
        producers_against_a_quota(broker)
        eventually_counted(metrics, "fjord_throttled_responses_total", quota="produce")
    finally:
        broker.stop()


def producers_against_a_quota(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for f in admin.create_topics([NewTopic("q-slow", 1, 1), NewTopic("q-fast", 1, 1)]).values():
        f.result(20)
    with connect(broker) as s:
        assert alter_quotas(s, [([("client-id", "slow")], [("producer_byte_rate", QUOTA)])])[0][1] == 0

    start = time.monotonic()
    until = start + WARMUP_S + MEASURE_S
    slow, fast = [], []
    run_all([(produce_flat_out, (broker.bootstrap, cid, topic, until, acked))
             for cid, topic, acked in (("slow", "q-slow", slow), ("fast", "q-fast", fast))])
    slow_rate = measure(slow, start + WARMUP_S, MEASURE_S)
    fast_rate = measure(fast, start + WARMUP_S, MEASURE_S)
    print(f"\nproduce: slow {slow_rate / 1e6:.3f} MB/s, fast {fast_rate / 1e6:.3f} MB/s (quota {QUOTA / 1e6} MB/s)")
    assert abs(slow_rate / QUOTA - 1) <= 0.2, slow_rate
    assert fast_rate >= 3 * slow_rate, (fast_rate, slow_rate)


def consume_flat_out(bootstrap, client_id, topic, until, total, got):
    c = Consumer({"bootstrap.servers": bootstrap, "client.id": client_id, "group.id": f"g-{client_id}",
                  "enable.auto.commit": False, "max.partition.fetch.bytes": 262144})
    c.assign([TopicPartition(topic, 0, 0)])
    seen = 0
    while time.monotonic() < until and seen < total:
        for msg in c.consume(1000, timeout=0.05):
            if msg.error() is None:
                got.append((time.monotonic(), len(msg.value())))
                seen += 1
    c.close()


def test_consumer_byte_rate_holds_a_consumer_to_its_quota(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("q-data", 1, 1)])["q-data"].result(20)
    count = 5000  # 50 MB: more than either consumer reads in the time
    # Batches of ~64 KB: a fetch response is whole batches, so smaller ones
    # let the quota meter it finely.
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5, "batch.size": 65536})
    for _ in range(count):
        while True:
            try:
                p.produce("q-data", VALUE)
                break
            except BufferError:
                p.poll(0.01)
    assert p.flush(120) == 0
    with connect(broker) as s:
        assert alter_quotas(s, [([("client-id", "slow")], [("consumer_byte_rate", QUOTA)])])[0][1] == 0

    start = time.monotonic()
    until = start + WARMUP_S + MEASURE_S
    slow, fast = [], []
    run_all([(consume_flat_out, (broker.bootstrap, cid, "q-data", until, count, got))
             for cid, got in (("slow", slow), ("fast", fast))])
    slow_rate = measure(slow, start + WARMUP_S, MEASURE_S)
    # The fast one may read everything before the time is up.
    fast_end = max(t for t, _ in fast)
    fast_rate = sum(n for _, n in fast) / (fast_end - start)
    print(f"\nconsume: slow {slow_rate / 1e6:.3f} MB/s, fast {fast_rate / 1e6:.3f} MB/s (quota {QUOTA / 1e6} MB/s)")
    assert abs(slow_rate / QUOTA - 1) <= 0.2, slow_rate
    assert fast_rate >= 3 * slow_rate, (fast_rate, slow_rate)


def api_versions_answered(sock):
    try:
        sock.sendall(request(18, 0, 9, b""))
        return read_frame(sock) is not None
    except OSError:  # reset by the broker
        return False


def test_max_connections_per_ip_closes_the_sixth():
    metrics = f"127.0.0.1:{free_port()}"
    broker = Broker("--metrics-addr", metrics)
    try:
        sixth_connection_closed(broker)
        eventually_counted(metrics, "fjord_connections_refused_total", limit="ip")
    finally:
        broker.stop()


def sixth_connection_closed(broker):
    first = connect(broker)
    set_broker_default(first, "max.connections.per.ip", "5")
    sockets = [first]
    for _ in range(4):
        s = connect(broker)
        assert api_versions_answered(s)
        sockets.append(s)
    sixth = connect(broker)
    assert not api_versions_answered(sixth), "the sixth connection from 127.0.0.1 was served"
    sixth.close()

    sockets.pop().close()
    # The broker learns of the close when it reads the EOF: retry until then.
    deadline = time.monotonic() + 20
    while True:
        s = connect(broker)
        if api_versions_answered(s):
            sockets.append(s)
            break
        s.close()
        assert time.monotonic() < deadline, "no connection let in after one closed"
        time.sleep(0.1)
    for s in sockets:
        s.close()
