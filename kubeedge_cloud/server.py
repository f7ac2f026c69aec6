"""The cloud hub's websocket server for many edges (websockets, asyncio on its own thread).

::

    edge ──TLS──► GET /<project-id>/<node-id>/events (or /<node-id>/events)
      process_request: another path → 404; over TLS, a client certificate whose CN is not the
               node id (of the path, and of a ``node_id`` header if sent) → 403
               (docs/protocol.md#9.4); node-limit edges connected → 429 (docs/protocol.md#9.2)
      handler: a newer connection of a node replaces the older one, which gets the original's
               disconnect notice and a close (code 4001)
      frames (text or binary) ──────────────► on_frames([(conn_id, data), ...]): what one
                                               turn of the loop read, in order
      send(conn_id, texts), from any thread ─► written in order; a write slower than
                                               write-timeout drops the edge
      keepalives ───────────────────────────► counted and dropped here: liveness is this
                                               adapter's business, and 200 edges' heartbeats
                                               then wake no actor (v1.0.0 drops them too)
      nothing read for keepalive-interval ──► closed (code 4002, docs/protocol.md#3.6)
      end of a connection ──────────────────► on_event(EdgeDisconnected)

Callbacks run on the server's thread: they must only convert and hand over.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import ssl
import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from actors.protocol import Operation, add_node_prefix
from kubeedge_actors.errors import MessageDecodeError
from kubeedge_actors.message import Message, decode_message, encode_message
from kubeedge_cloud.errors import CloudHubError

logger = logging.getLogger(__name__)
# websockets says "connection open" for every edge at INFO; cloudhub logs what matters itself.
_websockets_logger = logging.getLogger("cloudhub.websockets")
_websockets_logger.setLevel(logging.WARNING)

MAX_FRAME_BYTES = 4 * 1024 * 1024  # a big pod list must not kill the link; beyond this it does
_MAX_QUEUED_FRAMES = 64  # per connection, before websockets stops reading from it
CLOSE_REPLACED = 4001
CLOSE_KEEPALIVE = 4002
CLOSE_WRITE_TIMEOUT = 4003
_KEEPALIVE_MAX_BYTES = 512  # a keepalive envelope is ~190 bytes; longer frames are never one
_START_TIMEOUT_S = 15.0
_CLOSE_TIMEOUT_S = 3.0


@dataclass(frozen=True, slots=True)
class EdgeConnected:
    """An edge finished its handshake."""

    conn_id: int
    node_id: str
    project_id: str
    address: str


@dataclass(frozen=True, slots=True)
class EdgeDisconnected:
    """An edge's connection ended; ``reason`` says how."""

    conn_id: int
    node_id: str
    reason: str


#: What the server reports of a connection, besides its frames.
EdgeEvent = EdgeConnected | EdgeDisconnected


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """What :class:`EdgeServer` is started with (:meth:`~kubeedge_cloud.settings.HubSettings.server_settings`
    makes it from the keys): where to listen, TLS (None: plain ``ws://``) and the limits."""

    host: str
    port: int
    ssl_context: ssl.SSLContext | None
    node_limit: int
    keepalive_s: float
    write_timeout_s: float


