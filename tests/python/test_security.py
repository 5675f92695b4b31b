"""TLS and SASL with real clients (confluent-kafka, kcat) against the real
binary: SSL with and without client certificates, SASL_PLAINTEXT PLAIN,
SASL_SSL SCRAM-SHA-256/512 (the first admin from --add-scram, more users
created live with AlterUserScramCredentials), OAUTHBEARER with unsecured
tokens. Each refusal — wrong password, unknown user, expired token, a
plaintext client on a TLS port, no client certificate where one is
required — gets the client's authentication error, and the broker keeps
serving everyone else."""
import subprocess
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import (AdminClient, NewTopic, ScramCredentialInfo, ScramMechanism,
                                   UserScramCredentialUpsertion)

from secure import Pki, SecureBroker, unsecured_jwt

JAAS = ('org.apache.kafka.common.security.plain.PlainLoginModule required '
        'username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";')


@pytest.fixture(scope="module")
def pki():
    p = Pki()
    p.issue("alice", "/CN=alice/OU=eng/O=fjord")
    yield p
    p.cleanup()


def tls_settings(pki, **extra):
    return {"ssl.keystore.type": "PEM", "ssl.keystore.location": pki.keystore,
            "ssl.truststore.type": "PEM", "ssl.truststore.location": pki.ca, **extra}


