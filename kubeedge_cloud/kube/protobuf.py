"""The Kubernetes protobuf encoding, read for the kinds ``kubectl create <kind>`` sends in it
(namespace, configmap, secret): kubectl's typed clients write protobuf and do not fall back to
JSON (docs/protocol.md#12.4). Other kinds in protobuf are answered 415.

The envelope is ``k8s\\0`` and a ``runtime.Unknown`` (typeMeta 1, raw 2); ``raw`` is the
object in the field numbers of k8s.io/api's generated.proto.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from kubeedge_cloud.kube.errors import KubeApiError, bad_request

MAGIC = b"k8s\x00"
Decoder = Callable[[list[bytes | int]], Any]
Schema = dict[int, tuple[str, Any]]


def _fields(data: bytes) -> dict[int, list[bytes | int]]:
    """Protobuf wire format: field number → its values (varints as ints, length-delimited as bytes)."""
    found: dict[int, list[bytes | int]] = {}
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        value: bytes | int
        if wire == 0:
            value, at = _varint(data, at)
        elif wire == 2:
            size, at = _varint(data, at)
            value, at = data[at : at + size], at + size
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            value, at = int.from_bytes(data[at : at + width], "little"), at + width
        else:
            raise bad_request(f"the protobuf body has wire type {wire}, which no Kubernetes object uses")
        found.setdefault(number, []).append(value)
    return found


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if at >= len(data):
            raise bad_request("the protobuf body ends inside a number")
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if not byte & 0x80:
            return value, at
        shift += 7


def _text(values: list[bytes | int]) -> str:
    return bytes(values[-1]).decode() if isinstance(values[-1], bytes) else str(values[-1])


def _number(values: list[bytes | int]) -> int:
    return int(values[-1]) if isinstance(values[-1], int) else 0


def _flag(values: list[bytes | int]) -> bool:
    return bool(_number(values))


def _texts(values: list[bytes | int]) -> list[str]:
    return [bytes(v).decode() for v in values if isinstance(v, bytes)]


def _map(value_of: Callable[[bytes], Any]) -> Decoder:
    def decode(values: list[bytes | int]) -> dict[str, Any]:
        result = {}
        for entry in values:
            fields = _fields(bytes(entry)) if isinstance(entry, bytes) else {}
            key = _text(fields[1]) if 1 in fields else ""
            raw = fields.get(2, [b""])[-1]
            result[key] = value_of(raw if isinstance(raw, bytes) else b"")
        return result

    return decode


def _message(schema: Schema) -> Decoder:
    def decode(values: list[bytes | int]) -> dict[str, Any]:
        raw = values[-1]
        fields = _fields(raw if isinstance(raw, bytes) else b"")
        return {name: read(fields[number]) for number, (name, read) in schema.items() if number in fields}

    return decode


_STRINGS = _map(lambda raw: raw.decode())
_BYTES = _map(lambda raw: base64.b64encode(raw).decode())  # JSON carries []byte as base64
_META = _message(
    {1: ("name", _text), 2: ("generateName", _text), 3: ("namespace", _text), 5: ("uid", _text), 6: ("resourceVersion", _text),
     7: ("generation", _number), 11: ("labels", _STRINGS), 12: ("annotations", _STRINGS), 14: ("finalizers", _texts)}
)  # fmt: skip
_KINDS: dict[str, Decoder] = {
    "Namespace": _message({1: ("metadata", _META), 2: ("spec", _message({1: ("finalizers", _texts)}))}),
    "ConfigMap": _message({1: ("metadata", _META), 2: ("data", _STRINGS), 3: ("binaryData", _BYTES), 4: ("immutable", _flag)}),
    "Secret": _message(
        {1: ("metadata", _META), 2: ("data", _BYTES), 3: ("type", _text), 4: ("stringData", _STRINGS), 5: ("immutable", _flag)}
    ),
}


def decode(body: bytes) -> dict[str, Any]:
    """The object of a protobuf request body, as its JSON would be.

    Raises:
        KubeApiError: 400 when it is not Kubernetes protobuf, 415 for a kind not read here.
    """
    if not body.startswith(MAGIC):
        raise bad_request("the protobuf body does not start with the Kubernetes magic number")
    envelope = _fields(body[len(MAGIC) :])
    type_meta = _message({1: ("apiVersion", _text), 2: ("kind", _text)})(envelope.get(1, [b""]))
    kind = type_meta.get("kind", "")
    if kind not in _KINDS:
        raise KubeApiError(415, "UnsupportedMediaType", f"{kind or 'this kind'} in protobuf is not read here: send application/json")
    obj = _KINDS[kind](envelope.get(2, [b""]))
    return {"apiVersion": type_meta.get("apiVersion", "v1"), "kind": kind, **obj}


__all__ = ["MAGIC", "decode"]
