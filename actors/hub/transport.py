"""The websocket to the cloud (websocket-client): one connection generation at a time.

::

    WebsocketDialer.dial(g) ─► handshake (TLS, node_id/project_id headers) ─► CloudConnection g
    CloudConnection g: one I/O thread, started by start(), owns the socket until it dies:
        ├─ frames read ───────────────────► on_frames(g, [data, ...])  (text or binary; what
        │                                    was available, so one hand-over per batch)
        ├─ writes what send_many() queued, in order, as text frames (a FrameWriter)
        │    └─ send_many(report=True) ───► on_written(g, n) once the first n queued frames,
        │                                    those included, are written to the socket
        ├─ a keepalive every heartbeat (docs/protocol.md#3.6)
        └─ any I/O error ─────────────────► on_lost(g, reason) and the thread ends;
                                             take_unsent() then gives back what was not written
    close() ─► queued frames written, a close frame (1000), the thread ends; no on_lost.

One thread does all of a connection's socket I/O: an OpenSSL connection must not be read and
written from two threads at once, and one thread is one place where a generation dies.
"""

from __future__ import annotations

import contextlib
import logging
import select
import selectors
import socket
import ssl
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import websocket

from actors.hub.frames import BatchedFrameWriter, FrameWriter, FrameWriterFactory
from actors.protocol import CloudGroup, Module, Operation, ResourceType
from kubeedge_actors.config import Config
from kubeedge_actors.errors import KubeEdgeActorsError
from kubeedge_actors.message import Message, encode_message

logger = logging.getLogger(__name__)

FrameCallback = Callable[[int, "list[str | bytes]"], None]
LostCallback = Callable[[int, str], None]
#: ``(generation, n)``: the first ``n`` frames queued on that generation are written.
WrittenCallback = Callable[[int, int], None]

_WRITE_BATCH = 256  # frames joined into one socket write
_READ_BATCH = 256  # frames read before they are handed over
#: How long close() waits for the cloud's close frame: a cloud that never answers must not use up
#: much of a stop's few seconds (a SIGTERM'd edge exits within two).
_CLOSE_WAIT_S = 1.0
_CERTS_HINT = " (`python -m kubeedge_cloud certs` writes a CA and certificates for development)"


class CloudClosedError(KubeEdgeActorsError):
    """The cloud closed the connection with a close frame (its code and reason in the message)."""


class CloudLinkError(KubeEdgeActorsError):
    """The cloud could not be reached, or refused the connection; the text says why."""


@dataclass(frozen=True)
class LinkSettings:
    """What a dial needs, read once from the ``edgehub.*`` keys."""

    url: str
    node_id: str
    project_id: str
    certfile: Path | None
    keyfile: Path | None
    cafile: Path | None
    handshake_timeout_s: float
    write_deadline_s: float
    heartbeat_s: float

    @classmethod
    def from_config(cls, config: Config) -> LinkSettings:
        def optional_path(key: str) -> Path | None:
            return config.path(key) if config[key] else None

        return cls(
            url=config["edgehub.websocket.url"],
            node_id=config["edgehub.controller.node-id"],
            project_id=config["edgehub.controller.project-id"],
            certfile=optional_path("edgehub.websocket.certfile"),
            keyfile=optional_path("edgehub.websocket.keyfile"),
            cafile=optional_path("edgehub.websocket.cafile"),
            handshake_timeout_s=config["edgehub.websocket.handshake-timeout"],
            write_deadline_s=config["edgehub.websocket.write-deadline"],
            heartbeat_s=config["edgehub.controller.heartbeat"],
        )

    @property
    def is_tls(self) -> bool:
        return self.url.startswith("wss://")


def keepalive_text() -> str:
    """The heartbeat of docs/protocol.md#3.6, with a fresh id and timestamp."""
    keepalive = Message.new(
        source=Module.HUB, group=CloudGroup.RESOURCE, operation=Operation.KEEPALIVE, resource=ResourceType.NODE, content="ping"
    )
    return encode_message(keepalive)


