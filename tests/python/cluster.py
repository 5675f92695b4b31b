"""A multi-node fjord cluster of real processes, for tests/python/test_cluster.py.

Every node is a voter and a broker (`process.roles` default), listening for
Kafka clients on its own port and for other nodes on its controller port.
Ports are picked once per cluster and kept across restarts, as are data
dirs. Each start of a node (an incarnation) writes its own stdout and stderr
files under the node's directory, so log checks look only at the process
that is running now; the files stay for a failed test's post-mortem (the
fixture prints where they are).
"""
import os
import re
import signal
import socket
import subprocess
import tempfile
import time

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

from conftest import FJORD

# Short timings so that fencing, expiry and elections fit in a test.
FAST = {
    "broker.session.timeout.ms": "3000",
    "broker.heartbeat.interval.ms": "500",
    "controller.quorum.election.timeout.ms": "500",
}

START_TIMEOUT = 30
ANSI = re.compile(r"\x1b\[[0-9;]*m")


# Ports handed out in this process. fjord binds with SO_REUSEPORT, so two
# nodes given the same port would both bind it and share its connections
# (a metrics scrape landing on a Kafka listener): never hand one out twice.
_HANDED_OUT = set()


def free_port():
    while True:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def wait_for(predicate, timeout, what, interval=0.2):
    """Polls `predicate` until it returns something truthy (returned), or
    fails naming `what` and the last value seen."""
    deadline = time.time() + timeout
    last = None
    while True:
        try:
            last = predicate()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - report the last failure below
            last = e
        if time.time() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
        time.sleep(interval)


