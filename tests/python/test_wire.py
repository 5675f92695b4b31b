"""Raw wire behaviour a client library would not provoke: requests for APIs
fjord does not implement, unknown API keys, oversized and malformed frames."""
import socket
import struct


def connect(broker):
    host, port = broker.bootstrap.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=10)


def request(api_key, version, correlation_id, body, client_id=b"wire-test"):
    header = struct.pack(">hhih", api_key, version, correlation_id, len(client_id)) + client_id
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def read_frame(sock):
    def exact(n):
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf
    size = exact(4)
    return None if size is None else exact(struct.unpack(">i", size)[0])


def test_unimplemented_api_gets_error_reply(broker):
    with connect(broker) as s:
        # DescribeDelegationToken v1 (key 41): all owners (null); then a
        # Metadata v1 on the same connection to show it stays usable.
        s.sendall(request(41, 1, 7, struct.pack(">i", -1)))
        frame = read_frame(s)
        assert frame is not None, "connection closed instead of an error reply"
        correlation_id, error_code = struct.unpack(">ih", frame[:6])
        assert correlation_id == 7
        assert error_code == 35  # UNSUPPORTED_VERSION
        s.sendall(request(3, 1, 8, struct.pack(">i", -1)))
        frame = read_frame(s)
        assert frame is not None and struct.unpack(">i", frame[:4])[0] == 8


def test_sasl_handshake_on_a_plaintext_listener_is_illegal_not_fatal(broker):
    with connect(broker) as s:
        # SaslHandshake v1 (key 17), mechanism "PLAIN": Kafka answers
        # ILLEGAL_SASL_STATE on a listener without SASL and keeps serving.
        s.sendall(request(17, 1, 7, struct.pack(">h", 5) + b"PLAIN"))
        frame = read_frame(s)
        assert frame is not None, "connection closed instead of an error reply"
        correlation_id, error_code, mechanisms = struct.unpack(">ihi", frame[:10])
        assert (correlation_id, error_code, mechanisms) == (7, 34, 0)  # ILLEGAL_SASL_STATE
        s.sendall(request(3, 1, 8, struct.pack(">i", -1)))
        frame = read_frame(s)
        assert frame is not None and struct.unpack(">i", frame[:4])[0] == 8


def test_unknown_api_key_closes_connection(broker):
    with connect(broker) as s:
        s.sendall(request(9999, 0, 1, b""))
        assert read_frame(s) is None


def test_oversized_frame_closes_connection(broker):
    with connect(broker) as s:
        s.sendall(struct.pack(">i", 200 * 1024 * 1024) + b"\x00" * 64)
        assert read_frame(s) is None


def test_malformed_body_closes_connection_and_broker_lives(broker):
    with connect(broker) as s:
        # Metadata v1 claiming 2^31-1 topics with no bytes behind the count.
        s.sendall(request(3, 1, 1, struct.pack(">i", 0x7FFFFFFF)))
        assert read_frame(s) is None
    with connect(broker) as s:
        s.sendall(request(18, 0, 2, b""))  # ApiVersions v0
        frame = read_frame(s)
        assert struct.unpack(">ih", frame[:6]) == (2, 0)
