"""The edge's protocol: KubeEdge's names and the small encodings modules share (docs/protocol.md).

Everything two parties must spell the same way lives here, and only here: the beehive module
and group names (docs/protocol.md#1.4), operations and resource types (#2.3, #2.4), resource
strings in the edge and cloud forms (#2.5), the hub's cloud-connection events (#3.9) and the
bus's topic resources (#4.4). Modules never import each other; the cloud side imports this
module to speak to edges. The runtime (``kubeedge_actors``) does not import it: it routes by
whatever names the composition root registers.

The cloud connection has one owner, the hub (docs/architecture.md#4.1): it alone decides
whether the cloud is connected and publishes that in the :class:`CloudConnectionView` of its
router, which meta and twin read; its ``node/connection`` events tell them when to act. What a
durable sender (the twin) hands the hub comes back in a :class:`DeliveryReport`
(docs/architecture.md#5.2).

Operations stay open strings on :class:`~kubeedge_actors.Message`: these enums exist so code
compares against one spelling, not so that unknown values are refused.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from kubeedge_actors.errors import MessageRejected, ResourceError
from kubeedge_actors.message import Message

if TYPE_CHECKING:
    from kubeedge_actors.actor import ModuleActor
    from kubeedge_actors.router import Router

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


# --- the cloud connection, owned by the hub (docs/architecture.md#4.1) ------------------


@dataclass(frozen=True, slots=True)
class CloudState:
    """The hub's cloud link after one of its changes.

    Attributes:
        connected: whether a link to the cloud is up.
        change: 1 for the first state the hub published, 2 for the next...: a module that acts
            on changes remembers the last it acted on, so an event it hears twice (or late)
            does not make it act twice.
    """

    connected: bool
    change: int


class CloudConnectionView:
    """Whether the cloud is connected, as the hub says: the one answer every module of an edge reads.

    Only the hub writes it (:meth:`publish`), on its own thread, each time its link comes up or
    goes down, and before it sends the ``node/connection`` events: a module handling such an
    event reads here the state it must act on (or a newer one). Reading is one load of an
    immutable value, safe from any thread.
    """

    def __init__(self) -> None:
        self._state: CloudState | None = None
        self._lock = threading.Lock()  # a restarted hub may publish while the old one's stop does

    @property
    def state(self) -> CloudState | None:
        """The last state the hub published; None before its first (no hub has run yet)."""
        return self._state

    @property
    def connected(self) -> bool:
        state = self._state
        return state is not None and state.connected

    def publish(self, connected: bool) -> CloudState:
        """The hub's link came up or went down (the hub alone calls this)."""
        with self._lock:
            previous = self._state
            state = CloudState(connected, (previous.change if previous else 0) + 1)
            self._state = state
            return state


def cloud_connection_view(router: Router) -> CloudConnectionView:
    """The :class:`CloudConnectionView` of the hub that serves ``router``'s modules (made on first use).

    Kept per router because the router is what the modules of one edge share (they never hold
    each other), and so the runtime, which knows nothing of a cloud, need not carry it.
    """
    return router.shared(CloudConnectionView)


#: The modules that keep what they send to the cloud durably until the hub reports it written
#: (docs/architecture.md#5.2), by the ``source`` of their messages → their group. The hub never
#: keeps their messages: it reports each back, written or returned, in a :class:`DeliveryReport`.
DURABLE_SENDERS: dict[str, str] = {Module.TWIN: Group.TWIN}
#: Resource of the hub's :class:`DeliveryReport` to a durable sender (in-process, never on the wire).
CLOUD_DELIVERY_RESOURCE = "node/delivery"
CLOUD_AWAY_REASON = "hub: the cloud is not connected"


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """The hub to a durable sender: what became of messages it handed over, by id. In-process
    only: it travels as the content of a ``node/delivery`` message from ``edgehub``.

    Attributes:
        written: written to the link's socket, in the order they were handed over.
        connection: the :attr:`CloudState.change` of the connection that wrote them (a later
            connect tells the sender they went out on a link that is gone since).
        returned: not written, and not kept by the hub: the cloud was not connected when the
            hub took them, or the link broke first. The sender keeps them and hands them over
            again once the cloud is back.
        hub_started: sent by a hub as it starts: what a sender handed to an earlier hub (one
            that crashed) and never heard about, it never will: hand it over again.
    """

    written: tuple[str, ...] = ()
    connection: int = 0
    returned: tuple[str, ...] = ()
    hub_started: bool = False

    def to_message(self, group: str) -> Message:
        return Message.new(
            source=NODE_CONNECTION_SOURCE, group=group, operation=Operation.RESPONSE, resource=CLOUD_DELIVERY_RESOURCE, content=self
        )

    @classmethod
    def of(cls, message: Message) -> DeliveryReport:
        """The report a ``node/delivery`` message carries.

        Raises:
            MessageRejected: it carries none.
        """
        if not isinstance(message.content, DeliveryReport):
            raise MessageRejected(f"{CLOUD_DELIVERY_RESOURCE} must carry the hub's DeliveryReport, not {type(message.content).__name__}")
        return message.content


def is_delivery_report(message: Message) -> bool:
    return message.resource == CLOUD_DELIVERY_RESOURCE and message.source == NODE_CONNECTION_SOURCE


def cloud_away_reply(request: Message) -> Message:
    """The hub's answer to a request someone waits for, taken while the cloud is away: an
    ``error`` from ``edgehub``, at once, rather than a wait for a timeout."""
    return request.error_reply(CLOUD_AWAY_REASON).with_route(source=NODE_CONNECTION_SOURCE)