class Node:
    def __init__(self, cluster, node_id):
        self.cluster = cluster
        self.id = node_id
        # Within a network namespace of its own (cluster.netns), a node has
        # its own address and the ports are its own too.
        self.host = cluster.netns.address(node_id) if cluster.netns else "127.0.0.1"
        self.port = 9092 if cluster.netns else free_port()
        self.cport = 9093 if cluster.netns else free_port()
        # Prometheus text (--metrics-addr), served by every node.
        self.mport = 9094 if cluster.netns else free_port()
        # A second client listener, for clusters whose `listeners` setting
        # (a template with {host}, {port}, {sport}) names one.
        self.sport = 9095 if cluster.netns else free_port()
        self.dir = os.path.join(cluster.dir, f"node{node_id}")
        self.data_dir = os.path.join(self.dir, "data")
        os.makedirs(self.dir, exist_ok=True)
        self.proc = None
        self.incarnation = 0
        self.log_path = None
        self.stdout_path = None
        # process.roles: "broker,controller" (default), "broker" or "controller".
        self.roles = "broker,controller"

    @property
    def is_voter(self):
        return "controller" in self.roles

    @property
    def is_broker(self):
        return "broker" in self.roles

    @property
    def bootstrap(self):
        return f"{self.host}:{self.port}"

    @property
    def metrics_addr(self):
        return f"{self.host}:{self.mport}"

    @property
    def metadata_dir(self):
        return os.path.join(self.data_dir, "metadata")

    def command(self):
        settings = {"node.id": str(self.id), "controller.quorum.voters": self.cluster.voters,
                    "process.roles": self.roles, **FAST, **self.cluster.settings}
        cmd = [FJORD, "serve", "--data-dir", self.data_dir, "--cores", "1", "--metrics-addr", self.metrics_addr,
               *self.cluster.extra_args]
        if "listeners" in settings:
            # The listener on `port` is `bootstrap`, what the helpers use
            # (with cluster.client_conf when it is not PLAINTEXT).
            settings["listeners"] = settings["listeners"].format(host=self.host, port=self.port, sport=self.sport)
        else:
            cmd += ["--listen", self.bootstrap]
        if self.is_voter:
            cmd += ["--controller-listen", f"{self.host}:{self.cport}"]
        if self.cluster.netns:
            cmd = self.cluster.netns.exec_prefix(self.id) + cmd
        for name, value in settings.items():
            cmd += ["--set", f"{name}={value}"]
        return cmd

    def spawn(self):
        """Starts the process; `wait_listening` waits for it to serve."""
        assert not self.alive, f"node {self.id} already running"
        self.incarnation += 1
        self.log_path = os.path.join(self.dir, f"stderr.{self.incarnation}.log")
        self.stdout_path = os.path.join(self.dir, f"stdout.{self.incarnation}.log")
        env = dict(os.environ, NO_COLOR="1", RUST_BACKTRACE="1")
        with open(self.log_path, "w") as err, open(self.stdout_path, "w") as out:
            self.proc = subprocess.Popen(self.command(), stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        self.started_at = time.time()

    def wait_listening(self, timeout=START_TIMEOUT):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with open(self.stdout_path) as f:
                lines = f.read().splitlines()
            ready = "fjord listening on " if self.is_broker else "fjord controller ready"
            if any(line.startswith(ready) for line in lines):
                return time.time() - self.started_at
            if self.proc.poll() is not None:
                raise AssertionError(f"node {self.id} exited with {self.proc.returncode} before listening; "
                                     f"stdout {lines!r}; log tail:\n{self.tail()}")
            time.sleep(0.05)
        raise AssertionError(f"node {self.id} not listening after {timeout}s; log tail:\n{self.tail()}")

    def start(self, timeout=START_TIMEOUT):
        self.spawn()
        return self.wait_listening(timeout)

    @property
    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        if self.alive:
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=10)

    def terminate(self):
        if self.alive:
            self.proc.send_signal(signal.SIGTERM)

    def wait_exit(self, timeout=30):
        """Waits for the process to exit; returns its exit code."""
        return self.proc.wait(timeout=timeout)

    def log(self):
        """This incarnation's stderr (tracing log), colour codes removed."""
        if self.log_path is None:
            return ""
        with open(self.log_path, errors="replace") as f:
            return ANSI.sub("", f.read())

    def log_lines(self, needle):
        return [line for line in self.log().splitlines() if needle in line]

    def tail(self, n=40):
        return "\n".join(self.log().splitlines()[-n:])

    def all_logs(self):
        """Every incarnation's log, oldest first, for post-mortems."""
        out = []
        for k in range(1, self.incarnation + 1):
            path = os.path.join(self.dir, f"stderr.{k}.log")
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    out.append(f"--- node {self.id} incarnation {k} ---\n" + ANSI.sub("", f.read()))
        return "\n".join(out)