def client_ssl_context(settings: LinkSettings) -> ssl.SSLContext:
    """TLS ≥ 1.2, the client certificate, and the cloud verified against the CA when one is set.

    Raises:
        CloudLinkError: a certificate, key or CA file cannot be loaded.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if settings.cafile is not None:
        try:
            context.load_verify_locations(cafile=str(settings.cafile))
        except (OSError, ssl.SSLError) as exc:
            raise CloudLinkError(f"cannot load the CA file {settings.cafile} (edgehub.websocket.cafile): {exc}{_CERTS_HINT}") from exc
    else:
        # docs/protocol.md#3.2: the original never verifies the cloud; a config without a CA means the same.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if settings.certfile is not None:
        try:
            context.load_cert_chain(str(settings.certfile), str(settings.keyfile) if settings.keyfile else None)
        except (OSError, ssl.SSLError) as exc:
            files = f"{settings.certfile} / key {settings.keyfile}"
            raise CloudLinkError(f"cannot load the client certificate {files}: {exc}{_CERTS_HINT}") from exc
    return context


class CloudLink(Protocol):
    """One connection generation, as the hub actor sees it."""

    generation: int

    def start(self) -> None: ...

    def send_many(self, texts: Collection[str], *, report: bool = False) -> None:
        """Queue text frames, written in order. ``report``: call ``on_written`` once these
        and every frame queued before them are written."""

    def close(self, wait_s: float = _CLOSE_WAIT_S) -> bool:
        """Write what is queued, close, wait up to ``wait_s``; True when the link's thread has
        ended, so that :meth:`take_unsent` tells exactly what was never written."""

    def take_unsent(self) -> list[str]: ...


class CloudDialer(Protocol):
    """Opens connection generations to one cloud URL."""

    url: str

    def dial(self, generation: int, on_frames: FrameCallback, on_lost: LostCallback, on_written: WrittenCallback) -> CloudLink: ...


class WebsocketDialer:
    """Dials the cloud with websocket-client; blocking, so call it from a worker thread.

    Args:
        settings: the ``edgehub.*`` keys.
        frame_writer: how connections write their frames (:class:`BatchedFrameWriter`;
            ``benchmarks/link.py`` runs :class:`PublicFrameWriter` beside it).
    """

    def __init__(self, settings: LinkSettings, frame_writer: FrameWriterFactory = BatchedFrameWriter) -> None:
        self.settings = settings
        self.url = settings.url
        self._frame_writer = frame_writer

    def dial(self, generation: int, on_frames: FrameCallback, on_lost: LostCallback, on_written: WrittenCallback) -> CloudConnection:
        """Connect and handshake; the returned connection does no I/O until ``start()``.

        Raises:
            CloudLinkError: TLS files, network, TLS or HTTP handshake failed.
        """
        settings = self.settings
        sslopt: dict[str, Any] = {"context": client_ssl_context(settings)} if settings.is_tls else {}
        # skip_utf8_validation: websocket-client's pure-Python UTF-8 check costs ~6x (ENVIRONMENT.md).
        ws = websocket.WebSocket(sslopt=sslopt, skip_utf8_validation=True, enable_multithread=False)
        headers = [f"node_id: {settings.node_id}", f"project_id: {settings.project_id}"]
        try:
            # No Origin header: the original cloud's upgrader accepts a missing one (docs/protocol.md#9.2).
            ws.connect(settings.url, header=headers, timeout=settings.handshake_timeout_s, suppress_origin=True)  # type: ignore[no-untyped-call]
        except websocket.WebSocketBadStatusException as exc:
            body = (exc.resp_body or b"").decode("utf-8", "replace").strip()[:200]
            raise CloudLinkError(f"the cloud refused the connection: HTTP {exc.status_code} {body}".rstrip()) from exc
        except (OSError, websocket.WebSocketException) as exc:
            raise CloudLinkError(f"{type(exc).__name__}: {exc}") from exc
        ws.settimeout(settings.write_deadline_s)  # bounds every write (docs/protocol.md#3.3 write deadline)
        callbacks = LinkCallbacks(on_frames, on_lost, on_written)
        return CloudConnection(ws, generation, settings.heartbeat_s, callbacks, self._frame_writer(ws))


@dataclass(frozen=True, slots=True)
class LinkCallbacks:
    """What a connection's I/O thread hands over (each converts and tells the hub actor)."""

    on_frames: FrameCallback
    on_lost: LostCallback
    on_written: WrittenCallback


