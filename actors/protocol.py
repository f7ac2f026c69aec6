"""The edge's protocol: KubeEdge's names and the small encodings modules share (docs/protocol.md).

Everything two parties must spell the same way lives here, and only here: the beehive module
and group names (docs/protocol.md#1.4), operations and resource types (#2.3, #2.4), resource
strings in the edge and cloud forms (#2.5), the hub's cloud-connection events (#3.9) and the
bus's topic resources (#4.4). Modules never import each other; the cloud side imports this
module to speak to edges. The runtime (``kubeedge_actors``) does not import it: it routes by
whatever names the composition root registers.

Operations stay open strings on :class:`~kubeedge_actors.Message`: these enums exist so code
compares against one spelling, not so that unknown values are refused.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from kubeedge_actors.errors import MessageRejected, ResourceError
from kubeedge_actors.message import Message

if TYPE_CHECKING:
    from kubeedge_actors.actor import ModuleActor

# --- names (docs/protocol.md#1.4, #2.3, #2.4) ----------------------------------------


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


# --- resources (docs/protocol.md#2.5) --------------------------------------------------

#: The first part of every cloud-form resource.
NODE_PREFIX = "node"


@dataclass(frozen=True, slots=True)
class Resource:
    """A parsed edge resource. ``name`` is ``""`` for a whole type (``default/pod``)."""

    namespace: str
    type: str
    name: str = ""

    def __str__(self) -> str:
        return build_edge_resource(self.namespace, self.type, self.name)

    @property
    def key(self) -> str:
        """The storage key of meta: the full edge resource string (docs/protocol.md#6.1)."""
        return str(self)


def build_edge_resource(namespace: str, resource_type: str, name: str = "") -> str:
    """``<namespace>/<type>[/<name>]``; every given part must be non-empty and slash-free."""
    parts = [namespace, resource_type] + ([name] if name else [])
    for label, part in zip(("namespace", "type", "name"), parts, strict=False):
        if not part or "/" in part:
            raise ResourceError(f"cannot build an edge resource: {label} {part!r} is empty or holds '/'")
    return "/".join(parts)


def parse_edge_resource(resource: str) -> Resource:
    """Parse ``<namespace>/<type>[/<name>]``.

    Raises:
        ResourceError: not 2 or 3 non-empty parts.
    """
    parts = resource.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise ResourceError(f"malformed edge resource {resource!r}: expected <namespace>/<type>[/<name>]")
    return Resource(*parts)


def add_node_prefix(node_id: str, resource: str) -> str:
    """The cloud form of an edge resource: ``node/<node-id>/<resource>``."""
    if not node_id or "/" in node_id:
        raise ResourceError(f"node id {node_id!r} is empty or holds '/'")
    return f"{NODE_PREFIX}/{node_id}/{resource}" if resource else f"{NODE_PREFIX}/{node_id}"


def split_node_prefix(resource: str) -> tuple[str, str]:
    """Split a cloud resource into ``(node_id, rest)``; rest may be any edge-side resource.

    Raises:
        ResourceError: it does not start with ``node/<node-id>``.
    """
    parts = resource.split("/", 2)
    if len(parts) < 2 or parts[0] != NODE_PREFIX or not parts[1]:
        raise ResourceError(f"malformed cloud resource {resource!r}: expected node/<node-id>/<resource>")
    return parts[1], parts[2] if len(parts) == 3 else ""


def parse_cloud_resource(resource: str) -> tuple[str, Resource]:
    """Parse ``node/<node-id>/<namespace>/<type>[/<name>]`` into the node id and the edge part.

    Raises:
        ResourceError: not of that form.
    """
    node_id, rest = split_node_prefix(resource)
    try:
        return node_id, parse_edge_resource(rest)
    except ResourceError:
        raise ResourceError(f"malformed cloud resource {resource!r}: expected node/<node-id>/<namespace>/<type>[/<name>]") from None


def ask_cloud_connection(actor: ModuleActor) -> None:
    """Ask the hub, if it is running, to send ``actor`` the cloud-connection event as of now
    (docs/architecture.md#4.1); it arrives like any other ``node/connection`` event.

    For ``on_start`` of a module that tracks the connection: one restarted after a crash
    while the hub stayed up has missed the last event. At the first start the hub is not
    running yet and announces its first connect itself, so nothing is asked.
    """
    router = actor.module_router
    if router.is_alive(Module.HUB):
        query = Message.new(
            source=actor.module_name, group=actor.module_group, operation=Operation.QUERY, resource=NODE_CONNECTION_RESOURCE
        )
        router.send(Module.HUB, query)


__all__ = [
    "CLOUD_CONNECTED",
    "CLOUD_DISCONNECTED",
    "NODE_CONNECTION_RESOURCE",
    "NODE_CONNECTION_SOURCE",
    "NODE_PREFIX",
    "CloudGroup",
    "Group",
    "Module",
    "Operation",
    "Resource",
    "ResourceType",
    "add_node_prefix",
    "ask_cloud_connection",
    "build_edge_resource",
    "cloud_connected",
    "decode_topic",
    "encode_topic",
    "parse_cloud_resource",
    "parse_edge_resource",
    "split_node_prefix",
]
