"""Names that travel on the wire or in ``modules.yaml``.

Module and group names are what beehive registered (spec §1.4); operations and resource types
are the constants of spec §2.3–2.4. Operations stay open strings on :class:`Message`: these
enums exist so code compares against one spelling, not so that unknown values are refused.
"""

from __future__ import annotations

from enum import StrEnum


class Module(StrEnum):
    """Beehive module names of the edge (spec §1.4)."""

    HUB = "websocket"
    BUS = "eventbus"
    META = "metaManager"
    EDGED = "edged"
    TWIN = "twin"


class Group(StrEnum):
    """Beehive group names (spec §1.4)."""

    HUB = "hub"
    BUS = "bus"
    META = "meta"
    EDGED = "edged"
    TWIN = "twin"
    USER = "user"


class CloudGroup(StrEnum):
    """``route.group`` values on the cloud link (spec §3.7); not beehive groups."""

    RESOURCE = "resource"
    FUNC = "func"
    TWIN = "twin"
    USER = "user"
    APP = "app"


class Operation(StrEnum):
    """Operations of spec §2.3."""

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
    """Resource types of spec §2.4 (the ``<type>`` part of a resource)."""

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


#: Resource of the cloud-connection events (spec §3.9), sent with source ``edgehub``.
NODE_CONNECTION_RESOURCE = "node/connection"
NODE_CONNECTION_SOURCE = "edgehub"
CLOUD_CONNECTED = "cloud_connected"
CLOUD_DISCONNECTED = "cloud_disconnected"

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
]
