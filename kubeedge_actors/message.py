"""The one envelope for everything between modules and over the wire (docs/protocol.md#2).

Python names inside (``header.id``, ``header.parent_id``); the exact wire names live only in
:func:`encode_message` / :func:`decode_message`.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import time
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeAlias, TypeVar

from kubeedge_actors.errors import MessageDecodeError

#: A JSON value as :func:`json.loads` gives it: a dict, list, str, int, float, bool or None.
#: Free-form by nature (the cloud and device apps decide what they send), so it is ``Any``:
#: narrow it with ``isinstance`` where it is read, at the receiving actor's edge.
Json: TypeAlias = Any
#: A JSON object (``{...}``) as :func:`json.loads` gives it.
JsonObject: TypeAlias = dict[str, Json]
#: What a :class:`Message` carries: a :data:`Json` value, or in-process ``bytes`` (raw MQTT
#: payloads, docs/protocol.md#4.5). Also ``Any``, for the same reason.
Content: TypeAlias = Any

_F = TypeVar("_F")

# uuid.uuid4() costs ~5 µs here, a random draw formatted as one ~1.5 µs, most of a routed
# message's budget. Ids need to be unique, not secret: each process draws 74 random bits once
# (the v4 UUID's first 20 hex digits, version and variant set) and counts in the last 12 from a
# random start, so an id is a valid v4 UUID, never repeats in the process, and another
# process's ids differ in the random part. A forked child draws its own.
_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


class _IdSource:
    """This process's random prefix and its counter."""

    __slots__ = ("counter", "prefix")

    def __init__(self) -> None:
        self.prefix = ""
        self.counter = itertools.count()
        self.reseed()

    def reseed(self) -> None:
        h = "%032x" % (int.from_bytes(os.urandom(16), "big") & _UUID4_CLEAR | _UUID4_SET)
        self.prefix = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-"
        self.counter = itertools.count(int.from_bytes(os.urandom(6), "big") >> 1)  # 2^47 ids before 12 digits overflow


_ids = _IdSource()
os.register_at_fork(after_in_child=_ids.reseed)

#: The two operations of a reply (beehive's model, docs/protocol.md#2.2): a result, or a failure.
RESPONSE = "response"
ERROR = "error"


def new_message_id() -> str:
    """A v4 UUID in its 36-character text form, like the original's ids; unique, not secret
    (``next`` on the counter is atomic: any thread may call this)."""
    ids = _ids
    return f"{ids.prefix}{next(ids.counter):012x}"


def now_ms() -> int:
    """Milliseconds since the Unix epoch (as the original: nanoseconds divided by 10^6)."""
    return time.time_ns() // 1_000_000


class Header(NamedTuple):
    """Identity of a message (immutable; a NamedTuple because every message makes one and
    a frozen dataclass costs twice as much to build).

    Attributes:
        id: this message's id (wire ``msg_id``).
        parent_id: the id of the request this message answers, or ``""`` (``parent_msg_id``).
        timestamp_ms: creation time in ms since the epoch (``timestamp``).
        sync: the sender waits for a reply (``sync``).
    """

    id: str
    parent_id: str = ""
    timestamp_ms: int = 0
    sync: bool = False


class Route(NamedTuple):
    """Where a message comes from and what it asks for (immutable).

    ``operation`` is an open string: compare it against the constants of the protocol in use
    (the edge's are ``actors.protocol.Operation``).
    """

    source: str = ""
    group: str = ""
    operation: str = ""
    resource: str = ""