def server_ssl_context(cert: Path, key: Path, ca: Path | None) -> ssl.SSLContext:
    """TLS ≥ 1.2 with the hub's RSA certificate; an edge certificate, when one is presented,
    must chain to ``ca`` (the original requests it and never checks it, docs/protocol.md#3.2).

    Raises:
        CloudHubError: a file cannot be loaded.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        hint = " (`python -m kubeedge_cloud certs` writes one for development)" if isinstance(exc, FileNotFoundError) else ""
        raise CloudHubError(f"cannot load the cloud hub certificate {cert} / key {key}: {exc}{hint}") from exc
    if ca is not None:
        try:
            context.load_verify_locations(cafile=str(ca))
        except (OSError, ssl.SSLError) as exc:
            raise CloudHubError(f"cannot load the CA file {ca} (cloudhub.ca): {exc}") from exc
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


def parse_events_path(path: str) -> tuple[str, str] | None:
    """``(project_id, node_id)`` from ``/<project-id>/<node-id>/events`` or ``/<node-id>/events``."""
    path = path.split("?", 1)[0]
    if not path.startswith("/"):
        return None
    parts = path[1:].removesuffix("/").split("/")
    if len(parts) == 3 and parts[2] == "events" and all(parts[:2]):
        return parts[0], parts[1]
    if len(parts) == 2 and parts[1] == "events" and parts[0]:
        return "", parts[0]
    return None


def certificate_common_name(peer_certificate: dict[str, object] | None) -> str | None:
    """The CN of a verified peer certificate (``ssl.SSLSocket.getpeercert()``), None without one."""
    for rdn in peer_certificate.get("subject", ()) if peer_certificate else ():  # type: ignore[attr-defined]
        for attribute, value in rdn:
            if attribute == "commonName":
                return str(value)
    return None


def identity_refusal(node_id: str, header_node_id: str | None, common_name: str | None) -> str | None:
    """Why a TLS connection may not speak for ``node_id``, or None when its certificate says it may.

    docs/protocol.md#9.4: the certificate's CN is the node's identity, so one node can read
    neither another's pods nor its secrets.
    """
    if common_name is None:
        return "no client certificate: over TLS an edge shows its certificate (CN = its node id)"
    if common_name != node_id:
        return f"its certificate is for node {common_name!r}, not {node_id!r}"
    if header_node_id is not None and header_node_id != node_id:
        return f"its node_id header {header_node_id!r} is not the node of its path {node_id!r}"
    return None


def is_keepalive(data: str | bytes) -> bool:
    """Whether a frame is the edge's heartbeat (docs/protocol.md#3.6); only small frames that mention it
    are decoded to make sure."""
    if len(data) > _KEEPALIVE_MAX_BYTES or ("keepalive" not in data if isinstance(data, str) else b"keepalive" not in data):
        return False
    try:
        return decode_message(data).operation == Operation.KEEPALIVE
    except MessageDecodeError:
        return False


def replaced_notice(node_id: str) -> str:
    """What the original writes to a connection it refuses (docs/protocol.md#9.2; source and group swapped)."""
    notice = Message.new(
        source="resource",
        group="cloudhub",
        operation=Operation.DISCONNECTED,
        resource=add_node_prefix(node_id, ""),
        content="a newer connection of this node replaced this one",
    )
    return encode_message(notice)


@dataclass(eq=False)
class _Edge:
    conn_id: int
    node_id: str
    ws: ServerConnection
    last_seen: float
    outbox: deque[str] = field(default_factory=deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    close_reason: str = ""


class EdgeServer:
    """The websocket server; ``start``/``stop``/``send`` may be called from any thread.

    Args:
        settings: where to listen and the limits.
    ``start(on_frames, on_event)``: ``on_frames`` gets a list of ``(conn_id, data)`` (every
    frame read in one turn of the loop, so the actor is told once per batch, not per frame);
    ``on_event`` gets :class:`EdgeConnected` and :class:`EdgeDisconnected`, after the frames
    read before them.
    """

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.port = settings.port
        self._on_frames: Callable[[list[tuple[int, str | bytes]]], None] = _unset
        self._on_event: Callable[[EdgeEvent], None] = _unset
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._stopping: asyncio.Event | None = None
        self._ids = itertools.count(1)
        # Loop-thread state.
        self._edges: dict[int, _Edge] = {}
        self._by_node: dict[str, _Edge] = {}
        self._admitting: weakref.WeakSet[ServerConnection] = weakref.WeakSet()
        self._received: list[tuple[int, str | bytes]] = []
        self.keepalive_count = 0

    # --- any thread -------------------------------------------------------------------------

    def start(self, on_frames: Callable[[list[tuple[int, str | bytes]]], None], on_event: Callable[[EdgeEvent], None]) -> None:
        """Listen; returns once the socket is bound.

        Raises:
            CloudHubError: cannot listen.
        """
        self._on_frames, self._on_event = on_frames, on_event
        self._thread = threading.Thread(target=self._run, name="cloudhub-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT_S):
            raise CloudHubError(f"the websocket server did not start within {_START_TIMEOUT_S:g} s")
        if self._start_error is not None:
            where = f"{self.settings.host}:{self.settings.port}"
            raise CloudHubError(f"cannot listen on {where}: {self._start_error}") from self._start_error

    def stop(self, timeout_s: float = 10.0) -> None:
        """Close every connection (1001 going away) and the listening socket."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop ended on its own
                loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(timeout_s)

    def send(self, conn_id: int, texts: Iterable[str]) -> None:
        """Queue text frames for one connection; dropped if it has gone meanwhile."""
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # stopped
                loop.call_soon_threadsafe(self._enqueue, conn_id, list(texts))

    # --- the loop thread --------------------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except Exception as exc:
            logger.exception("cloudhub: the websocket server failed")
            self._start_error = self._start_error or exc
            self._ready.set()
        finally:
            loop.close()

    async def _serve(self) -> None:
        settings = self.settings
        self._stopping = asyncio.Event()
        try:
            server: Server = await serve(
                self._handle,
                settings.host,
                settings.port,
                ssl=settings.ssl_context,
                process_request=self._admit,
                ping_interval=None,  # the original cloud never pings; edges send keepalives (docs/protocol.md#3.6)
                compression=None,
                max_size=MAX_FRAME_BYTES,
                max_queue=_MAX_QUEUED_FRAMES,
                close_timeout=_CLOSE_TIMEOUT_S,
                server_header=None,
                logger=_websockets_logger,
            )
        except OSError as exc:
            self._start_error = exc
            self._ready.set()
            return
        self.port = next(iter(server.sockets)).getsockname()[1]
        self._ready.set()
        sweeper = asyncio.create_task(self._sweep_silent_edges())
        await self._stopping.wait()
        sweeper.cancel()
        server.close(close_connections=True)
        await server.wait_closed()

    def _admit(self, connection: ServerConnection, request: Request) -> Response | None:
        ids = parse_events_path(request.path)
        if ids is None:
            return connection.respond(HTTPStatus.NOT_FOUND, "the path must be /<project-id>/<node-id>/events\n")
        _project, node_id = ids
        if self.settings.ssl_context is not None:
            ssl_object = connection.transport.get_extra_info("ssl_object")
            peer = ssl_object.getpeercert() if ssl_object is not None else None
            refusal = identity_refusal(node_id, request.headers.get("node_id"), certificate_common_name(peer))
            if refusal is not None:
                logger.warning("cloudhub: refused node %s from %s: %s", node_id, _address(connection), refusal)
                return connection.respond(HTTPStatus.FORBIDDEN, f"refused: {refusal}\n")
        admitted = len(self._edges) + len(self._admitting)
        if node_id not in self._by_node and admitted >= self.settings.node_limit:
            logger.warning("cloudhub: refused node %s: %d edges connected (cloudhub.node-limit)", node_id, admitted)
            return connection.respond(HTTPStatus.TOO_MANY_REQUESTS, "too many Nodes connected\n")
        self._admitting.add(connection)
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        self._admitting.discard(ws)
        ids = parse_events_path(ws.request.path if ws.request else "")
        assert ids is not None  # _admit let only these through
        project_id, node_id = ids
        loop = asyncio.get_running_loop()
        edge = _Edge(next(self._ids), node_id, ws, loop.time())
        previous = self._by_node.get(node_id)
        self._edges[edge.conn_id] = edge
        self._by_node[node_id] = edge
        if previous is not None:
            previous.close_reason = "replaced by a newer connection of the same node"
            previous.outbox.append(replaced_notice(node_id))
            previous.outbox.append("")  # the writer closes after the notice
            previous.wakeup.set()
        self._emit(EdgeConnected(edge.conn_id, node_id, project_id, _address(ws)))
        writer = asyncio.create_task(self._write_loop(edge))
        try:
            async for data in ws:
                edge.last_seen = loop.time()
                if is_keepalive(data):
                    self.keepalive_count += 1
                    continue
                if not self._received:
                    loop.call_soon(self._hand_over_received)
                self._received.append((edge.conn_id, data))
        except ConnectionClosed:
            pass
        finally:
            writer.cancel()
            self._edges.pop(edge.conn_id, None)
            if self._by_node.get(node_id) is edge:
                del self._by_node[node_id]
            self._emit(EdgeDisconnected(edge.conn_id, node_id, edge.close_reason or _close_description(ws)))

    def _hand_over_received(self) -> None:
        if self._received:
            batch, self._received = self._received, []
            self._on_frames(batch)

    def _emit(self, event: EdgeEvent) -> None:
        self._hand_over_received()  # frames read before the event go first
        self._on_event(event)

    def _enqueue(self, conn_id: int, texts: list[str]) -> None:
        edge = self._edges.get(conn_id)
        if edge is None:
            logger.debug("cloudhub: connection %d is gone; %d frames dropped", conn_id, len(texts))
            return
        edge.outbox.extend(texts)
        edge.wakeup.set()

    async def _write_loop(self, edge: _Edge) -> None:
        while True:
            await edge.wakeup.wait()
            edge.wakeup.clear()
            while edge.outbox:
                text = edge.outbox.popleft()
                if not text:  # the replaced marker
                    await edge.ws.close(CLOSE_REPLACED, "replaced by a newer connection")
                    return
                try:
                    async with asyncio.timeout(self.settings.write_timeout_s):
                        await edge.ws.send(text)
                except TimeoutError:
                    edge.close_reason = f"a write took longer than cloudhub.write-timeout ({self.settings.write_timeout_s:g} s)"
                    await edge.ws.close(CLOSE_WRITE_TIMEOUT, "write timeout")
                    return
                except ConnectionClosed:
                    return

    async def _sweep_silent_edges(self) -> None:
        keepalive_s = self.settings.keepalive_s
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(1.0, keepalive_s / 4))
            deadline = loop.time() - keepalive_s
            for edge in list(self._edges.values()):
                if edge.last_seen < deadline and not edge.close_reason:
                    edge.close_reason = f"nothing received for cloudhub.keepalive-interval ({keepalive_s:g} s)"
                    asyncio.create_task(edge.ws.close(CLOSE_KEEPALIVE, "keepalive timeout"))  # noqa: RUF006 - ends with the connection

    @property
    def connection_count(self) -> int:
        return len(self._edges)


def _address(ws: ServerConnection) -> str:
    address = ws.remote_address
    return f"{address[0]}:{address[1]}" if isinstance(address, tuple) and len(address) >= 2 else str(address)


def _close_description(ws: ServerConnection) -> str:
    code = ws.close_code
    if code is None or code == 1006:
        return "the connection dropped without a close frame"
    return f"the edge closed the connection (code {code}{', ' + ws.close_reason if ws.close_reason else ''})"


def _unset(*_args: object) -> None:
    raise CloudHubError("EdgeServer.start() was not called")


__all__ = [
    "CLOSE_KEEPALIVE",
    "CLOSE_REPLACED",
    "CloudHubError",
    "EdgeConnected",
    "EdgeDisconnected",
    "EdgeEvent",
    "EdgeServer",
    "ServerSettings",
    "certificate_common_name",
    "identity_refusal",
    "is_keepalive",
    "parse_events_path",
    "replaced_notice",
    "server_ssl_context",
]
