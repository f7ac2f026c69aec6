"""MQTT 3.1.1 on the wire: a byte stream cut into frames, what clients send, what we answer.

Pure functions and a frame splitter, no I/O. The rule numbers (``MQTT-3.3.2-2``) are the
normative statements of OASIS MQTT 3.1.1, so a reader can look each check up.

Everything a client may get wrong raises :class:`ProtocolError` (the broker ends that client's
connection, MQTT-4.8.0-1) or :class:`ConnectRefused` (the broker answers CONNACK with that
return code, then closes).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum

from actors.bus.broker.filters import topic_name_problem
from kubeedge_actors.errors import KubeEdgeActorsError


class PacketType(IntEnum):
    CONNECT = 1
    CONNACK = 2
    PUBLISH = 3
    PUBACK = 4
    PUBREC = 5
    PUBREL = 6
    PUBCOMP = 7
    SUBSCRIBE = 8
    SUBACK = 9
    UNSUBSCRIBE = 10
    UNSUBACK = 11
    PINGREQ = 12
    PINGRESP = 13
    DISCONNECT = 14


class ReturnCode(IntEnum):
    """CONNACK return codes (MQTT 3.1.1 table 3.1)."""

    ACCEPTED = 0
    UNACCEPTABLE_PROTOCOL_VERSION = 1
    IDENTIFIER_REJECTED = 2


SUBACK_FAILURE = 0x80
PINGRESP = b"\xd0\x00"
# protocol name → the one level it goes with: 3.1.1, and 3.1 that older device apps speak
PROTOCOL_LEVELS = {b"MQTT": 4, b"MQIsdp": 3}
MQTT_5_LEVEL = 5
# MQTT-2.2.2-2: these packet types carry fixed flags; PUBLISH's flags are its options.
_FLAGS_TWO = (PacketType.PUBREL, PacketType.SUBSCRIBE, PacketType.UNSUBSCRIBE)
_FIXED_FLAGS: dict[int, int] = {kind: 2 if kind in _FLAGS_TWO else 0 for kind in PacketType}
_UINT16 = struct.Struct("!H")


class ProtocolError(KubeEdgeActorsError):
    """A client broke MQTT 3.1.1; the message says how. Its connection ends."""


class PacketTooLarge(ProtocolError):
    """A packet longer than the broker's maximum packet size."""


