"""Turning meta's messages into keys and stored values, and refusing what cannot be stored.

Every refusal is a :class:`MetaRejected` whose text names what was wrong and never quotes
the content (it can be a secret).
"""

from __future__ import annotations

import json
from typing import Any

from actors.protocol import Resource, ResourceType, parse_edge_resource
from kubeedge_actors import Message, MessageRejected, ResourceError

#: Types a query may fetch from the cloud when they are missing locally (docs/protocol.md#6.3 item 1).
REMOTE_TYPES = frozenset({ResourceType.CONFIGMAP, ResourceType.SECRET})

#: The largest value meta stores. Kubernetes refuses objects above ~1.5 MiB (etcd's request
#: limit), so anything much bigger is not a real object and would only bloat the file.
MAX_VALUE_BYTES = 4 * 1024 * 1024


class MetaRejected(MessageRejected):
    """A message meta cannot act on; the actor warns, answers a sync request and goes on."""


def target_of(message: Message, *, name_required: bool) -> Resource:
    """Parse the message's resource, ``<namespace>/<type>[/<name>]`` (docs/protocol.md#2.5); its ``key``
    is the row's key in the ``meta`` table (docs/protocol.md#6.1).

    Raises:
        MetaRejected: malformed, or no name where one is required (writes need one).
    """
    try:
        resource = parse_edge_resource(message.resource)
    except ResourceError as error:
        raise MetaRejected(str(error)) from None
    if name_required and not resource.name:
        raise MetaRejected(f"{message.operation} needs <namespace>/<type>/<name>, not {message.resource!r}")
    return resource


def encode_value(content: Any) -> str:
    """The stored form of content: its JSON with sorted keys (docs/protocol.md#6.1).

    Bytes (v1.0.0 stores raw bytes verbatim) must hold UTF-8 JSON and are stored in the same
    canonical form, so equal objects always compare equal as stored text.

    Raises:
        MetaRejected: no content, bytes that are not UTF-8 JSON, a value JSON cannot carry,
            or more than :data:`MAX_VALUE_BYTES`.
    """
    if content is None:
        raise MetaRejected("content is empty")
    if isinstance(content, bytes | bytearray):
        content = _decode_bytes(content)
    try:
        text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate, e.g. from a "\\ud800" escape on the wire
        raise MetaRejected("content holds text that is not valid Unicode") from None
    except (TypeError, ValueError, RecursionError) as error:
        raise MetaRejected(f"content cannot be stored as JSON ({type(error).__name__})") from None
    if size > MAX_VALUE_BYTES:
        raise MetaRejected(f"content of {size} bytes is larger than the limit of {MAX_VALUE_BYTES} bytes")
    return text


def _decode_bytes(content: bytes | bytearray) -> Any:
    try:
        return json.loads(bytes(content).decode("utf-8"))
    except UnicodeDecodeError:
        raise MetaRejected("content bytes are not UTF-8") from None
    except ValueError:
        raise MetaRejected("content bytes are not JSON") from None


def decode_value(value: str) -> Any:
    """The object a stored value holds.

    Raises:
        ValueError: the stored text is not JSON (someone else wrote the row).
    """
    return json.loads(value)


def pod_key_of_status(status_key: str) -> str | None:
    """``<ns>/pod/<name>`` for ``<ns>/podstatus/<name>``; None for any other key (docs/protocol.md#6.4)."""
    parts = status_key.split("/")
    if len(parts) != 3 or parts[1] != ResourceType.PODSTATUS or not parts[0] or not parts[2]:
        return None
    return f"{parts[0]}/{ResourceType.POD}/{parts[2]}"


__all__ = [
    "MAX_VALUE_BYTES",
    "REMOTE_TYPES",
    "MetaRejected",
    "decode_value",
    "encode_value",
    "pod_key_of_status",
    "target_of",
]