class Cluster:
    """Nodes 1..n; `node(i)` is node id i."""

    def __init__(self, base_dir=None, netns=None):
        """`netns`: a `netns.Network` giving each node a namespace of its own
        (for partition tests); default: every node on loopback."""
        self.netns = netns
        self._tmp = None
        if base_dir is None:
            self._tmp = tempfile.mkdtemp(prefix="fjord-cluster-")
            base_dir = self._tmp
        self.dir = base_dir
        self.nodes = {}
        self.settings = {}
        # Arguments every node's `fjord serve` gets (e.g. --add-scram).
        self.extra_args = []
        # Client settings the helpers (admin, metadata, wait_brokers) add,
        # for clusters whose `port` listener needs TLS or SASL.
        self.client_conf = {}
        self.voters = ""

    # ---- lifecycle -------------------------------------------------------
    def start(self, n=3, extra_settings=None, wait_brokers=True, roles=None):
        """`roles`: {node id: process.roles} for nodes that are not both."""
        self.settings = dict(extra_settings or {})
        self.nodes = {i: Node(self, i) for i in range(1, n + 1)}
        for i, role in (roles or {}).items():
            self.nodes[i].roles = role
        self.voters = ",".join(f"{i}@{node.host}:{node.cport}" for i, node in self.nodes.items() if node.is_voter)
        for node in self.nodes.values():
            node.spawn()
        for node in self.nodes.values():
            node.wait_listening()
        if wait_brokers:
            brokers = [i for i, node in self.nodes.items() if node.is_broker]
            self.wait_brokers(brokers, expected=brokers)
        return self

    def node(self, i):
        return self.nodes[i]

    def bootstrap(self, i):
        return self.nodes[i].bootstrap

    def live(self):
        return [i for i, node in self.nodes.items() if node.alive]

    def restart(self, i, timeout=START_TIMEOUT):
        node = self.nodes[i]
        if node.alive:
            node.terminate()
            node.wait_exit()
        return node.start(timeout)

    def stop_all(self, timeout=30):
        """SIGTERM to every live node, then waits for all: {id: (exit code, seconds)}."""
        t0 = time.time()
        live = [node for node in self.nodes.values() if node.alive]
        for node in live:
            node.terminate()
        out = {}
        for node in live:
            code = node.wait_exit(timeout)
            out[node.id] = (code, round(time.time() - t0, 2))
        return out

    def start_all(self):
        for node in self.nodes.values():
            node.spawn()
        for node in self.nodes.values():
            node.wait_listening()

    def kill_all(self):
        for node in self.nodes.values():
            if node.alive:
                node.proc.send_signal(signal.SIGKILL)
        for node in self.nodes.values():
            if node.proc is not None:
                try:
                    node.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass

    def cleanup(self, keep=False):
        self.kill_all()
        if self._tmp and not keep:
            import shutil
            shutil.rmtree(self._tmp, ignore_errors=True)

    def logs(self):
        return "\n".join(node.all_logs() for node in self.nodes.values())

    # ---- who leads the quorum -------------------------------------------
    def find_active_controller(self, timeout=15, among=None):
        """The live node whose log says it became the active controller (its
        latest leadership line, in this incarnation, is 'became ...'); the
        most recent one if several claim it."""
        among = among or self.live()

        def claimants():
            found = []
            for i in among:
                node = self.nodes[i]
                if not node.alive:
                    continue
                lines = [line for line in node.log().splitlines()
                         if "became the active controller" in line or "no longer the active controller" in line]
                if lines and "became the active controller" in lines[-1]:
                    found.append((lines[-1][:40], i))
            return sorted(found)

        found = wait_for(claimants, timeout, "a node to become the active controller")
        return found[-1][1]

    # ---- client helpers --------------------------------------------------
    def admin(self, i, **conf):
        # log_level 2: no "connection refused" lines from clients of dead nodes.
        return AdminClient({"bootstrap.servers": self.bootstrap(i), "log_level": 2, **self.client_conf, **conf})

    def metadata(self, i, timeout=5):
        """Metadata as node i answers it: (brokers {id: port}, topics
        {name: {partition: (leader, replicas, error code)}}), internal
        topics left out."""
        md = self.admin(i).list_topics(timeout=timeout)
        brokers = {b.id: b.port for b in md.brokers.values()}
        topics = {}
        for name, t in md.topics.items():
            if name.startswith("__"):
                continue
            topics[name] = {p.id: (p.leader, tuple(p.replicas), p.error.code() if p.error else 0)
                            for p in t.partitions.values()}
            if t.error is not None:
                topics[name] = ("error", t.error.code())
        return brokers, topics

    def cluster_id(self, i, timeout=5):
        return self.admin(i).list_topics(timeout=timeout).cluster_id

    def expected_brokers(self, ids):
        return {i: self.nodes[i].port for i in ids}

    def wait_brokers(self, ask, expected, timeout=20):
        """Waits until every node in `ask` reports exactly the brokers `expected`."""
        want = self.expected_brokers(expected)

        def ok():
            return all(self.metadata(i)[0] == want for i in ask)

        wait_for(ok, timeout, f"nodes {ask} to report brokers {sorted(want)}")

    def wait_agreement(self, ask, timeout=20, check=None, interval=0.2):
        """Waits until every node in `ask` answers the same Metadata (and
        `check(view)` holds on it); returns that view."""

        seen = {}

        def agreed():
            seen.clear()
            seen.update({i: self.metadata(i) for i in ask})
            views = list(seen.values())
            if any(v != views[0] for v in views[1:]):
                return None
            if check is not None and not check(views[0]):
                return None
            return views[0]

        try:
            return wait_for(agreed, timeout, f"nodes {ask} to agree on Metadata", interval)
        except AssertionError as e:
            raise AssertionError(f"{e}\nlast answers:\n{describe_views(seen)}") from None

    def create_topics(self, i, topics, timeout=20, retry_for=0, **opts):
        """Creates [NewTopic] through node i; retries retriable failures for
        `retry_for` seconds. Returns the number of attempts."""
        deadline = time.time() + retry_for
        attempts = 0
        pending = list(topics)
        while True:
            attempts += 1
            admin = self.admin(i)  # must outlive the futures
            futures = admin.create_topics(pending, request_timeout=timeout, operation_timeout=timeout, **opts)
            failed = []
            for t in pending:
                try:
                    futures[t.topic].result(timeout + 5)
                except KafkaException as e:
                    err = e.args[0]
                    if not retriable(err) or time.time() >= deadline:
                        raise
                    failed.append(t)
            if not failed:
                return attempts
            pending = failed
            time.sleep(0.3)

    def delete_topics(self, i, names, timeout=20):
        admin = self.admin(i)  # must outlive the futures
        futures = admin.delete_topics(list(names), request_timeout=timeout, operation_timeout=timeout)
        for name in names:
            futures[name].result(timeout + 5)

    def alter_topic_configs(self, i, topic, configs, timeout=10, retry_for=0):
        """incremental_alter_configs SET `configs` on `topic` through node i,
        retrying retriable failures for `retry_for` seconds."""
        deadline = time.time() + retry_for
        entries = [ConfigEntry(k, str(v), incremental_operation=AlterConfigOpType.SET) for k, v in configs.items()]
        while True:
            res = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=entries)
            try:
                admin = self.admin(i)  # must outlive the future
                admin.incremental_alter_configs([res], request_timeout=timeout)[res].result(timeout + 5)
                return
            except KafkaException as e:
                if not retriable(e.args[0]) or time.time() >= deadline:
                    raise
                time.sleep(0.3)

    def topic_configs(self, i, topic, timeout=10):
        res = ConfigResource(ConfigResource.Type.TOPIC, topic)
        admin = self.admin(i)  # must outlive the future
        configs = admin.describe_configs([res], request_timeout=timeout)[res].result(timeout + 5)
        return {name: entry.value for name, entry in configs.items()}


def describe_views(views, limit=2000):
    """A short account of Metadata views {node: (brokers, topics)}."""
    out = []
    for i, (brokers, topics) in views.items():
        no_leader = sorted(f"{t}/{p}" for t, parts in topics.items() if isinstance(parts, dict)
                           for p, (leader, _, _) in parts.items() if leader < 0)
        out.append(f"node {i}: brokers {sorted(brokers)}, {len(topics)} topics {sorted(topics)[:30]}"
                   f"{'...' if len(topics) > 30 else ''}, leaderless {no_leader[:20]}")
    return "\n".join(out)[:limit]


RETRIABLE = {
    KafkaError.NOT_CONTROLLER,
    KafkaError.REQUEST_TIMED_OUT,
    KafkaError._TIMED_OUT,
    KafkaError._TRANSPORT,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.BROKER_NOT_AVAILABLE,
    KafkaError._ALL_BROKERS_DOWN,
}


def retriable(err):
    return err.retriable() or err.code() in RETRIABLE


def new_topic(name, partitions=1, rf=1, **configs):
    return NewTopic(name, num_partitions=partitions, replication_factor=rf,
                    config={k.replace("_", "."): str(v) for k, v in configs.items()})
