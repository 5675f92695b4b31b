#!/usr/bin/env python3
"""New authenticated connections per second per core: a one-shard fjord
(`--cores 1`, pinned to CPU 0) with a SASL_SSL listener and SCRAM-SHA-512,
and client processes on CPU 1 that each connect, run the TLS handshake,
SaslHandshake and the SCRAM exchange, and close, as fast as they can.

Prints handshakes per second and handshakes per broker CPU-second (the
per-core rate: the broker's utime+stime over the run, so it holds even when
the clients are the bottleneck).

    FJORD_BIN=target/release/fjord perf/handshakes.py [seconds] [clients]
"""
import base64
import hashlib
import hmac
import multiprocessing
import os
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time

FJORD = os.environ.get("FJORD_BIN", "target/release/fjord")
USER, PASSWORD = "perf", "perf-secret"


def pki(d):
    def run(*a):
        subprocess.run(["openssl", *a], cwd=d, check=True, capture_output=True)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=ca", "-keyout", "ca.key",
        "-out", "ca.pem")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "b.key", "-out", "b.csr")
    open(os.path.join(d, "b.ext"), "w").write("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "b.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
        "-extfile", "b.ext", "-out", "b.pem")
    with open(os.path.join(d, "keystore.pem"), "w") as f:
        for p in ("b.key", "b.pem", "ca.pem"):
            f.write(open(os.path.join(d, p)).read())


def request(key, version, corr, body):
    header = struct.pack(">hhih", key, version, corr, 4) + b"perf"
    frame = header + body
    return struct.pack(">i", len(frame)) + frame


def read_frame(s):
    def exact(n):
        buf = b""
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        return buf
    (n,) = struct.unpack(">i", exact(4))
    return exact(n)[4:]  # without the correlation id


def authenticate(s, token, corr):
    s.sendall(request(36, 1, corr, struct.pack(">i", len(token)) + token))
    r = read_frame(s)
    (error,) = struct.unpack(">h", r[:2])
    (mlen,) = struct.unpack(">h", r[2:4])
    rest = r[4 + max(mlen, 0):]
    (alen,) = struct.unpack(">i", rest[:4])
    if error:
        raise RuntimeError(f"SaslAuthenticate error {error}")
    return rest[4:4 + alen]


def one_connection(addr, context, salted_cache):
    host, port = addr.rsplit(":", 1)
    raw = socket.create_connection((host, int(port)))
    s = context.wrap_socket(raw, server_hostname="127.0.0.1")
    mech = b"SCRAM-SHA-512"
    s.sendall(request(17, 1, 1, struct.pack(">h", len(mech)) + mech))
    r = read_frame(s)
    assert struct.unpack(">h", r[:2])[0] == 0, "SaslHandshake refused"
    nonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = f"n={USER},r={nonce}"
    server_first = authenticate(s, f"n,,{first_bare}".encode(), 2).decode()
    fields = dict(item.split("=", 1) for item in server_first.split(","))
    salt, iterations = base64.b64decode(fields["s"]), int(fields["i"])
    key = (salt, iterations)
    if key not in salted_cache:  # the client's PBKDF2 is not what is measured
        salted_cache[key] = hashlib.pbkdf2_hmac("sha512", PASSWORD.encode(), salt, iterations)
    salted = salted_cache[key]
    without_proof = f"c=biws,r={fields['r']}"
    auth_message = f"{first_bare},{server_first},{without_proof}".encode()
    client_key = hmac.new(salted, b"Client Key", hashlib.sha512).digest()
    stored_key = hashlib.sha512(client_key).digest()
    signature = hmac.new(stored_key, auth_message, hashlib.sha512).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    final = f"{without_proof},p={base64.b64encode(proof).decode()}".encode()
    server_final = authenticate(s, final, 3).decode()
    assert server_final.startswith("v="), server_final
    s.close()


def client(addr, ca, until, counter):
    os.sched_setaffinity(0, {1})
    context = ssl.create_default_context(cafile=ca)
    cache, done = {}, 0
    while time.time() < until:
        one_connection(addr, context, cache)
        done += 1
    with counter.get_lock():
        counter.value += done


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 20
    clients = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    with tempfile.TemporaryDirectory() as d:
        pki(d)
        broker = subprocess.Popen(
            ["taskset", "-c", "0", FJORD, "serve", "--data-dir", f"{d}/data", "--cores", "1",
             "--set", "listeners=SASL_SSL://127.0.0.1:0,PLAINTEXT://127.0.0.1:0",
             "--set", "sasl.enabled.mechanisms=SCRAM-SHA-512", "--set", "ssl.keystore.type=PEM",
             "--set", f"ssl.keystore.location={d}/keystore.pem",
             "--add-scram", f"SCRAM-SHA-512=[name={USER},password={PASSWORD}]"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        addr = None
        while addr is None:
            line = broker.stdout.readline()
            if not line:
                sys.exit("the broker did not start")
            if line.startswith("fjord listener SASL_SSL on"):
                addr = line.split()[4]
        try:
            # Warm up (and wait for the broker to serve clients).
            for _ in range(50):
                try:
                    one_connection(addr, ssl.create_default_context(cafile=f"{d}/ca.pem"), {})
                    break
                except (ConnectionError, AssertionError, RuntimeError, OSError):
                    time.sleep(0.2)
            counter = multiprocessing.Value("l", 0)
            cpu0, t0 = cpu_seconds(broker.pid), time.time()
            until = t0 + seconds
            procs = [multiprocessing.Process(target=client, args=(addr, f"{d}/ca.pem", until, counter))
                     for _ in range(clients)]
            for p in procs:
                p.start()
            for p in procs:
                p.join()
            elapsed, cpu = time.time() - t0, cpu_seconds(broker.pid) - cpu0
            n = counter.value
            print(f"{n} TLS+SCRAM-SHA-512 logins in {elapsed:.1f} s: {n / elapsed:.0f}/s; "
                  f"broker CPU {cpu:.2f} s = {n / cpu:.0f} logins per broker CPU-second")
        finally:
            broker.terminate()
            broker.wait()


if __name__ == "__main__":
    main()
