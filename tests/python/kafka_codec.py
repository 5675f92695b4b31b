"""Kafka's wire primitives for tests that send raw requests: encoders for
strings, arrays, varints and tagged fields (classic and compact forms),
and a `Reader` that takes a response apart."""
import struct
import uuid

def uvarint(n):
    out = b""
    while True:
        byte, n = n & 0x7F, n >> 7
        if not n:
            return out + bytes([byte])
        out += bytes([byte | 0x80])


def compact_str(s):
    return uvarint(0) if s is None else uvarint(len(s.encode()) + 1) + s.encode()


def compact_array(items):
    return uvarint(len(items) + 1) + b"".join(items)


def string(s):
    return struct.pack(">h", len(s.encode())) + s.encode()


def array(items):
    return struct.pack(">i", len(items)) + b"".join(items)


NO_TAGS = uvarint(0)


class Reader:
    def __init__(self, data):
        self.data, self.at = data, 0

    def take(self, fmt):
        (value,) = struct.unpack_from(fmt, self.data, self.at)
        self.at += struct.calcsize(fmt)
        return value

    def int16(self):
        return self.take(">h")

    def int32(self):
        return self.take(">i")

    def int64(self):
        return self.take(">q")

    def uuid(self):
        value = uuid.UUID(bytes=self.data[self.at:self.at + 16])
        self.at += 16
        return value

    def uvarint(self):
        shift = value = 0
        while True:
            byte = self.take(">B")
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value

    def compact_bytes(self):
        n = self.uvarint()
        if n == 0:
            return None
        value = self.data[self.at:self.at + n - 1]
        self.at += n - 1
        return value

    def compact_str(self):
        value = self.compact_bytes()
        return None if value is None else value.decode()

    def string(self):
        n = self.int16()
        value = self.data[self.at:self.at + n].decode()
        self.at += n
        return value

    def compact_array(self, item):
        n = self.uvarint()
        return None if n == 0 else [item() for _ in range(n - 1)]

    def array(self, item):
        return [item() for _ in range(self.int32())]

    def tags(self):
        """The tagged-field section: {tag: raw value}."""
        out = {}
        for _ in range(self.uvarint()):
            tag = self.uvarint()
            size = self.uvarint()
            out[tag] = self.data[self.at:self.at + size]
            self.at += size
        return out

    def done(self):
        assert self.at == len(self.data), f"{len(self.data) - self.at} bytes left over"
