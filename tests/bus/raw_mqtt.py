"""A raw-socket MQTT client for tests: packets built by hand, byte by byte.

It sends what paho refuses to send (wildcard topic names, bad flags, oversized packets) and
reads exactly what the broker answers. Independent of the broker's own codec on purpose: it
is a second opinion on the wire format.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 10, 11, 12, 13, 14


def varint(length: int) -> bytes:
    out = bytearray()
    while True:
        digit, length = length % 128, length // 128
        out.append(digit | (0x80 if length else 0))
        if not length:
            return bytes(out)


def string(text: str | bytes) -> bytes:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return struct.pack("!H", len(raw)) + raw


def packet(first_byte: int, body: bytes) -> bytes:
    return bytes((first_byte,)) + varint(len(body)) + body


def connect_packet(
    client_id: str = "",
    *,
    clean: bool = True,
    keepalive_s: int = 60,
    level: int = 4,
    name: bytes = b"MQTT",
    will: tuple[str, bytes, int, bool] | None = None,
) -> bytes:
    flags = 0x02 if clean else 0
    payload = string(client_id)
    if will is not None:
        topic, message, qos, retain = will
        flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
        payload += string(topic) + string(message)
    return packet(0x10, string(name) + bytes((level, flags)) + struct.pack("!H", keepalive_s) + payload)


def publish_packet(
    topic: str | bytes, payload: bytes, qos: int = 0, *, packet_id: int = 1, retain: bool = False, dup: bool = False
) -> bytes:
    first = 0x30 | (qos << 1) | (0x08 if dup else 0) | (0x01 if retain else 0)
    return packet(first, string(topic) + (struct.pack("!H", packet_id) if qos else b"") + payload)


def subscribe_packet(packet_id: int, *filters: tuple[str, int]) -> bytes:
    return packet(0x82, struct.pack("!H", packet_id) + b"".join(string(f) + bytes((qos,)) for f, qos in filters))


def ack_packet(kind: int, packet_id: int) -> bytes:
    return packet(kind << 4 | (2 if kind == PUBREL else 0), struct.pack("!H", packet_id))


@dataclass(frozen=True)
class Received:
    kind: int
    flags: int
    body: bytes

    @property
    def packet_id(self) -> int:
        """Of an ack (PUBACK ... UNSUBACK, SUBACK)."""
        return int(struct.unpack_from("!H", self.body)[0])

    @property
    def topic(self) -> str:
        """Of a PUBLISH."""
        (size,) = struct.unpack_from("!H", self.body)
        return self.body[2 : 2 + size].decode()

    @property
    def payload(self) -> bytes:
        """Of a PUBLISH."""
        (size,) = struct.unpack_from("!H", self.body)
        return self.body[2 + size + (2 if self.qos else 0) :]

    @property
    def qos(self) -> int:
        return (self.flags >> 1) & 3

    @property
    def publish_id(self) -> int:
        (size,) = struct.unpack_from("!H", self.body)
        return int(struct.unpack_from("!H", self.body, 2 + size)[0])


class RawClient:
    """One TCP connection to the broker; every read has a timeout."""

    def __init__(self, port: int, *, receive_buffer: int | None = None) -> None:
        self.sock = socket.socket()
        if receive_buffer is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(5)
        self.sock.connect(("127.0.0.1", port))
        self._buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def connect(self, client_id: str = "", **options: object) -> bytes:
        """CONNECT; the CONNACK's four bytes."""
        self.send(connect_packet(client_id, **options))  # type: ignore[arg-type]
        answer = self.read()
        return bytes((answer.kind << 4 | answer.flags, len(answer.body))) + answer.body

    def read(self, timeout_s: float = 5.0) -> Received:
        """The next packet; AssertionError if none comes or the connection closes."""
        deadline = time.monotonic() + timeout_s
        while True:
            parsed = self._parse()
            if parsed is not None:
                return parsed
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                raise AssertionError(f"no packet from the broker within {timeout_s} s") from None
            if not chunk:
                raise AssertionError("the broker closed the connection")
            self._buffer += chunk

    def closed_by_broker(self, timeout_s: float = 5.0) -> bool:
        """True once the broker closed the connection (what it sent before is skipped)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                if not self.sock.recv(65536):
                    return True
            except TimeoutError:
                return False
            except ConnectionResetError:
                return True
        return False

    def close(self) -> None:
        self.sock.close()

    def _parse(self) -> Received | None:
        data = self._buffer
        if len(data) < 2:
            return None
        length, shift, index = 0, 0, 1
        while True:
            if index >= len(data):
                return None
            byte = data[index]
            length |= (byte & 0x7F) << shift
            index += 1
            if not byte & 0x80:
                break
            shift += 7
        if len(data) < index + length:
            return None
        self._buffer = data[index + length :]
        return Received(data[0] >> 4, data[0] & 0x0F, data[index : index + length])
