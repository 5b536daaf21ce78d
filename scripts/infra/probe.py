"""Readiness probes for the local dev services, using only the standard library.

    python3 probe.py kafka HOST PORT   # ApiVersions + Metadata request; ready when >= 1 broker is listed
    python3 probe.py mongo HOST PORT   # OP_MSG {ping: 1}; ready when the reply has ok: 1
    python3 probe.py tcp HOST PORT     # the port accepts a TCP connection

Exit code 0 when ready, 1 otherwise (the reason goes to stderr).
"""

from __future__ import annotations

import socket
import struct
import sys

TIMEOUT_S = 3.0
METADATA_API_KEY = 3
API_VERSIONS_API_KEY = 18
# Metadata v4..v8 share the non-flexible request layout used below; Kafka 4.x removed v0..v3 (KIP-896).
METADATA_VERSIONS = range(4, 9)


class ProbeError(Exception):
    pass


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ProbeError("connection closed by peer")
        buf += chunk
    return bytes(buf)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> tuple[int, ...]:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise ProbeError("truncated response")
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values

    def int16(self) -> int:
        return self.take(">h")[0]

    def int32(self) -> int:
        return self.take(">i")[0]

    def string(self) -> str | None:
        length = self.int16()
        if length < 0:
            return None
        raw = self.data[self.pos : self.pos + length]
        self.pos += length
        return raw.decode("utf-8", "replace")


def _kafka_call(sock: socket.socket, api_key: int, api_version: int, correlation_id: int, body: bytes) -> bytes:
    client_id = b"agentinstruct-probe"
    header = struct.pack(">hhih", api_key, api_version, correlation_id, len(client_id)) + client_id
    payload = header + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    (size,) = struct.unpack(">i", _recv_exact(sock, 4))
    response = _recv_exact(sock, size)
    (got_id,) = struct.unpack_from(">i", response, 0)
    if got_id != correlation_id:
        raise ProbeError(f"correlation id mismatch ({got_id} != {correlation_id})")
    return response[4:]


def probe_kafka(host: str, port: int) -> str:
    with socket.create_connection((host, port), timeout=TIMEOUT_S) as sock:
        # ApiVersions v0 is answered by every broker version.
        reader = _Reader(_kafka_call(sock, API_VERSIONS_API_KEY, 0, 1, b""))
        error = reader.int16()
        if error:
            raise ProbeError(f"ApiVersions error code {error}")
        ranges: dict[int, tuple[int, int]] = {}
        for _ in range(reader.int32()):
            key, low, high = reader.take(">hhh")
            ranges[key] = (low, high)
        if METADATA_API_KEY not in ranges:
            raise ProbeError("broker does not list the Metadata API")
        low, high = ranges[METADATA_API_KEY]
        usable = [v for v in METADATA_VERSIONS if low <= v <= high]
        if not usable:
            raise ProbeError(f"no usable Metadata version (broker supports {low}..{high})")
        version = usable[0]
        # topics: empty array (no topic metadata wanted); allow_auto_topic_creation: false
        body = struct.pack(">ib", 0, 0)
        if version >= 8:
            body += struct.pack(">bb", 0, 0)  # include cluster/topic authorized operations
        reader = _Reader(_kafka_call(sock, METADATA_API_KEY, version, 2, body))
        reader.int32()  # throttle_time_ms
        brokers = []
        for _ in range(reader.int32()):
            node_id = reader.int32()
            broker_host = reader.string()
            broker_port = reader.int32()
            reader.string()  # rack
            brokers.append(f"{node_id}@{broker_host}:{broker_port}")
        cluster_id = reader.string()
        if not brokers:
            raise ProbeError("metadata lists no broker yet")
        return f"cluster {cluster_id}, brokers {', '.join(brokers)}, metadata v{version}"


def _bson_ping() -> bytes:
    elements = b"\x10ping\x00" + struct.pack("<i", 1)
    db = b"admin\x00"
    elements += b"\x02$db\x00" + struct.pack("<i", len(db)) + db
    return struct.pack("<i", 4 + len(elements) + 1) + elements + b"\x00"


def probe_mongo(host: str, port: int) -> str:
    op_msg = 2013
    body = struct.pack("<I", 0) + b"\x00" + _bson_ping()
    message = struct.pack("<iiii", 16 + len(body), 1, 0, op_msg) + body
    with socket.create_connection((host, port), timeout=TIMEOUT_S) as sock:
        sock.sendall(message)
        (length,) = struct.unpack("<i", _recv_exact(sock, 4))
        reply = _recv_exact(sock, length - 4)
    _, _, opcode = struct.unpack_from("<iii", reply, 0)
    if opcode != op_msg:
        raise ProbeError(f"unexpected reply opcode {opcode}")
    document = reply[12 + 4 + 1 :]
    # The reply document must contain ok: 1 (a double, an int32 or an int64 depending on the server).
    for marker, fmt in ((b"\x01ok\x00", "<d"), (b"\x10ok\x00", "<i"), (b"\x12ok\x00", "<q")):
        at = document.find(marker)
        if at >= 0:
            (ok,) = struct.unpack_from(fmt, document, at + len(marker))
            if ok == 1:
                return "ping ok"
            raise ProbeError(f"ping returned ok={ok}")
    raise ProbeError("ping reply has no ok field")


def probe_tcp(host: str, port: int) -> str:
    with socket.create_connection((host, port), timeout=TIMEOUT_S):
        return "accepting connections"


PROBES = {"kafka": probe_kafka, "mongo": probe_mongo, "tcp": probe_tcp}


def main(argv: list[str]) -> int:
    if len(argv) != 4 or argv[1] not in PROBES:
        print(f"usage: {argv[0]} {{{'|'.join(PROBES)}}} HOST PORT", file=sys.stderr)
        return 2
    kind, host, port = argv[1], argv[2], int(argv[3])
    try:
        detail = PROBES[kind](host, port)
    except (OSError, ProbeError, struct.error) as exc:
        print(f"{kind} {host}:{port} not ready: {exc}", file=sys.stderr)
        return 1
    print(f"{kind} {host}:{port} ready: {detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
