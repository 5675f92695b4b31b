"""A test PKI made with the openssl command line, and a fjord broker started
with security settings (listeners, TLS, SASL, the authorizer).

`SecureBroker` reads the `fjord listener NAME on ADDR (PROTOCOL)` lines the
broker prints after `fjord listening on`, so each test knows the address of
every listener."""
import base64
import json
import os
import subprocess
import tempfile
import time

from conftest import FJORD


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


class Pki:
    """A CA, a broker certificate for 127.0.0.1/localhost and client
    certificates, as PEM files in a temp dir. `keystore` is Kafka's one-file
    PEM key store (KIP-651): the private key, then the certificate chain."""

    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory()
        d = self.dir = self.tmp.name
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=fjord-test-ca",
                "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
        self.ca = os.path.join(d, "ca.pem")
        self.keystore = self.issue("broker", "/CN=localhost/OU=brokers",
                                   "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth")

    def issue(self, name, subject, extension="extendedKeyUsage=clientAuth"):
        """Signs an X.509 v3 certificate for `subject` (a client certificate
        unless `extension` says otherwise); returns the key store path (key +
        certificate + CA). `<name>.key` / `<name>.pem` hold the parts."""
        d = self.dir
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", f"{name}.key",
                "-out", f"{name}.csr", cwd=d)
        with open(os.path.join(d, f"{name}.ext"), "w") as f:
            f.write(extension + "\n")
        ext = ["-extfile", f"{name}.ext"]
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "2", "-out", f"{name}.pem", *ext, cwd=d)
        store = os.path.join(d, f"{name}-keystore.pem")
        with open(store, "w") as out:
            for part in (f"{name}.key", f"{name}.pem", "ca.pem"):
                out.write(open(os.path.join(d, part)).read())
        return store

    def cleanup(self):
        self.tmp.cleanup()


class SecureBroker:
    """fjord with `settings` (name -> value, given with --set) and
    `add_scram` credentials; `listeners` maps listener name -> host:port."""

    def __init__(self, settings, add_scram=(), cores=2):
        self.dir = tempfile.TemporaryDirectory()
        self.settings, self.add_scram, self.cores = dict(settings), list(add_scram), cores
        self.data = os.path.join(self.dir.name, "data")
        self.start()

    def start(self):
        args = [FJORD, "serve", "--data-dir", self.data, "--cores", str(self.cores)]
        for name, value in self.settings.items():
            args += ["--set", f"{name}={value}"]
        for cred in self.add_scram:
            args += ["--add-scram", cred]
        self.log = open(os.path.join(self.dir.name, "broker.log"), "a")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log, text=True)
        # `fjord listening on ADDR`, then one `fjord listener NAME on ADDR
        # (PROTOCOL)` per client listener.
        expected = [e for e in self.settings["listeners"].split(",") if not e.startswith("CONTROLLER")]
        self.listeners = {}
        while len(self.listeners) < len(expected):
            line = self.proc.stdout.readline()
            assert line, f"broker did not start; log:\n{self.read_log()}"
            if line.startswith("fjord listener "):
                _, _, name, _, addr, _ = line.split()
                self.listeners[name] = addr

    def read_log(self):
        with open(os.path.join(self.dir.name, "broker.log")) as f:
            return f.read()

    def restart(self):
        self.proc.terminate()
        self.proc.wait(timeout=20)
        # Bound ports were 0: a restart picks new ones.
        self.start()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
        self.dir.cleanup()


def unsecured_jwt(sub, exp_in_s, **claims):
    """A token for Kafka's unsecured OAUTHBEARER validator (alg none)."""
    def b64(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    now = int(time.time())
    payload = {"sub": sub, "iat": now, "exp": now + exp_in_s, **claims}
    return f"{b64({'alg': 'none'})}.{b64(payload)}."
