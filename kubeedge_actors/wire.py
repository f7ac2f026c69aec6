"""Names that travel on the wire or in ``modules.yaml``, and the small encodings two modules share.

Module and group names are what beehive registered (docs/protocol.md#1.4); operations and resource types
are the constants of docs/protocol.md#2.3 and docs/protocol.md#2.4. Operations stay open strings on :class:`Message`: these
enums exist so code compares against one spelling, not so that unknown values are refused.
Modules do not import each other, so what one writes and another reads is encoded here: the
bus's topic resources (docs/protocol.md#4.4) and the hub's connection events (docs/protocol.md#3.9).
"""

from __future__ import annotations

import base64
import binascii
from enum import StrEnum
from typing import Any

from kubeedge_actors.errors import MessageRejected


class Module(StrEnum):
    """Beehive module names of the edge (docs/protocol.md#1.4)."""

    HUB = "websocket"
    BUS = "eventbus"
    META = "metaManager"
    EDGED = "edged"
    TWIN = "twin"


class Group(StrEnum):
    """Beehive group names (docs/protocol.md#1.4)."""

    HUB = "hub"
    BUS = "bus"
    META = "meta"
    EDGED = "edged"
    TWIN = "twin"
    USER = "user"


class CloudGroup(StrEnum):
    """``route.group`` values on the cloud link (docs/protocol.md#3.7); not beehive groups."""

    RESOURCE = "resource"
    FUNC = "func"
    TWIN = "twin"
    USER = "user"
    APP = "app"


class Operation(StrEnum):
    """Operations of docs/protocol.md#2.3."""

    INSERT = "insert"
    DELETE = "delete"
    QUERY = "query"
    UPDATE = "update"
    RESPONSE = "response"
    ERROR = "error"
    KEEPALIVE = "keepalive"
    PUBLISH = "publish"
    SUBSCRIBE = "subscribe"
    MESSAGE = "message"
    GET_RESULT = "get_result"
    META_INTERNAL_SYNC = "meta-internal-sync"
    ACTION = "action"
    ACTION_RESULT = "action_result"
    GET = "get"
    LIST = "list"
    DETAIL = "detail"
    DELTA = "delta"
    DOCUMENT = "document"
    UPDATED = "updated"
    DELETED = "deleted"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


class ResourceType(StrEnum):
    """Resource types of docs/protocol.md#2.4 (the ``<type>`` part of a resource)."""

    POD = "pod"
    CONFIGMAP = "configmap"
    SECRET = "secret"
    NODE = "node"
    PODLIST = "podlist"
    PODSTATUS = "podstatus"
    NODESTATUS = "nodestatus"
    MEMBERSHIP = "membership"
    TWIN = "twin"
    DEVICE = "device"
    AUTH_INFO = "auth_info"
    SERVICE = "service"
    SERVICELIST = "servicelist"
    ENDPOINTS = "endpoints"
    ENDPOINTSLIST = "endpointslist"


#: Resource of the cloud-connection events (docs/protocol.md#3.9), sent with source ``edgehub``.
NODE_CONNECTION_RESOURCE = "node/connection"
NODE_CONNECTION_SOURCE = "edgehub"
CLOUD_CONNECTED = "cloud_connected"
CLOUD_DISCONNECTED = "cloud_disconnected"


def cloud_connected(content: Any) -> bool:
    """What a ``node/connection`` event says (docs/protocol.md#3.9): True for ``cloud_connected``, False
    for ``cloud_disconnected``; bytes are read as UTF-8.

    Raises:
        MessageRejected: the content is neither.
    """
    text = content.decode("utf-8", "replace") if isinstance(content, bytes | bytearray) else content
    if text not in (CLOUD_CONNECTED, CLOUD_DISCONNECTED):
        # Not the content itself: a warning must not show what a message carries.
        raise MessageRejected(f"{NODE_CONNECTION_RESOURCE} content must be {CLOUD_CONNECTED!r} or {CLOUD_DISCONNECTED!r}")
    return bool(text == CLOUD_CONNECTED)


def encode_topic(topic: str) -> str:
    """The resource that carries an MQTT ``topic`` from the bus: URL-safe base64 with padding (docs/protocol.md#4.4)."""
    return base64.urlsafe_b64encode(topic.encode("utf-8")).decode("ascii")


def decode_topic(resource: str) -> str:
    """The MQTT topic a resource from the bus carries; the inverse of :func:`encode_topic`.

    Raises:
        MessageRejected: ``resource`` is not base64url-encoded UTF-8.
    """
    try:
        return base64.urlsafe_b64decode(resource.encode("ascii")).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise MessageRejected(f"resource {resource!r} is not a base64url-encoded MQTT topic") from exc


__all__ = [
    "CLOUD_CONNECTED",
    "CLOUD_DISCONNECTED",
    "NODE_CONNECTION_RESOURCE",
    "NODE_CONNECTION_SOURCE",
    "CloudGroup",
    "Group",
    "Module",
    "Operation",
    "ResourceType",
    "cloud_connected",
    "decode_topic",
    "encode_topic",
]
