"""Devices, attributes and twins: immutable values, their wire JSON and request parsing (docs/protocol.md#5.4).

Wire shapes follow the original's Go structs: keys in struct order, map keys sorted (Go's
encoder sorts them), compact JSON. Inside a value object ``"value"`` and
``"metadata"."timestamp"`` are always emitted (the original's tags never omit them); the other
keys are omitted when absent.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubeedge_actors.errors import MessageRejected

logger = logging.getLogger(__name__)

TYPE_STRING = "string"
TYPE_DELETED = "deleted"
VALUE_TYPES = frozenset({TYPE_STRING, "int", "float", "boolean", TYPE_DELETED})
DEVICE_STATES = frozenset({"online", "offline", "unknown"})

# docs/protocol.md#5.5: keys and values share one character class.
_KEY_PATTERN = re.compile(r"[a-zA-Z0-9\-_.,:/@#]{1,128}")
_VALUE_PATTERN = re.compile(r"[a-zA-Z0-9\-_.,:/@#]{1,512}")
_INT64 = (-(2**63), 2**63 - 1)


class TwinRequestError(MessageRejected):
    """A request the twin refuses; ``code`` is the result code of docs/protocol.md#5.4 (400, 404, 500)."""

    def __init__(self, reason: str, code: int = 400) -> None:
        super().__init__(reason)
        self.code = code


# --- values ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Version:
    """A twin value's version: bumped by the edge, adopted from the cloud (docs/protocol.md#5.5)."""

    cloud: int = 0
    edge: int = 0

    def to_wire(self) -> dict[str, int]:
        return {"cloud": self.cloud, "edge": self.edge}


@dataclass(frozen=True, slots=True)
class Value:
    """An expected or actual value and when it was set."""

    value: str | None
    timestamp_ms: int = 0

    def to_wire(self) -> dict[str, Any]:
        return {"value": self.value, "metadata": {"timestamp": self.timestamp_ms}}


@dataclass(frozen=True, slots=True)
class Twin:
    """One twin property of a device (a ``device_twin`` row)."""

    name: str
    description: str = ""
    expected: Value | None = None
    actual: Value | None = None
    expected_version: Version | None = None
    actual_version: Version | None = None
    optional: bool = True
    attr_type: str = TYPE_STRING

    @property
    def deleted(self) -> bool:
        return self.attr_type == TYPE_DELETED

    def to_wire(self, *, versions: bool) -> dict[str, Any]:
        """MsgTwin (docs/protocol.md#5.4); ``versions`` False strips them, as edge → app messages do."""
        wire: dict[str, Any] = {}
        if self.expected is not None:
            wire["expected"] = self.expected.to_wire()
        if self.actual is not None:
            wire["actual"] = self.actual.to_wire()
        wire["optional"] = self.optional
        wire["metadata"] = {"type": self.attr_type}
        if versions and self.expected_version is not None:
            wire["expected_version"] = self.expected_version.to_wire()
        if versions and self.actual_version is not None:
            wire["actual_version"] = self.actual_version.to_wire()
        return wire


@dataclass(frozen=True, slots=True)
class Attr:
    """One attribute of a device (a ``device_attr`` row)."""

    name: str
    description: str = ""
    value: str = ""
    optional: bool = True
    attr_type: str = TYPE_STRING

    def to_wire(self) -> dict[str, Any]:
        """MsgAttr (docs/protocol.md#5.4)."""
        return {"value": self.value, "optional": self.optional, "metadata": {"type": self.attr_type}}


@dataclass(frozen=True, slots=True)
class Device:
    """A device this node is a member for, with its attributes and twins."""

    id: str
    name: str = ""
    description: str = ""
    state: str = ""
    last_online: str = ""
    attributes: Mapping[str, Attr] = field(default_factory=dict)
    twins: Mapping[str, Twin] = field(default_factory=dict)

    def to_wire(self, *, with_twins: bool = True) -> dict[str, Any]:
        """Device (docs/protocol.md#5.4): every key omitted when empty; twins of type deleted become null."""
        fields = (
            ("id", self.id),
            ("name", self.name),
            ("description", self.description),
            ("state", self.state),
            ("last_online", self.last_online),
        )
        wire: dict[str, Any] = {key: value for key, value in fields if value}
        if self.attributes:
            wire["attributes"] = {name: self.attributes[name].to_wire() for name in sorted(self.attributes)}
        if with_twins and self.twins:
            wire["twin"] = {name: twin_or_null(self.twins[name]) for name in sorted(self.twins)}
        return wire


def twin_or_null(twin: Twin | None) -> dict[str, Any] | None:
    """A twin as edge → app messages show it: versions stripped, null when deleted."""
    return None if twin is None or twin.deleted else twin.to_wire(versions=False)


