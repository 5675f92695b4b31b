"""Network namespaces for partition tests (root only): one namespace per
node, each with a veth pair whose host end sits on a bridge in the test's
own namespace, so the test reaches every node and the nodes reach each
other through the bridge. `partition(i)` takes node i's link down (it can
reach no one and no one can reach it); `heal(i)` brings it back.
`isolate(i)` cuts node i off from the other nodes but not from the test's
clients (blackhole routes); `rejoin(i)` undoes it.

Names carry the test process's pid so that runs side by side do not meet.
"""
import os
import subprocess


def available():
    """Whether this process may create namespaces (root, iproute2)."""
    if os.geteuid() != 0:
        return False
    try:
        subprocess.run(["ip", "netns", "list"], check=True, capture_output=True)
        return True
    except (OSError, subprocess.CalledProcessError):
        return False


def ip(*args):
    subprocess.run(["ip", *args], check=True, capture_output=True)


class Network:
    def __init__(self, nodes):
        tag = os.getpid() % 10000
        self.bridge = f"fjbr{tag}"
        self.prefix = f"fj{tag}"
        # 10.(100 + tag % 100).(tag / 100).x: a /24 of this run's own.
        self.net = f"10.{100 + tag % 100}.{tag // 100}"
        self.nodes = list(nodes)
        ip("link", "add", self.bridge, "type", "bridge")
        ip("addr", "add", f"{self.net}.1/24", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")
        for i in self.nodes:
            self._add(i)

    def namespace(self, i):
        return f"{self.prefix}n{i}"

    def host_link(self, i):
        return f"{self.prefix}h{i}"

    def address(self, i):
        return f"{self.net}.{10 + i}"

    def exec_prefix(self, i):
        return ["ip", "netns", "exec", self.namespace(i)]

    def _add(self, i):
        ns, host, inner = self.namespace(i), self.host_link(i), f"{self.prefix}i{i}"
        ip("netns", "add", ns)
        ip("link", "add", host, "type", "veth", "peer", "name", inner)
        ip("link", "set", inner, "netns", ns)
        ip("link", "set", host, "master", self.bridge)
        ip("link", "set", host, "up")
        ip("-n", ns, "addr", "add", f"{self.address(i)}/24", "dev", inner)
        ip("-n", ns, "link", "set", inner, "up")
        ip("-n", ns, "link", "set", "lo", "up")

    def partition(self, i):
        ip("link", "set", self.host_link(i), "down")

    def heal(self, i):
        ip("link", "set", self.host_link(i), "up")

    def isolate(self, i):
        """Cuts node i off from the other nodes only: blackhole routes both
        ways, so the test (and its clients) still reach every node."""
        for j in self.nodes:
            if j != i:
                ip("-n", self.namespace(i), "route", "add", "blackhole", f"{self.address(j)}/32")
                ip("-n", self.namespace(j), "route", "add", "blackhole", f"{self.address(i)}/32")

    def rejoin(self, i):
        for j in self.nodes:
            if j != i:
                ip("-n", self.namespace(i), "route", "del", "blackhole", f"{self.address(j)}/32")
                ip("-n", self.namespace(j), "route", "del", "blackhole", f"{self.address(i)}/32")

    def close(self):
        for i in self.nodes:
            subprocess.run(["ip", "netns", "del", self.namespace(i)], capture_output=True)
            subprocess.run(["ip", "link", "del", self.host_link(i)], capture_output=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