@dataclass(frozen=True, slots=True)
class Message:
    """An immutable envelope: header, route and JSON-shaped content.

    Content is read-only by convention: parse it into typed values at the receiving actor's
    edge. In-process it may also be ``bytes`` (raw MQTT payloads, docs/protocol.md#4.5).
    """

    header: Header
    route: Route
    content: Content = None

    @classmethod
    def new(
        cls,
        *,
        source: str,
        group: str,
        operation: str,
        resource: str,
        content: Content = None,
        parent_id: str = "",
        sync: bool = False,
    ) -> Message:
        """Build a message with a fresh id and the current time (beehive ``NewMessage``)."""
        if cls is not Message:
            return cls(Header(new_message_id(), parent_id, now_ms(), sync), Route(source, group, operation, resource), content)
        return _build((new_message_id(), parent_id, now_ms(), sync), (source, group, operation, resource), content)

    # Short read-only accessors for the fields every handler looks at.
    @property
    def id(self) -> str:
        return self.header.id

    @property
    def parent_id(self) -> str:
        return self.header.parent_id

    @property
    def operation(self) -> str:
        return self.route.operation

    @property
    def resource(self) -> str:
        return self.route.resource

    @property
    def source(self) -> str:
        return self.route.source

    @property
    def group(self) -> str:
        return self.route.group

    @property
    def is_sync(self) -> bool:
        return self.header.sync

    @property
    def is_error(self) -> bool:
        return self.route.operation == ERROR

    def reply(self, content: Content) -> Message:
        """The answer to this message (beehive ``NewRespByMessage``, docs/protocol.md#2.2).

        New id; ``parent_msg_id`` = this message's id; source, group and resource copied;
        operation ``response``.
        """
        route = self.route
        return _build((new_message_id(), self.header.id, now_ms(), False), (route.source, route.group, RESPONSE, route.resource), content)

    def error_reply(self, reason: str) -> Message:
        """An ``error`` answer to this message, carrying ``reason`` as content.

        Unlike the original (docs/protocol.md#2.2), ``parent_msg_id`` is this message's id, so the
        waiter of a sync request does receive it.
        """
        route = self.route
        return _build((new_message_id(), self.header.id, now_ms(), False), (route.source, route.group, ERROR, route.resource), reason)

    # The copies below spell out their constructors: dataclasses.replace() costs ~3 µs each,
    # which the router's hot path (send_sync marks every request sync) would feel.

    def clone(self) -> Message:
        """The same message under a new id and timestamp (beehive ``Clone``)."""
        header = Header(new_message_id(), self.header.parent_id, now_ms(), self.header.sync)
        return Message(header, self.route, self.content)

    def with_route(
        self, *, source: str | None = None, group: str | None = None, operation: str | None = None, resource: str | None = None
    ) -> Message:
        """A copy with some route fields changed (same id)."""
        route = self.route
        return Message(
            self.header,
            Route(
                route.source if source is None else source,
                route.group if group is None else group,
                route.operation if operation is None else operation,
                route.resource if resource is None else resource,
            ),
            self.content,
        )

    def with_header(self, *, parent_id: str | None = None, sync: bool | None = None) -> Message:
        """A copy with ``parent_id`` and/or ``sync`` changed (same id)."""
        header = self.header
        parent_id = header.parent_id if parent_id is None else parent_id
        copied = _new_tuple(Header, (header.id, parent_id, header.timestamp_ms, header.sync if sync is None else sync))
        return _assemble(copied, self.route, self.content)

    def with_content(self, content: Content) -> Message:
        """A copy carrying other content (same id)."""
        return Message(self.header, self.route, content)


# Building the three parts directly: a NamedTuple's generated __new__ and a frozen dataclass's
# __init__ (object.__setattr__ per field) cost twice as much, on every message.
_new_object = object.__new__
_new_tuple = tuple.__new__
_slots: dict[str, Any] = dict(vars(Message))  # the slots' descriptors set a field past the frozen __setattr__
_set_header = _slots["header"].__set__
_set_route = _slots["route"].__set__
_set_content = _slots["content"].__set__


def _assemble(header: Header, route: Route, content: Content) -> Message:
    message: Message = _new_object(Message)
    _set_header(message, header)
    _set_route(message, route)
    _set_content(message, content)
    return message


def _build(header: tuple[str, str, int, bool], route: tuple[str, str, str, str], content: Content) -> Message:
    return _assemble(_new_tuple(Header, header), _new_tuple(Route, route), content)


# --- the JSON codec -------------------------------------------------------------------------


def message_to_wire(message: Message) -> JsonObject:
    """The wire form of docs/protocol.md#2.1 as a dict.

    ``parent_msg_id``, ``sync`` and ``group`` are always present (the original's tags never
    omit them); ``source``, ``operation`` and ``resource`` are omitted when empty.
    """
    header = message.header
    route = message.route
    wire_route: dict[str, str] = {}
    if route.source:
        wire_route["source"] = route.source
    wire_route["group"] = route.group
    if route.operation:
        wire_route["operation"] = route.operation
    if route.resource:
        wire_route["resource"] = route.resource
    return {
        "header": {
            "msg_id": header.id,
            "parent_msg_id": header.parent_id,
            "timestamp": header.timestamp_ms,
            "sync": header.sync,
        },
        "route": wire_route,
        "content": _content_to_wire(message.content),
    }


def _content_to_wire(content: Content) -> Json:
    # Go marshals []byte as base64; do the same so in-process bytes have one wire form.
    if isinstance(content, bytes | bytearray):
        return base64.b64encode(content).decode("ascii")
    return content


