"""The cloud end of the link: cloudhub (docs/protocol.md#9.2 and docs/protocol.md#9.3), module ``cloudhub``."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass

from actors.protocol import STREAM_OPERATIONS, CloudGroup, Operation, add_node_prefix, split_node_prefix
from kubeedge_actors import Config, Message, ModuleActor, Router, handles
from kubeedge_actors.errors import MessageDecodeError, ResourceError
from kubeedge_actors.handover import Handover
from kubeedge_actors.logs import RateLimitedWarning
from kubeedge_actors.message import decode_message, encode_message
from kubeedge_cloud.keys import CLOUD_KEYS
from kubeedge_cloud.names import (
    CLOUDHUB_GROUP,
    CLOUDHUB_MODULE,
    CONTROLLER_GROUP,
    CONTROLLER_MODULE,
    DEVICE_CONTROLLER_MODULE,
    STREAMS_MODULE,
)
from kubeedge_cloud.server import EdgeConnected, EdgeDisconnected, EdgeServer
from kubeedge_cloud.settings import HubSettings

logger = logging.getLogger(__name__)

#: Batches of frames read and not yet handled; beyond this the server's batches are dropped.
INBOUND_LIMIT = 2_000
_WARN_INTERVAL_S = 10.0
#: Edge resources of the twin's messages to the cloud (docs/protocol.md#5.4): for the device controller.
_DEVICE_RESOURCES = ("device/", "membership")


@dataclass(frozen=True, slots=True)
class FlushToEdges:
    """Write what this turn of the mailbox queued for the edges (one hand-over per edge)."""


@dataclass(frozen=True, slots=True)
class EdgeFramesReceived:
    """The server read these frames, in order: ``(conn_id, data)`` each."""

    frames: list[tuple[int, str | bytes]]


def connection_event(node_id: str, connected: bool) -> Message:
    """The connect/disconnect event cloudhub publishes to the controllers (docs/protocol.md#9.2)."""
    operation = Operation.CONNECTED if connected else Operation.DISCONNECTED
    content = json.dumps({"event_type": operation, "timestamp": int(time.time()), "client_id": node_id}, separators=(",", ":"))
    return Message.new(
        source=CLOUDHUB_MODULE, group=CloudGroup.RESOURCE, operation=operation, resource=add_node_prefix(node_id, ""), content=content
    )


class CloudHubActor(ModuleActor):
    """The websocket server for many edges (docs/protocol.md#9.2).

    Consumes:
        messages from the controllers with resource ``node/<id>/...``: the prefix is stripped,
        ``sync`` dropped, and the envelope written to that node's connection; dropped (and
        counted) when the node is not connected: the controllers redeliver on connect.
    Produces:
        every envelope an edge sends, its resource prefixed with ``node/<id>/``, to module
        ``devicecontroller`` for ``device/...`` and ``membership...`` resources (twin,
        docs/protocol.md#5.4), to ``cloudstreams`` for log and exec streams
        (docs/protocol.md#9.5) and to ``controller`` for the rest (v1.0.0 publishes to their group; one
        receiver spares the other the work); keepalives are dropped, as at v1.0.0.
        to group ``controller``: ``connected``/``disconnected`` on ``node/<id>`` with source
        ``cloudhub`` when an edge comes and goes. Frames that are not envelopes are logged,
        counted and skipped.

    Its settings (:class:`~kubeedge_cloud.settings.HubSettings`) are read from ``config`` once,
    here; the TLS files are loaded when it starts.
    """

    module_name = CLOUDHUB_MODULE
    module_group = CLOUDHUB_GROUP
    module_config_keys = CLOUD_KEYS

    def __init__(
        self,
        router: Router,
        config: Config | None = None,
        *,
        name: str | None = None,
        group: str | None = None,
        server: EdgeServer | None = None,
    ) -> None:
        super().__init__(router, config, name=name, group=group)
        self.settings = HubSettings.from_config(self.module_config)
        self._server = server
        self._handover: Handover[EdgeFramesReceived] | None = None
        self._nodes: dict[int, str] = {}  # every open connection → its node
        self._current: dict[str, int] = {}  # node → its newest connection
        self._to_edges: dict[int, list[str]] = {}  # frames waiting for FlushToEdges
        self._warnings = RateLimitedWarning(_WARN_INTERVAL_S)  # per node: a noisy edge must not flood the log
        self.bad_frame_count = 0
        self.keepalive_count = 0
        self.undeliverable_count = 0

    def on_start(self) -> None:
        if self._server is None:
            self._server = EdgeServer(self.settings.server_settings())
        self._handover = Handover(self.module_tell_self, INBOUND_LIMIT, "cloudhub: frames from edges")
        handover = self._handover

        def on_frames(frames: list[tuple[int, str | bytes]]) -> None:  # the server's thread
            handover.offer(EdgeFramesReceived(frames))

        self._server.start(on_frames, self.module_tell_self)
        settings = self._server.settings
        if settings.ssl_context is not None:
            logger.info("cloudhub: serving edges on wss://%s:%d/<project-id>/<node-id>/events", settings.host, self._server.port)
        else:
            logger.warning(
                "cloudhub: serving edges on ws://%s:%d/<project-id>/<node-id>/events"
                " (not encrypted, and nodes are not authenticated: any client may speak for any node;"
                " cloudhub.cert and cloudhub.key are empty)",
                settings.host,
                self._server.port,
            )

    def on_stop(self) -> None:
        if self._server is not None:
            self._server.stop()
        super().on_stop()

    @property
    def port(self) -> int:
        return self._server.port if self._server is not None else 0

    def connected_nodes(self) -> list[str]:
        return sorted(self._current)

    def keepalives_received(self) -> int:
        """Keepalives from every edge since start (most are dropped by the server already)."""
        return self.keepalive_count + (self._server.keepalive_count if self._server is not None else 0)

    # --- to the edges -----------------------------------------------------------------------

    def handle_message(self, message: Message) -> None:
        node_id, resource = split_node_prefix(message.resource)  # ResourceError: rejected
        conn_id = self._current.get(node_id)
        if conn_id is None or self._server is None:
            self.undeliverable_count += 1
            logger.debug("cloudhub: node %s is not connected; dropped %s (%s)", node_id, message.id, message.operation)
            return
        # docs/protocol.md#9.2: the prefix is stripped and the event conversion drops sync.
        outbound = message.with_route(resource=resource).with_header(sync=False)
        if not self._to_edges:
            self.module_tell_self(FlushToEdges())  # after the rest of this batch
        self._to_edges.setdefault(conn_id, []).append(encode_message(outbound))

    @handles(FlushToEdges)
    def _flush_to_edges(self, _: FlushToEdges) -> None:
        pending, self._to_edges = self._to_edges, {}
        if self._server is not None:
            for conn_id, texts in pending.items():
                self._server.send(conn_id, texts)

    # --- from the edges ---------------------------------------------------------------------

    @handles(EdgeConnected)
    def _on_connected(self, event: EdgeConnected) -> None:
        replaced = self._current.get(event.node_id)
        self._nodes[event.conn_id] = event.node_id
        self._current[event.node_id] = event.conn_id
        if replaced is not None:
            logger.warning(
                "cloudhub: node %s connected again from %s; the older connection is closed (two edges with one node id?)",
                event.node_id,
                event.address,
            )
            return  # still connected: no event for the controllers
        logger.info("cloudhub: node %s connected from %s", event.node_id, event.address)
        self.module_router.send_to_group(CONTROLLER_GROUP, connection_event(event.node_id, True))

    @handles(EdgeDisconnected)
    def _on_disconnected(self, event: EdgeDisconnected) -> None:
        self._nodes.pop(event.conn_id, None)
        if self._current.get(event.node_id) != event.conn_id:
            logger.info("cloudhub: node %s: replaced connection %d closed: %s", event.node_id, event.conn_id, event.reason)
            return
        del self._current[event.node_id]
        logger.info("cloudhub: node %s disconnected: %s", event.node_id, event.reason)
        self.module_router.send_to_group(CONTROLLER_GROUP, connection_event(event.node_id, False))

    @handles(EdgeFramesReceived)
    def _on_frames(self, event: EdgeFramesReceived) -> None:
        assert self._handover is not None
        self._handover.taken()
        batches: dict[str, list[Message]] = {}
        for conn_id, data in event.frames:
            routed = self._from_edge(conn_id, data)
            if routed is not None:
                batches.setdefault(routed[0], []).append(routed[1])
        for target, messages in batches.items():
            self.module_router.send_batch(target, messages)  # in order, one hand-over per controller

    def _from_edge(self, conn_id: int, data: str | bytes) -> tuple[str, Message] | None:
        """The controller for the frame and the frame as it sees it (prefixed), or None."""
        node_id = self._nodes.get(conn_id)
        if node_id is None:
            return None  # its disconnect was handled first
        try:
            message = decode_message(data)
            if message.operation == Operation.KEEPALIVE:
                self.keepalive_count += 1  # the server drops them first; v1.0.0 drops them too (docs/protocol.md#9.3)
                return None
            target = DEVICE_CONTROLLER_MODULE if message.resource.startswith(_DEVICE_RESOURCES) else CONTROLLER_MODULE
            if message.operation in STREAM_OPERATIONS:
                target = STREAMS_MODULE  # docs/protocol.md#9.5
            return target, message.with_route(resource=add_node_prefix(node_id, message.resource))
        except (MessageDecodeError, ResourceError) as error:
            self.bad_frame_count += 1
            self._warnings.log(
                logger,
                node_id,
                "cloudhub: skipped a frame from node %s that is not an envelope: %s [%d so far]",
                node_id,
                error,
                self.bad_frame_count,
            )
            return None


__all__ = ["CloudHubActor", "EdgeFramesReceived", "FlushToEdges", "connection_event"]