class ConnectRefused(KubeEdgeActorsError):
    """A CONNECT answered with a non-zero return code, then the connection closes."""

    def __init__(self, code: ReturnCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code


@dataclass(frozen=True, slots=True)
class Frame:
    """One control packet: its type, the fixed header's flags, the rest of its bytes."""

    kind: int
    flags: int
    body: bytes


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int
    retain: bool


@dataclass(frozen=True, slots=True)
class Connect:
    client_id: str
    clean_session: bool
    keepalive_s: int
    will: Will | None
    level: int


@dataclass(frozen=True, slots=True)
class Publish:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    packet_id: int


class FrameReader:
    """Cuts a client's byte stream into frames, refusing any longer than ``max_packet_size``.

    A packet's size is known from its fixed header, so a too-large one is refused before its
    body is buffered.
    """

    def __init__(self, max_packet_size: int) -> None:
        self.max_packet_size = max_packet_size
        self._buffer = bytearray()

    def frames(self, data: bytes) -> Iterator[Frame]:
        """The complete frames ``data`` finishes; the rest waits for the next call."""
        buffer = self._buffer
        buffer += data
        offset, end = 0, len(buffer)
        try:
            while end - offset >= 2:
                header = _remaining_length(buffer, offset + 1, end)
                if header is None:
                    break
                length, body_start = header
                first = buffer[offset]
                _check_fixed_header(first >> 4, first & 0x0F)  # before waiting for the body
                size = body_start - offset + length
                if size > self.max_packet_size:
                    raise PacketTooLarge(f"a packet of {size} bytes is over the limit of {self.max_packet_size} bytes")
                if end < body_start + length:
                    break
                offset = body_start + length
                yield Frame(first >> 4, first & 0x0F, bytes(buffer[body_start:offset]))
        finally:
            del buffer[:offset]


def _remaining_length(buffer: bytearray, start: int, end: int) -> tuple[int, int] | None:
    """The remaining length and where the body starts; None while the header is incomplete."""
    length, shift = 0, 0
    for index in range(start, min(start + 4, end)):
        byte = buffer[index]
        length |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return length, index + 1
        shift += 7
    if end - start >= 4:
        raise ProtocolError("malformed remaining length: longer than 4 bytes")
    return None


def _check_fixed_header(kind: int, flags: int) -> None:
    if kind in (0, 15):
        raise ProtocolError(f"packet type {kind} is reserved")
    if kind != PacketType.PUBLISH and flags != _FIXED_FLAGS[kind]:
        raise ProtocolError(f"{PacketType(kind).name} with fixed-header flags {flags:#06b} (MQTT-2.2.2-2)")


class _Fields:
    """Reads the fields of one packet's body in order."""

    __slots__ = ("body", "offset", "packet")

    def __init__(self, body: bytes, packet: str) -> None:
        self.body, self.offset, self.packet = body, 0, packet

    def u8(self, field: str) -> int:
        self._need(1, field)
        self.offset += 1
        return self.body[self.offset - 1]

    def u16(self, field: str) -> int:
        self._need(2, field)
        (value,) = _UINT16.unpack_from(self.body, self.offset)
        self.offset += 2
        return int(value)

    def binary(self, field: str) -> bytes:
        size = self.u16(field)
        self._need(size, field)
        self.offset += size
        return self.body[self.offset - size : self.offset]

    def text(self, field: str) -> str:
        raw = self.binary(field)
        try:
            value = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError(f"{self.packet}: {field} is not valid UTF-8 (MQTT-1.5.3-1)") from None
        if "\x00" in value:
            raise ProtocolError(f"{self.packet}: {field} contains U+0000 (MQTT-1.5.3-2)")
        return value

    def rest(self) -> bytes:
        return self.body[self.offset :]

    def at_end(self) -> bool:
        return self.offset >= len(self.body)

    def _need(self, size: int, field: str) -> None:
        if self.offset + size > len(self.body):
            raise ProtocolError(f"{self.packet}: {field} runs past the end of the packet")


def decode_connect(body: bytes) -> Connect:
    """A CONNECT's fields; raises :class:`ConnectRefused` or :class:`ProtocolError`."""
    fields = _Fields(body, "CONNECT")
    name = fields.binary("protocol name")
    level = fields.u8("protocol level")
    if name not in PROTOCOL_LEVELS:
        raise ProtocolError(f"CONNECT: protocol name {name[:16]!r} is not MQTT (MQTT-3.1.2-1)")
    if level == MQTT_5_LEVEL:
        raise ConnectRefused(ReturnCode.UNACCEPTABLE_PROTOCOL_VERSION, "MQTT 5 is not supported: this broker speaks MQTT 3.1.1 (and 3.1)")
    if level != PROTOCOL_LEVELS[name]:
        raise ConnectRefused(ReturnCode.UNACCEPTABLE_PROTOCOL_VERSION, f"protocol level {level} is not supported (MQTT-3.1.2-2)")
    flags = fields.u8("connect flags")
    will_qos = (flags >> 3) & 3
    if flags & 0x01:
        raise ProtocolError("CONNECT: the reserved flag is set (MQTT-3.1.2-3)")
    if will_qos == 3 or (not flags & 0x04 and flags & 0x38):
        raise ProtocolError("CONNECT: will QoS or retain set wrongly (MQTT-3.1.2-13, -14, -15)")
    if flags & 0x40 and not flags & 0x80:
        raise ProtocolError("CONNECT: a password without a user name (MQTT-3.1.2-22)")
    keepalive_s = fields.u16("keep alive")
    client_id = fields.text("client id")
    will = _decode_will(fields, will_qos, bool(flags & 0x20)) if flags & 0x04 else None
    if flags & 0x80:
        fields.text("user name")
    if flags & 0x40:
        fields.binary("password")
    if not fields.at_end():
        raise ProtocolError("CONNECT: bytes after the last field")
    clean_session = bool(flags & 0x02)
    if not client_id and (not clean_session or level == 3):
        raise ConnectRefused(ReturnCode.IDENTIFIER_REJECTED, "an empty client id needs clean session and MQTT 3.1.1 (MQTT-3.1.3-8)")
    return Connect(client_id, clean_session, keepalive_s, will, level)


def _decode_will(fields: _Fields, qos: int, retain: bool) -> Will:
    topic = fields.text("will topic")
    problem = topic_name_problem(topic)
    if problem is not None:
        raise ProtocolError(f"CONNECT: will topic {topic!r} {problem}")
    return Will(topic, fields.binary("will message"), qos, retain)


def decode_publish(flags: int, body: bytes) -> Publish:
    qos = (flags >> 1) & 3
    if qos == 3:
        raise ProtocolError("PUBLISH with QoS 3 (MQTT-3.3.1-4)")
    fields = _Fields(body, "PUBLISH")
    topic = fields.text("topic name")
    problem = topic_name_problem(topic)
    if problem is not None:
        raise ProtocolError(f"PUBLISH: topic name {topic!r} {problem}")
    packet_id = _nonzero_id(fields, "PUBLISH") if qos else 0
    return Publish(topic, fields.rest(), qos, bool(flags & 0x01), packet_id)


def decode_packet_id(kind: int, body: bytes) -> int:
    """The packet id of a PUBACK, PUBREC, PUBREL or PUBCOMP (exactly two bytes)."""
    name = PacketType(kind).name
    if len(body) != 2:
        raise ProtocolError(f"{name} of {len(body)} bytes instead of 2")
    return _nonzero_id(_Fields(body, name), name)


def decode_subscribe(body: bytes) -> tuple[int, list[tuple[str, int]]]:
    fields = _Fields(body, "SUBSCRIBE")
    packet_id = _nonzero_id(fields, "SUBSCRIBE")
    requests: list[tuple[str, int]] = []
    while not fields.at_end():
        topic_filter = fields.text("topic filter")
        qos = fields.u8("requested QoS")
        if qos > 2:
            raise ProtocolError(f"SUBSCRIBE: requested QoS byte {qos:#04x} (MQTT-3.8.3-4)")
        requests.append((topic_filter, qos))
    if not requests:
        raise ProtocolError("SUBSCRIBE without a topic filter (MQTT-3.8.3-3)")
    return packet_id, requests


def decode_unsubscribe(body: bytes) -> tuple[int, list[str]]:
    fields = _Fields(body, "UNSUBSCRIBE")
    packet_id = _nonzero_id(fields, "UNSUBSCRIBE")
    topic_filters: list[str] = []
    while not fields.at_end():
        topic_filters.append(fields.text("topic filter"))
    if not topic_filters:
        raise ProtocolError("UNSUBSCRIBE without a topic filter (MQTT-3.10.3-2)")
    return packet_id, topic_filters


def check_empty(kind: int, body: bytes) -> None:
    """PINGREQ and DISCONNECT have no body."""
    if body:
        raise ProtocolError(f"{PacketType(kind).name} with a body of {len(body)} bytes")


def _nonzero_id(fields: _Fields, packet: str) -> int:
    packet_id = fields.u16("packet id")
    if packet_id == 0:
        raise ProtocolError(f"{packet} with packet id 0 (MQTT-2.3.1-1)")
    return packet_id


# --- what the broker sends ------------------------------------------------------------------


def _fixed_header(first: int, length: int) -> bytes:
    if length < 0x80:
        return bytes((first, length))
    out = bytearray((first,))
    while True:
        digit, length = length & 0x7F, length >> 7
        out.append(digit | (0x80 if length else 0))
        if not length:
            return bytes(out)


def encode_string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return _UINT16.pack(len(raw)) + raw


def encode_connack(session_present: bool, code: int) -> bytes:
    return bytes((0x20, 2, 1 if session_present else 0, code))


def encode_publish(topic: bytes, payload: bytes, qos: int, retain: bool, *, dup: bool = False, packet_id: int = 0) -> bytes:
    """A PUBLISH; ``topic`` is already encoded (:func:`encode_string`), as it is shared."""
    first = 0x30 | (qos << 1) | (0x08 if dup else 0) | (0x01 if retain else 0)
    if qos:
        return _fixed_header(first, len(topic) + 2 + len(payload)) + topic + _UINT16.pack(packet_id) + payload
    return _fixed_header(first, len(topic) + len(payload)) + topic + payload


def encode_ack(kind: PacketType, packet_id: int) -> bytes:
    """PUBACK, PUBREC, PUBREL, PUBCOMP or UNSUBACK."""
    return bytes((kind << 4 | _FIXED_FLAGS[kind], 2)) + _UINT16.pack(packet_id)


def encode_suback(packet_id: int, codes: list[int]) -> bytes:
    return _fixed_header(0x90, 2 + len(codes)) + _UINT16.pack(packet_id) + bytes(codes)


__all__ = [
    "PINGRESP",
    "SUBACK_FAILURE",
    "Connect",
    "ConnectRefused",
    "Frame",
    "FrameReader",
    "PacketTooLarge",
    "PacketType",
    "ProtocolError",
    "Publish",
    "ReturnCode",
    "Will",
    "check_empty",
    "decode_connect",
    "decode_packet_id",
    "decode_publish",
    "decode_subscribe",
    "decode_unsubscribe",
    "encode_ack",
    "encode_connack",
    "encode_publish",
    "encode_string",
]