def round_trip(conf, records=20):
    """Creates a topic, produces `records` values and reads exactly them
    back, in order, at offsets 0..records-1."""
    topic = f"t-{uuid.uuid4().hex[:8]}"
    admin = AdminClient(conf)
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    producer = Producer({**conf, "acks": "all"})
    values = [f"secure-{i}".encode() for i in range(records)]
    for v in values:
        producer.produce(topic, v)
    assert producer.flush(30) == 0
    consumer = Consumer({**conf, "group.id": f"g-{topic}", "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    got = []
    for _ in range(300):
        if len(got) == records:
            break
        m = consumer.poll(0.2)
        if m is not None and m.error() is None:
            got.append((m.offset(), m.value()))
    consumer.close()
    assert got == list(enumerate(values))


def kcat_round_trip(bootstrap, settings):
    """kcat (Debian's, librdkafka 2.0.2) writes two records and reads them
    back at offsets 0 and 1 with `settings` as -X options."""
    topic = f"k-{uuid.uuid4().hex[:8]}"
    kcat = ["kcat", "-b", bootstrap]
    for k, v in settings.items():
        kcat += ["-X", f"{k}={v}"]
    subprocess.run([*kcat, "-P", "-t", topic], input=b"a\nb\n", check=True, timeout=30)
    out = subprocess.run([*kcat, "-C", "-t", topic, "-o", "beginning", "-c", "2", "-e", "-f", "%o %s\n"],
                         capture_output=True, check=True, timeout=30)
    assert out.stdout == b"0 a\n1 b\n"


def refused(conf):
    """The client's error when it cannot get metadata (authentication or
    TLS failure), within a few seconds."""
    errors = []
    admin = AdminClient({**conf, "error_cb": lambda e: errors.append(e), "log_level": 2})
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=6)
    admin.poll(1)  # serves error_cb
    return errors


def test_ssl_server_only_and_kcat(pki):
    b = SecureBroker({"listeners": "SSL://127.0.0.1:0,PLAINTEXT://127.0.0.1:0", **tls_settings(pki)})
    try:
        conf = {"bootstrap.servers": b.listeners["SSL"], "security.protocol": "SSL", "ssl.ca.location": pki.ca}
        round_trip(conf)
        # kcat over TLS: produce one record, read it back.
        topic = f"k-{uuid.uuid4().hex[:8]}"
        kcat = ["kcat", "-b", b.listeners["SSL"], "-X", "security.protocol=SSL", "-X", f"ssl.ca.location={pki.ca}"]
        subprocess.run([*kcat, "-P", "-t", topic], input=b"over-tls\n", check=True, timeout=30)
        out = subprocess.run([*kcat, "-C", "-t", topic, "-o", "beginning", "-c", "1", "-e", "-f", "%o %s\n"],
                             capture_output=True, check=True, timeout=30)
        assert out.stdout == b"0 over-tls\n"
        # A plaintext client on the TLS port is refused; TLS clients carry on.
        refused({"bootstrap.servers": b.listeners["SSL"]})
        round_trip(conf, records=3)
        # Metadata names the endpoint of the listener the client came in on.
        md = AdminClient(conf).list_topics(timeout=10)
        assert [f"{x.host}:{x.port}" for x in md.brokers.values()] == [b.listeners["SSL"]]
        plain = AdminClient({"bootstrap.servers": b.listeners["PLAINTEXT"]}).list_topics(timeout=10)
        assert [f"{x.host}:{x.port}" for x in plain.brokers.values()] == [b.listeners["PLAINTEXT"]]
    finally:
        b.stop()


def test_mutual_tls_requires_a_client_certificate(pki):
    b = SecureBroker({"listeners": "SSL://127.0.0.1:0,PLAINTEXT://127.0.0.1:0",
                      **tls_settings(pki, **{"ssl.client.auth": "required"})})
    try:
        base = {"bootstrap.servers": b.listeners["SSL"], "security.protocol": "SSL", "ssl.ca.location": pki.ca}
        assert refused(base), "no client certificate must be refused"
        with_cert = {**base, "ssl.certificate.location": f"{pki.dir}/alice.pem",
                     "ssl.key.location": f"{pki.dir}/alice.key"}
        round_trip(with_cert)
        kcat_round_trip(b.listeners["SSL"], {k: v for k, v in with_cert.items() if k != "bootstrap.servers"})
    finally:
        b.stop()


def test_sasl_plain_users_from_jaas():
    b = SecureBroker({"listeners": "SASL_PLAINTEXT://127.0.0.1:0,PLAINTEXT://127.0.0.1:0",
                      "sasl.enabled.mechanisms": "PLAIN",
                      "listener.name.sasl_plaintext.plain.sasl.jaas.config": JAAS})
    try:
        conf = {"bootstrap.servers": b.listeners["SASL_PLAINTEXT"], "security.protocol": "SASL_PLAINTEXT",
                "sasl.mechanism": "PLAIN", "sasl.username": "alice", "sasl.password": "alice-secret"}
        round_trip(conf)
        kcat_round_trip(b.listeners["SASL_PLAINTEXT"], {k: v for k, v in conf.items()
                                                        if k not in ("bootstrap.servers", "sasl.mechanism")}
                        | {"sasl.mechanisms": "PLAIN"})
        errors = refused({**conf, "sasl.password": "wrong"})
        assert any(e.code() == KafkaError._AUTHENTICATION for e in errors), errors
        errors = refused({**conf, "sasl.username": "mallory"})
        assert any(e.code() == KafkaError._AUTHENTICATION for e in errors), errors
        round_trip(conf, records=3)
        assert "alice-secret" not in b.read_log()
    finally:
        b.stop()


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_ssl_scram_bootstrap_admin_and_live_users(pki, mechanism):
    b = SecureBroker({"listeners": "SASL_SSL://127.0.0.1:0,PLAINTEXT://127.0.0.1:0",
                      "sasl.enabled.mechanisms": "SCRAM-SHA-256,SCRAM-SHA-512", **tls_settings(pki)},
                     add_scram=[f"{mechanism}=[name=admin,password=admin-secret]"])
    try:
        admin_conf = {"bootstrap.servers": b.listeners["SASL_SSL"], "security.protocol": "SASL_SSL",
                      "ssl.ca.location": pki.ca, "sasl.mechanism": mechanism,
                      "sasl.username": "admin", "sasl.password": "admin-secret"}
        round_trip(admin_conf)
        # A new user, created live, logs in at once.
        m = ScramMechanism.SCRAM_SHA_256 if mechanism.endswith("256") else ScramMechanism.SCRAM_SHA_512
        upsert = UserScramCredentialUpsertion("alice", ScramCredentialInfo(m, 4096), b"alice-secret")
        admin = AdminClient(admin_conf)
        for f in admin.alter_user_scram_credentials([upsert]).values():
            f.result(20)
        alice = {**admin_conf, "sasl.username": "alice", "sasl.password": "alice-secret"}
        round_trip(alice)
        for wrong in ({"sasl.password": "nope"}, {"sasl.username": "nobody"}):
            errors = refused({**alice, **wrong})
            assert any(e.code() == KafkaError._AUTHENTICATION for e in errors), errors
        # The credential survives a restart (it is in the metadata log).
        b.restart()
        alice["bootstrap.servers"] = b.listeners["SASL_SSL"]
        round_trip(alice, records=3)
    finally:
        b.stop()


def test_oauthbearer_unsecured_tokens():
    b = SecureBroker({"listeners": "SASL_PLAINTEXT://127.0.0.1:0,PLAINTEXT://127.0.0.1:0",
                      "sasl.enabled.mechanisms": "OAUTHBEARER"})
    try:
        def conf(token_lifetime_s):
            def token(_config):
                jwt = unsecured_jwt("alice", token_lifetime_s)
                return jwt, __import__("time").time() + max(token_lifetime_s, 1)
            return {"bootstrap.servers": b.listeners["SASL_PLAINTEXT"], "security.protocol": "SASL_PLAINTEXT",
                    "sasl.mechanism": "OAUTHBEARER", "oauth_cb": token}
        round_trip(conf(3600))
        errors = refused(conf(-600))
        assert any(e.code() == KafkaError._AUTHENTICATION for e in errors), errors
        round_trip(conf(3600), records=3)
    finally:
        b.stop()


def test_tls_listener_survives_garbage_before_and_after_the_handshake(pki):
    import socket
    import ssl
    b = SecureBroker({"listeners": "SSL://127.0.0.1:0,PLAINTEXT://127.0.0.1:0", **tls_settings(pki)})
    try:
        host, port = b.listeners["SSL"].rsplit(":", 1)
        # Garbage instead of a ClientHello: the broker closes the connection.
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(b"\x16\x03\x01\xff\xff" + bytes(range(256)) * 4)
            assert s.recv(4096) is not None  # an alert or EOF, never a hang
        # A real handshake, then bytes that are not TLS records.
        context = ssl.create_default_context(cafile=pki.ca)
        raw = socket.create_connection((host, int(port)), timeout=10)
        tls = context.wrap_socket(raw, server_hostname="127.0.0.1")
        raw_fd = socket.socket(fileno=__import__("os").dup(tls.fileno()))
        raw_fd.sendall(b"not a TLS record at all" * 10)
        try:
            assert tls.recv(10) == b""
        except (ssl.SSLError, ConnectionError):
            pass
        raw_fd.close()
        tls.close()
        # A Kafka request inside TLS with a nonsense header is refused too.
        tls = context.wrap_socket(socket.create_connection((host, int(port)), timeout=10),
                                  server_hostname="127.0.0.1")
        tls.sendall(b"\x00\x00\x00\x08" + b"\xff" * 8)
        try:
            assert tls.recv(10) == b""
        except (ssl.SSLError, ConnectionError):
            pass
        tls.close()
        # Everyone else is still served.
        round_trip({"bootstrap.servers": b.listeners["SSL"], "security.protocol": "SSL",
                    "ssl.ca.location": pki.ca}, records=3)
        assert b.proc.poll() is None
    finally:
        b.stop()


def test_kcat_over_sasl_ssl_scram(pki):
    b = SecureBroker({"listeners": "SASL_SSL://127.0.0.1:0,PLAINTEXT://127.0.0.1:0",
                      "sasl.enabled.mechanisms": "SCRAM-SHA-512", **tls_settings(pki)},
                     add_scram=["SCRAM-SHA-512=[name=kc,password=kc-secret]"])
    try:
        topic = f"k-{uuid.uuid4().hex[:8]}"
        kcat = ["kcat", "-b", b.listeners["SASL_SSL"], "-X", "security.protocol=SASL_SSL",
                "-X", f"ssl.ca.location={pki.ca}", "-X", "sasl.mechanisms=SCRAM-SHA-512",
                "-X", "sasl.username=kc", "-X", "sasl.password=kc-secret"]
        subprocess.run([*kcat, "-P", "-t", topic], input=b"a\nb\n", check=True, timeout=30)
        out = subprocess.run([*kcat, "-C", "-t", topic, "-o", "beginning", "-c", "2", "-e", "-f", "%o %s\n"],
                             capture_output=True, check=True, timeout=30)
        assert out.stdout == b"0 a\n1 b\n"
        wrong = [a if a != "sasl.password=kc-secret" else "sasl.password=nope" for a in kcat]
        bad = subprocess.run([*wrong, "-L", "-m", "5"], capture_output=True, timeout=30)
        assert bad.returncode != 0 and b"Authentication failed" in bad.stderr + bad.stdout
    finally:
        b.stop()


def test_oauthbearer_signed_tokens_checked_against_a_jwks_file(tmp_path):
    import base64
    import json
    import time
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    def int_b64(n):
        return b64(n.to_bytes((n.bit_length() + 7) // 8, "big"))

    key, other = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2))
    numbers = key.public_key().public_numbers()
    jwks = {"keys": [{"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
                      "n": int_b64(numbers.n), "e": int_b64(numbers.e)}]}
    (tmp_path / "jwks.json").write_text(json.dumps(jwks))

    def token(signer, sub="alice", exp_in=3600, iss="https://issuer.test", aud="fjord"):
        header = b64(json.dumps({"alg": "RS256", "kid": "k1", "typ": "JWT"}).encode())
        now = int(time.time())
        claims = b64(json.dumps({"sub": sub, "iss": iss, "aud": aud, "iat": now, "exp": now + exp_in}).encode())
        signature = signer.sign(f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{header}.{claims}.{b64(signature)}"

    b = SecureBroker({"listeners": "SASL_PLAINTEXT://127.0.0.1:0,PLAINTEXT://127.0.0.1:0",
                      "sasl.enabled.mechanisms": "OAUTHBEARER",
                      "sasl.oauthbearer.jwks.endpoint.url": f"file://{tmp_path}/jwks.json",
                      "sasl.oauthbearer.expected.issuer": "https://issuer.test",
                      "sasl.oauthbearer.expected.audience": "fjord"})
    try:
        def conf(make):
            return {"bootstrap.servers": b.listeners["SASL_PLAINTEXT"], "security.protocol": "SASL_PLAINTEXT",
                    "sasl.mechanism": "OAUTHBEARER", "oauth_cb": lambda _c: (make(), time.time() + 3600)}
        round_trip(conf(lambda: token(key)))
        for bad in (lambda: token(other),                       # signed by another key
                    lambda: token(key, exp_in=-600),            # expired
                    lambda: token(key, iss="https://evil.test"),  # wrong issuer
                    lambda: token(key, aud="someone-else")):    # wrong audience
            errors = refused(conf(bad))
            assert any(e.code() == KafkaError._AUTHENTICATION for e in errors), errors
        round_trip(conf(lambda: token(key)), records=3)
        assert serialization  # imported for the key types only
    finally:
        b.stop()


def test_clients_reauthenticate_on_their_connection(pki):
    """connections.max.reauth.ms=3000: a producer that keeps writing for
    three session lifetimes re-authenticates (KIP-368) and loses nothing."""
    import time
    b = SecureBroker({"listeners": "SASL_SSL://127.0.0.1:0,PLAINTEXT://127.0.0.1:0",
                      "sasl.enabled.mechanisms": "SCRAM-SHA-256", "connections.max.reauth.ms": "3000",
                      **tls_settings(pki)},
                     add_scram=["SCRAM-SHA-256=[name=re,password=re-secret]"])
    try:
        conf = {"bootstrap.servers": b.listeners["SASL_SSL"], "security.protocol": "SASL_SSL",
                "ssl.ca.location": pki.ca, "sasl.mechanism": "SCRAM-SHA-256",
                "sasl.username": "re", "sasl.password": "re-secret"}
        topic = f"re-{uuid.uuid4().hex[:8]}"
        admin = AdminClient(conf)
        admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
        acked, failed = [], []
        producer = Producer({**conf, "acks": "all"})

        def report(err, msg):
            (failed if err else acked).append(err or msg.offset())
        deadline = time.time() + 10
        sent = 0
        while time.time() < deadline:
            producer.produce(topic, f"r{sent}".encode(), on_delivery=report)
            sent += 1
            producer.poll(0.05)
        assert producer.flush(30) == 0
        assert failed == [] and sorted(acked) == list(range(sent))
        log = b.read_log()
        assert "expired and the client did not re-authenticate" not in log
    finally:
        b.stop()