class CloudConnection:
    """One open websocket and the thread that does all its I/O (see the module docstring)."""

    def __init__(self, ws: websocket.WebSocket, generation: int, heartbeat_s: float, callbacks: LinkCallbacks, writer: FrameWriter) -> None:
        if ws.sock is None:
            raise CloudLinkError("the websocket has no socket: it is not connected")
        self.generation = generation
        self._ws = ws
        self._sock: socket.socket = ws.sock
        self._heartbeat_s = heartbeat_s
        self._on_frames = callbacks.on_frames
        self._on_lost = callbacks.on_lost
        self._on_written = callbacks.on_written
        self._writer = writer
        self._outbox: deque[str] = deque()
        self._in_flight: list[str] = []
        self._queued = 0  # frames send_many() queued (the caller's count)
        self._report_at = 0  # on_written once this many are written (set by the caller)
        self._written = 0  # queued frames written (the I/O thread's count)
        self._reported = 0
        self._closing = False
        self._wake_pending = False
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        self._thread = threading.Thread(target=self._run, name=f"hub-link-{generation}", daemon=True)

    # --- any thread -------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def send_many(self, texts: Collection[str], *, report: bool = False) -> None:
        """Queue text frames; written in order by the I/O thread. ``report``: ``on_written``
        once these, and every frame queued before them, are written."""
        self._queued += len(texts)
        if report:
            self._report_at = self._queued  # before the frames are queued: the thread cannot miss it
        self._outbox.extend(texts)
        self._wake()

    def close(self, wait_s: float = _CLOSE_WAIT_S) -> bool:
        """Write what is queued, send a close frame and end the thread (waits up to ``wait_s``).

        Returns:
            True when the thread has ended (or never started): :meth:`take_unsent` is then exact.
        """
        self._closing = True
        self._wake()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(wait_s)
        elif not self._thread.is_alive() and self._thread.ident is None:
            self._shutdown()  # never started
        return not self._thread.is_alive()

    def take_unsent(self) -> list[str]:
        """After ``on_lost``: the frames this connection never wrote, in order (and forgets them).

        A batch whose write failed counts as unsent: a frame may then reach the cloud twice,
        never zero times.
        """
        unsent = self._in_flight + list(self._outbox)
        self._in_flight = []
        self._outbox.clear()
        return unsent

    def _wake(self) -> None:
        # Appending happens before this check, and the I/O thread clears the flag before it
        # drains the queue: either it sees the new frame or we see the cleared flag.
        if not self._wake_pending:
            self._wake_pending = True
            with contextlib.suppress(OSError):  # the thread is gone or already awake
                self._wake_writer.send(b"\0")

    # --- the I/O thread ---------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._serve()
        except Exception as exc:
            if not self._closing:
                self._shutdown()
                self._on_lost(self.generation, _describe(exc))
                return
        self._close_cleanly()

    def _serve(self) -> None:
        sock = self._sock
        selector = selectors.DefaultSelector()
        selector.register(sock, selectors.EVENT_READ, "cloud")
        selector.register(self._wake_reader, selectors.EVENT_READ, "wake")
        next_keepalive = time.monotonic() + self._heartbeat_s
        try:
            while not self._closing:
                self._write_queued()
                buffered = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
                timeout = 0.0 if buffered else max(0.0, next_keepalive - time.monotonic())
                readable = buffered
                for key, _ in selector.select(timeout):
                    if key.data == "wake":
                        self._drain_wake()
                    else:
                        readable = True
                if readable:
                    self._read_frames()
                if time.monotonic() >= next_keepalive:
                    self._writer.write([keepalive_text()])  # not a queued frame: never given back
                    next_keepalive = time.monotonic() + self._heartbeat_s
            self._write_queued()  # what was sent before close() still goes out
        finally:
            selector.close()

    def _drain_wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while self._wake_reader.recv(4096):
                pass
        self._wake_pending = False

    def _read_frames(self) -> None:
        """Read one frame, and more while more are already here; hand them over together."""
        frames: list[str | bytes] = []
        try:
            while len(frames) < _READ_BATCH:
                try:
                    opcode, data = self._ws.recv_data()
                except websocket.WebSocketTimeoutException:
                    break  # a frame arrives slowly; its bytes so far stay buffered in websocket-client
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else 1005
                    reason = data[2:].decode("utf-8", "replace")
                    raise CloudClosedError(f"the cloud closed the connection (code {code}{', ' + reason if reason else ''})")
                if opcode in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
                    frames.append(data)
                if not self._more_to_read():
                    break
        finally:
            if frames:
                self._on_frames(self.generation, frames)

    def _more_to_read(self) -> bool:
        sock = self._sock
        if isinstance(sock, ssl.SSLSocket) and sock.pending() > 0:
            return True
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable)

    def _write_queued(self) -> None:
        outbox = self._outbox
        while outbox:
            batch: list[str] = []
            while outbox and len(batch) < _WRITE_BATCH:
                batch.append(outbox.popleft())
            self._in_flight = batch
            self._writer.write(batch)
            self._in_flight = []
            self._written += len(batch)
            if self._written >= self._report_at > self._reported:
                self._reported = self._written
                self._on_written(self.generation, self._written)

    def _close_cleanly(self) -> None:
        try:
            self._ws.close(status=websocket.STATUS_NORMAL, timeout=_CLOSE_WAIT_S)
        except Exception as exc:  # the socket may already be gone; closing is best effort
            logger.debug("hub: closing generation %d: %s", self.generation, exc)
        self._shutdown()

    def _shutdown(self) -> None:
        self._ws.shutdown()  # type: ignore[no-untyped-call]
        self._wake_reader.close()
        self._wake_writer.close()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, CloudClosedError):
        return str(exc)
    if isinstance(exc, TimeoutError | websocket.WebSocketTimeoutException):
        return "a write to the cloud took longer than edgehub.websocket.write-deadline"
    if isinstance(exc, websocket.WebSocketConnectionClosedException):
        return "the connection was closed"
    return f"{type(exc).__name__}: {exc}"


__all__ = [
    "CloudClosedError",
    "CloudConnection",
    "CloudDialer",
    "CloudLink",
    "CloudLinkError",
    "LinkCallbacks",
    "LinkSettings",
    "WebsocketDialer",
    "client_ssl_context",
    "keepalive_text",
]