def is_cloud_away_reply(reply: Message) -> bool:
    return reply.is_error and reply.source == NODE_CONNECTION_SOURCE


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

    For a module of your own that wants the state as an event (the edge's modules read
    :func:`cloud_connection_view` instead). At the first start the hub is not running yet and
    announces its first connect itself, so nothing is asked.
    """
    router = actor.module_router
    if router.is_alive(Module.HUB):
        query = Message.new(
            source=actor.module_name, group=actor.module_group, operation=Operation.QUERY, resource=NODE_CONNECTION_RESOURCE
        )
        router.send(Module.HUB, query)


__all__ = [
    "CLOUD_AWAY_REASON",
    "CLOUD_CONNECTED",
    "CLOUD_DELIVERY_RESOURCE",
    "CLOUD_DISCONNECTED",
    "DURABLE_SENDERS",
    "NODE_CONNECTION_RESOURCE",
    "NODE_CONNECTION_SOURCE",
    "NODE_PREFIX",
    "CloudConnectionView",
    "CloudGroup",
    "CloudState",
    "DeliveryReport",
    "Group",
    "Module",
    "Operation",
    "Resource",
    "ResourceType",
    "add_node_prefix",
    "ask_cloud_connection",
    "build_edge_resource",
    "cloud_away_reply",
    "cloud_connected",
    "cloud_connection_view",
    "decode_topic",
    "encode_topic",
    "is_cloud_away_reply",
    "is_delivery_report",
    "parse_cloud_resource",
    "parse_edge_resource",
    "split_node_prefix",
]


# --- logs and exec from the cloud (ours, docs/protocol.md#9.5) -------------------------------


class StreamOperation(StrEnum):
    """Operations of a log or exec stream; resource ``<ns>/podlogs/<pod>`` or ``<ns>/podexec/<pod>``."""

    OPEN = "stream_open"  # cloud → edge: {"stream", "container", "follow", "tail", "since", "command", "window", "chunk"}
    ACK = "stream_ack"  # cloud → edge: {"stream", "seq"}: every chunk up to seq was delivered
    CLOSE = "stream_close"  # cloud → edge: {"stream"}: the reader went away
    OPENED = "stream_opened"  # edge → cloud: {"stream", "container"}
    DATA = "stream_data"  # edge → cloud: {"stream", "seq", "channel", "data" (base64)}
    END = "stream_end"  # edge → cloud: {"stream", "exit_code" (exec), "error"}


class StreamKind(StrEnum):
    """The resource types of the two streams."""

    LOGS = "podlogs"
    EXEC = "podexec"


STREAM_OPERATIONS = frozenset(StreamOperation)
#: Chunks a stream may have unacknowledged, and a chunk's size, at most (the cloud may ask for less).
STREAM_MAX_WINDOW = 32
STREAM_MAX_CHUNK_BYTES = 32 * 1024


def stream_id_of(message: Message) -> str:
    """The stream a stream message is about.

    Raises:
        MessageRejected: the content is not an object with a non-empty ``stream``.
    """
    content = message.content
    stream = content.get("stream") if isinstance(content, dict) else None
    if not isinstance(stream, str) or not stream:
        raise MessageRejected(f"{message.operation} {message.id}: the content must be an object naming its 'stream'")
    return stream


__all__ += ["STREAM_MAX_CHUNK_BYTES", "STREAM_MAX_WINDOW", "STREAM_OPERATIONS", "StreamKind", "StreamOperation", "stream_id_of"]


# --- the twin's flow control with the bus (docs/architecture.md#4.4; in-process only) ----------

#: A ``query`` on this resource, sent to ``eventbus`` with ``send_sync``, is answered (a
#: ``response``, content ``{"waiting": n}``) once everything the bus was handed before it is
#: taken by its MQTT clients and no connected client holds more than a quarter of
#: ``mqtt.inbound-queue-size`` publishes unsent: the twin hands over a large membership slice by
#: slice behind it.
PUBLISH_QUEUE_RESOURCE = "publish/queue"

__all__ += ["PUBLISH_QUEUE_RESOURCE"]


# --- the bus's publish, from any module's thread (docs/architecture.md#4.4; in-process only) ----


class BusPublisher:
    """The bus's MQTT publish, callable from any thread, while a bus runs.

    A ``publish`` message to ``eventbus`` costs two thread hand-overs before paho has the
    payload (the sender's thread → the bus actor → paho's); through this, one (the sender's
    thread → paho's), and the twin's answers to device apps reach the broker sooner. The bus
    alone owns its clients: it attaches its publish in ``on_start`` and detaches it in
    ``on_stop``, before it closes them. Between the two, :meth:`publish` says False and the
    sender sends the ``publish`` message as before (the router holds it for a bus restarting).
    """

    def __init__(self) -> None:
        self._publish: Callable[[str, bytes], object] | None = None

    def attach(self, publish: Callable[[str, bytes], object]) -> None:
        """The bus is up: ``publish(topic, payload)`` may be called from any thread."""
        self._publish = publish

    def detach(self, publish: Callable[[str, bytes], object]) -> None:
        """The bus that attached ``publish`` stops (a newer one may have attached since)."""
        if self._publish == publish:
            self._publish = None

    def publish(self, topic: str, payload: bytes) -> bool:
        """Hand ``payload`` to the bus's MQTT clients on this thread; False when no bus is attached."""
        publish = self._publish
        if publish is None:
            return False
        publish(topic, payload)
        return True


def bus_publisher(router: Router) -> BusPublisher:
    """The :class:`BusPublisher` of the bus that serves ``router``'s modules (made on first use)."""
    return router.shared(BusPublisher)


__all__ += ["BusPublisher", "bus_publisher"]