#: json.dumps with options builds an encoder per call; a twin update encodes four documents.
_encode_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def to_json_bytes(document: Mapping[str, Any]) -> bytes:
    """Compact JSON, as Go's ``json.Marshal`` writes it."""
    return _encode_compact(document).encode("utf-8")


# --- validation (docs/protocol.md#5.5) -----------------------------------------------------------


def is_valid_key(key: str) -> bool:
    return _KEY_PATTERN.fullmatch(key) is not None


def value_error(value: str | None, value_type: str, *, text_checked: bool = True) -> str | None:
    """Why ``value`` is not a valid value of ``value_type``, or None when it is.

    An empty value is allowed (v1.0.0); booleans must be exactly ``true`` or ``false`` (the v0.2
    fix of R0's inverted check). ``text_checked`` False skips the character class: the original
    checks it only on ``twin/update`` and ``cloud_updated`` bodies, never on membership.
    """
    if value is None or value == "":
        return None
    if text_checked and _VALUE_PATTERN.fullmatch(value) is None:
        return f"value {value!r} must be 1-512 characters of a-z A-Z 0-9 - _ . , : / @ #"
    check = _TYPE_CHECKS.get(value_type)
    return None if check is None or check(value) else f"value {value!r} is not a valid {value_type}"


def _is_int64(value: str) -> bool:
    try:
        return _INT64[0] <= int(value, 10) <= _INT64[1]
    except ValueError:
        return False