# json.dumps() builds a new encoder for every call with non-default options; one is enough.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def encode_message(message: Message) -> str:
    """Encode as compact JSON text, like Go's ``json.Marshal``."""
    try:
        return _ENCODER.encode(message_to_wire(message))
    except (TypeError, ValueError) as exc:
        raise MessageDecodeError(f"message {message.header.id}: content is not JSON-shaped: {exc}") from exc


def decode_message(data: str | bytes | bytearray) -> Message:
    """Decode one envelope from JSON text or UTF-8 bytes.

    Absent ``parent_msg_id``, ``group`` and ``sync`` (and every other absent field) take
    their zero value, as Go's decoder gives them; keys match case-insensitively as in Go.
    A field of the wrong JSON type is an error naming the field.

    Raises:
        MessageDecodeError: not JSON, not an object, or a field of the wrong type.
    """
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MessageDecodeError(f"envelope is not valid JSON: {exc}") from exc
    return message_from_wire(document)


_ROUTE_KEYS = frozenset(("source", "group", "operation", "resource"))


def message_from_wire(document: Json) -> Message:
    """Build a message from an already parsed wire dict (see :func:`decode_message`)."""
    if not isinstance(document, dict):
        raise MessageDecodeError(f"envelope must be a JSON object, not {_json_type(document)}")
    message = _from_exact_wire(document)
    if message is not None:
        return message
    wire_header = _field(document, "header", dict, {}, "")
    wire_route = _field(document, "route", dict, {}, "")
    header = Header(
        id=_field(wire_header, "msg_id", str, "", "header."),
        parent_id=_field(wire_header, "parent_msg_id", str, "", "header."),
        timestamp_ms=_field(wire_header, "timestamp", int, 0, "header."),
        sync=_field(wire_header, "sync", bool, False, "header."),
    )
    route = Route(
        source=_field(wire_route, "source", str, "", "route."),
        group=_field(wire_route, "group", str, "", "route."),
        operation=_field(wire_route, "operation", str, "", "route."),
        resource=_field(wire_route, "resource", str, "", "route."),
    )
    return Message(header, route, _lookup(document, "content"))


_MISSING = object()


def _from_exact_wire(document: JsonObject) -> Message | None:
    """The envelope exactly as the original and this codec write it, or None.

    Every field present under its exact name with the right type: no case-insensitive
    lookups and no per-field checks. Anything else takes the general path, which gives the
    same result (or the error naming the field).
    """
    header = document.get("header")
    route = document.get("route")
    content = document.get("content", _MISSING)
    if type(header) is not dict or type(route) is not dict or content is _MISSING or not route.keys() <= _ROUTE_KEYS:
        return None
    msg_id = header.get("msg_id")
    parent_id = header.get("parent_msg_id")
    timestamp = header.get("timestamp")
    sync = header.get("sync")
    source = route.get("source", "")
    group = route.get("group")
    operation = route.get("operation", "")
    resource = route.get("resource", "")
    if (
        len(header) != 4
        or type(msg_id) is not str
        or type(parent_id) is not str
        or type(timestamp) is not int
        or type(sync) is not bool
        or type(group) is not str
        or type(source) is not str
        or type(operation) is not str
        or type(resource) is not str
    ):
        return None
    return Message(Header(msg_id, parent_id, timestamp, sync), Route(source, group, operation, resource), content)


def _lookup(obj: JsonObject, key: str) -> Json:
    value = obj.get(key, _MISSING)
    if value is not _MISSING:
        return value
    # Go's encoding/json matches keys case-insensitively; only pay for it on a miss.
    for other_key, other_value in obj.items():
        if other_key.lower() == key:
            return other_value
    return None


def _field(obj: JsonObject, key: str, kind: type[_F], default: _F, prefix: str) -> _F:
    value = _lookup(obj, key)
    if value is None:
        return default
    # bool is a subclass of int: a JSON true is not a timestamp.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise MessageDecodeError(f"envelope field {prefix}{key} must be {_JSON_TYPE_NAMES[kind]}, not {_json_type(value)}")
    return value


_JSON_TYPE_NAMES: dict[type, str] = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
}


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, int) and not isinstance(value, bool):
        return "an integer"
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


__all__ = [
    "ERROR",
    "RESPONSE",
    "Content",
    "Header",
    "Json",
    "JsonObject",
    "Message",
    "Route",
    "decode_message",
    "encode_message",
    "message_from_wire",
    "message_to_wire",
    "new_message_id",
    "now_ms",
]
