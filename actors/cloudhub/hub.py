"""The cloud end of the link: cloudhub (spec §9.2–9.3), module ``cloudhub``."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from actors.cloudhub.names import CLOUDHUB_GROUP, CLOUDHUB_MODULE, CONTROLLER_GROUP
from actors.cloudhub.server import CloudHubError, EdgeConnected, EdgeDisconnected, EdgeServer, ServerSettings, server_ssl_context
from kubeedge_actors import Config, Message, ModuleActor, Router
from kubeedge_actors.errors import MessageDecodeError, ResourceError
from kubeedge_actors.handover import Handover
from kubeedge_actors.message import decode_message, encode_message
from kubeedge_actors.resource import add_node_prefix, split_node_prefix
from kubeedge_actors.wire import CloudGroup, Operation

logger = logging.getLogger(__name__)

INBOUND_LIMIT = 20_000
_WARN_INTERVAL_S = 10.0


@dataclass(frozen=True, slots=True)
class EdgeFrameReceived:
    """The server read one frame from an edge connection."""

    conn_id: int
    data: str | bytes


def server_settings(config: Config) -> ServerSettings:
    """The server's settings from ``cloudhub.*``; no TLS when cert and key are both empty.

    Raises:
        CloudHubError: a TLS file cannot be loaded.
    """
    cert, key = config["cloudhub.cert"], config["cloudhub.key"]
    context = None
    if cert or key:
        ca = config.path("cloudhub.ca") if config["cloudhub.ca"] else None
        context = server_ssl_context(config.path("cloudhub.cert"), config.path("cloudhub.key"), ca)
    return ServerSettings(
        host=config["cloudhub.address"],
        port=config["cloudhub.port"],
        ssl_context=context,
        node_limit=config["cloudhub.node-limit"],
        keepalive_s=config["cloudhub.keepalive-interval"],
        write_timeout_s=config["cloudhub.write-timeout"],
    )


def connection_event(node_id: str, connected: bool) -> Message:
    """The connect/disconnect event cloudhub publishes to the controllers (spec §9.2)."""
    operation = Operation.CONNECTED if connected else Operation.DISCONNECTED
    content = json.dumps({"event_type": operation, "timestamp": int(time.time()), "client_id": node_id}, separators=(",", ":"))
    return Message.new(
        source=CLOUDHUB_MODULE, group=CloudGroup.RESOURCE, operation=operation, resource=add_node_prefix(node_id, ""), content=content
    )


class CloudHubActor(ModuleActor):
    """The websocket server for many edges (spec §9.2).

    Consumes:
        messages from the controllers with resource ``node/<id>/...``: the prefix is stripped,
        ``sync`` dropped, and the envelope written to that node's connection; dropped (and
        counted) when the node is not connected: the controllers redeliver on connect.
    Produces:
        to group ``controller``: every envelope an edge sends, its resource prefixed with
        ``node/<id>/`` (keepalives are dropped, as at v1.0.0); ``connected``/``disconnected``
        on ``node/<id>`` with source ``cloudhub`` when an edge comes and goes. Frames that are
        not envelopes are logged, counted and skipped.
    """

    module_name = CLOUDHUB_MODULE
    module_group = CLOUDHUB_GROUP

    def __init__(self, router: Router, config: Config | None = None, *, server: EdgeServer | None = None, **kwargs: Any) -> None:
        super().__init__(router, config, **kwargs)
        self._server = server
        self._handover: Handover | None = None
        self._nodes: dict[int, str] = {}  # every open connection → its node
        self._current: dict[str, int] = {}  # node → its newest connection
        self._last_warned: dict[str, float] = {}
        self.bad_frame_count = 0
        self.keepalive_count = 0
        self.undeliverable_count = 0

    def on_start(self) -> None:
        if self._server is None:
            self._server = EdgeServer(server_settings(self.module_config))
        self._handover = Handover(self.module_tell_self, INBOUND_LIMIT, "cloudhub: frames from edges")
        handover = self._handover

        def on_frame(conn_id: int, data: str | bytes) -> None:  # the server's thread
            handover.offer(EdgeFrameReceived(conn_id, data))

        self._server.start(on_frame, self.module_tell_self)
        settings = self._server.settings
        scheme = "wss" if settings.ssl_context is not None else "ws (not encrypted)"
        logger.info("cloudhub: serving edges on %s://%s:%d/<project-id>/<node-id>/events", scheme, settings.host, self._server.port)

    def on_stop(self) -> None:
        if self._server is not None:
            self._server.stop()
        super().on_stop()

    @property
    def port(self) -> int:
        return self._server.port if self._server is not None else 0

    def connected_nodes(self) -> list[str]:
        return sorted(self._current)

    # --- to the edges -----------------------------------------------------------------------

    def handle_message(self, message: Message) -> None:
        node_id, resource = split_node_prefix(message.resource)  # ResourceError: rejected
        conn_id = self._current.get(node_id)
        if conn_id is None or self._server is None:
            self.undeliverable_count += 1
            logger.debug("cloudhub: node %s is not connected; dropped %s (%s)", node_id, message.id, message.operation)
            return
        # spec §9.2: the prefix is stripped and the event conversion drops sync.
        outbound = message.with_route(resource=resource).with_header(sync=False)
        self._server.send(conn_id, [encode_message(outbound)])

    # --- from the edges ---------------------------------------------------------------------

    def handle_internal(self, event: Any) -> None:
        if isinstance(event, EdgeFrameReceived):
            self._on_frame(event)
        elif isinstance(event, EdgeConnected):
            self._on_connected(event)
        elif isinstance(event, EdgeDisconnected):
            self._on_disconnected(event)
        else:
            super().handle_internal(event)

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

    def _on_disconnected(self, event: EdgeDisconnected) -> None:
        self._nodes.pop(event.conn_id, None)
        if self._current.get(event.node_id) != event.conn_id:
            logger.info("cloudhub: node %s: replaced connection %d closed: %s", event.node_id, event.conn_id, event.reason)
            return
        del self._current[event.node_id]
        logger.info("cloudhub: node %s disconnected: %s", event.node_id, event.reason)
        self.module_router.send_to_group(CONTROLLER_GROUP, connection_event(event.node_id, False))

    def _on_frame(self, event: EdgeFrameReceived) -> None:
        assert self._handover is not None
        self._handover.taken()
        node_id = self._nodes.get(event.conn_id)
        if node_id is None:
            return  # its disconnect was handled first
        try:
            message = decode_message(event.data)
            if message.operation == Operation.KEEPALIVE:
                self.keepalive_count += 1  # v1.0.0 drops them here (spec §9.3)
                return
            message = message.with_route(resource=add_node_prefix(node_id, message.resource))
        except (MessageDecodeError, ResourceError) as error:
            self.bad_frame_count += 1
            self._warn(node_id, "cloudhub: skipped a frame from node %s that is not an envelope: %s [%d so far]", node_id, error)
            return
        self.module_router.send_to_group(CONTROLLER_GROUP, message)

    def _warn(self, node_id: str, text: str, node: str, error: Exception) -> None:
        """A warning per node at most every few seconds: a noisy edge must not flood the log."""
        now = time.monotonic()
        last = self._last_warned.get(node_id)
        if last is None or now - last >= _WARN_INTERVAL_S:
            self._last_warned[node_id] = now
            logger.warning(text, node, error, self.bad_frame_count)
        else:
            logger.debug(text, node, error, self.bad_frame_count)


__all__ = ["CloudHubActor", "CloudHubError", "EdgeFrameReceived", "connection_event", "server_settings"]