def _is_float(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


_TYPE_CHECKS: dict[str, Callable[[str], bool]] = {
    "int": _is_int64,
    "float": _is_float,
    "boolean": lambda value: value in ("true", "false"),
}


# --- parsing JSON from apps and the cloud ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ValueRequest:
    """An ``expected``/``actual`` object of a request (its metadata is ignored)."""

    value: str | None


@dataclass(frozen=True, slots=True)
class TwinRequest:
    """One MsgTwin of a request; ``value_type`` is None when the request has no metadata."""

    expected: ValueRequest | None = None
    actual: ValueRequest | None = None
    optional: bool | None = None
    value_type: str | None = None
    expected_version: Version | None = None
    actual_version: Version | None = None


@dataclass(frozen=True, slots=True)
class AttrRequest:
    value: str | None = None
    optional: bool | None = None
    value_type: str | None = None


def parse_json_object(payload: str | bytes | Mapping[str, Any], what: str) -> Mapping[str, Any]:
    """The JSON object in ``payload`` (already parsed content from the cloud is accepted)."""
    if isinstance(payload, Mapping):
        return payload
    try:
        document = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise TwinRequestError(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise TwinRequestError(f"{what} must be a JSON object")
    return document


def get_field(obj: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    """``obj[key]`` matched case-insensitively as Go does; None when absent or null.

    Raises:
        TwinRequestError: the value is not of ``kind``.
    """
    value = obj.get(key)
    if value is None and key not in obj:
        value = next((v for k, v in obj.items() if isinstance(k, str) and k.lower() == key), None)
    if value is None or type(value) is kind:  # the common case, first: exactly what was asked
        return value
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        names = {str: "a string", bool: "a boolean", int: "an integer", dict: "an object", list: "an array"}
        raise TwinRequestError(f"{where}{key} must be {' or '.join(names.get(k, k.__name__) for k in kinds)}")
    return value


def event_id_of(document: Mapping[str, Any]) -> str:
    """The request's ``event_id`` ("" when absent or not a string)."""
    value = document.get("event_id")
    return value if isinstance(value, str) else ""


def parse_twin_requests(document: Mapping[str, Any], *, required: bool, keys_checked: bool = True) -> dict[str, TwinRequest | None]:
    """The ``twin`` map of a request; a ``null`` entry means delete.

    ``keys_checked`` False takes any twin name: the original checks names only on
    ``twin/update`` and ``cloud_updated`` bodies, never on the devices of a membership message.
    """
    twins = get_field(document, "twin", dict, "")
    if twins is None:
        if required:
            raise TwinRequestError('the body has no "twin" object')
        return {}
    requests: dict[str, TwinRequest | None] = {}
    for name, body in twins.items():
        if keys_checked and not is_valid_key(name):
            raise TwinRequestError(f"twin key {name!r} must be 1-128 characters of a-z A-Z 0-9 - _ . , : / @ #")
        if body is not None and not isinstance(body, dict):
            raise TwinRequestError(f"twin {name!r} must be an object or null")
        requests[own(name)] = None if body is None else _parse_twin(body, f"twin.{name}.")
    return requests


def _parse_twin(body: Mapping[str, Any], where: str) -> TwinRequest:
    metadata = get_field(body, "metadata", dict, where)
    value_type = get_field(metadata, "type", str, where + "metadata.") if metadata is not None else None
    return TwinRequest(
        expected=_parse_value(body, "expected", where),
        actual=_parse_value(body, "actual", where),
        optional=get_field(body, "optional", bool, where),
        value_type=None if metadata is None else (value_type or ""),
        expected_version=_parse_version(body, "expected_version", where),
        actual_version=_parse_version(body, "actual_version", where),
    )


def _parse_value(body: Mapping[str, Any], key: str, where: str) -> ValueRequest | None:
    value = get_field(body, key, dict, where)
    if value is None:
        return None
    return ValueRequest(own(get_field(value, "value", str, f"{where}{key}.")))


def _parse_version(body: Mapping[str, Any], key: str, where: str) -> Version | None:
    version = get_field(body, key, dict, where)
    if version is None:
        return None
    cloud = get_field(version, "cloud", int, f"{where}{key}.") or 0
    edge = get_field(version, "edge", int, f"{where}{key}.") or 0
    return Version(cloud, edge)


def parse_attr_requests(document: Mapping[str, Any]) -> dict[str, AttrRequest | None]:
    """The ``attributes`` map of a cloud message; a ``null`` entry means delete."""
    attributes = get_field(document, "attributes", dict, "") or {}
    requests: dict[str, AttrRequest | None] = {}
    for name, body in attributes.items():
        if body is not None and not isinstance(body, dict):
            raise TwinRequestError(f"attribute {name!r} must be an object or null")
        if body is None:
            requests[name] = None
            continue
        where = f"attributes.{name}."
        metadata = get_field(body, "metadata", dict, where)
        value_type = get_field(metadata, "type", str, where + "metadata.") if metadata is not None else None
        requests[name] = AttrRequest(get_field(body, "value", str, where), get_field(body, "optional", bool, where), value_type)
    return requests


@dataclass(frozen=True, slots=True)
class DeviceRequest:
    """A Device of a membership message from the cloud."""

    id: str
    name: str = ""
    description: str = ""
    state: str = ""
    last_online: str = ""
    attributes: Mapping[str, AttrRequest | None] = field(default_factory=dict)
    twins: Mapping[str, TwinRequest | None] = field(default_factory=dict)
    listed: Mapping[str, Any] = field(default_factory=dict)  # the device as the cloud listed it


def parse_devices(document: Mapping[str, Any], key: str) -> list[DeviceRequest]:
    """The Device list under ``key`` (``added_devices``, ``removed_devices``, ``devices``).

    A device without an id is skipped with a warning (no topic could name it; the others are
    applied); a list or a device the original could not decode refuses the whole message.
    """
    return [parse_device(body, f"{key}[{index}].") for index, body in device_bodies(document, key)]


def device_bodies(document: Mapping[str, Any], key: str) -> list[tuple[int, Mapping[str, Any]]]:
    """``(index, body)`` of each device under ``key`` that has an id, every one checked as
    :func:`parse_devices` does, none kept parsed: a large membership is parsed again a slice
    at a time (docs/architecture.md#4.4)."""
    devices = get_field(document, key, list, "") or []
    bodies: list[tuple[int, Mapping[str, Any]]] = []
    for index, body in enumerate(devices):
        where = f"{key}[{index}]."
        if not isinstance(body, dict):
            raise TwinRequestError(f"{key}[{index}] must be an object")
        if not get_field(body, "id", str, where):
            logger.warning("twin: %sid is missing: that device is skipped, the others are applied", where)
            continue
        parse_device(body, where)
        bodies.append((index, body))
    return bodies


def own(text: str) -> str:
    """A copy of ``text`` that is not part of the decoded message it came in.

    What the twin keeps of a message (ids, names, values) would otherwise hold the allocator's
    blocks of the whole decoded message: one small string kept per device keeps every arena of a
    10,000-device membership (tens of MiB) from being given back (docs/architecture.md#4.4)."""
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "surrogatepass") if len(text) > 1 else text


def parse_device(body: Mapping[str, Any], where: str) -> DeviceRequest:
    """One device of a membership message that has an id; TwinRequestError when it cannot be decoded."""
    return DeviceRequest(
        id=own(get_field(body, "id", str, where)),
        name=own(get_field(body, "name", str, where) or ""),
        description=own(get_field(body, "description", str, where) or ""),
        state=get_field(body, "state", str, where) or "",
        last_online=own(get_field(body, "last_online", str, where) or ""),
        attributes=parse_attr_requests(body),
        twins=parse_twin_requests(body, required=False, keys_checked=False),
        listed=body,
    )


__all__ = [
    "DEVICE_STATES",
    "TYPE_DELETED",
    "TYPE_STRING",
    "VALUE_TYPES",
    "Attr",
    "AttrRequest",
    "Device",
    "DeviceRequest",
    "Twin",
    "TwinRequest",
    "TwinRequestError",
    "Value",
    "ValueRequest",
    "Version",
    "device_bodies",
    "event_id_of",
    "get_field",
    "is_valid_key",
    "parse_attr_requests",
    "parse_device",
    "parse_devices",
    "parse_json_object",
    "parse_twin_requests",
    "to_json_bytes",
    "twin_or_null",
    "value_error",
]
