"""Logs and exec of edge pods, on the cloud's side of the link (docs/protocol.md#9.5), module ``cloudstreams``.

The reusable piece is small: a thread that serves a user (the control API's HTTP thread, later
kubectl's log endpoint) calls :func:`stream_desk` ``(router).open(StreamSpec(...))`` and reads the
:class:`StreamReader` it gets::

    reader = stream_desk(router).open(StreamSpec(node, namespace, pod, StreamKind.LOGS, follow=True))
    first = reader.next(START_TIMEOUT_S + 5)     # StreamOpened, or StreamFailed / StreamEnded(error)
    while (event := reader.next(1.0)) ...:       # StreamData: write it, then reader.delivered(event.seq)
    reader.close()                               # always: tells the edge to stop if it has not ended

:class:`StreamsActor` owns every stream's state on its own thread: it sends ``stream_open`` to
the node, fails a stream at once when the node is not connected, or when the edge has not
answered within :data:`START_TIMEOUT_S` (an edge without the feature, such as KubeEdge v1.0,
says nothing), or when the node goes away; it passes the edge's chunks to the reader and the
reader's ``delivered`` back as ``stream_ack``. Each reader's queue holds the window and no more:
the edge never has more than :data:`WINDOW` chunks unacknowledged, and a chunk is acknowledged
only once the reader has taken it, so a slow reader slows the edge and nothing grows.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import queue
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from actors.protocol import CloudGroup, Operation, StreamKind, StreamOperation, add_node_prefix, stream_id_of
from kubeedge_actors import Config, Message, ModuleActor, Router, handles
from kubeedge_actors.errors import KubeEdgeActorsError, MessageRejected, ResourceError
from kubeedge_actors.message import JsonObject
from kubeedge_cloud.errors import StreamBrokenError
from kubeedge_cloud.keys import CLOUD_KEYS
from kubeedge_cloud.names import CLOUDHUB_MODULE, CONTROLLER_GROUP, STREAMS_MODULE

logger = logging.getLogger(__name__)

#: How long the edge has to answer ``stream_open`` before the stream fails (bounded wait).
START_TIMEOUT_S = 10.0
#: Chunks the edge may have unacknowledged per stream, and their size, as the cloud asks.
WINDOW = 8
CHUNK_BYTES = 16 * 1024


class StreamUnavailableError(KubeEdgeActorsError):
    """The cloud hub's stream module is not running."""


@dataclass(frozen=True)
class StreamSpec:
    """What a user asked for: the logs of a pod's container, or a command run in it."""

    node: str
    namespace: str
    pod: str
    kind: StreamKind
    container: str = ""
    follow: bool = False
    tail: int = -1  # lines from the end; -1: all
    since_s: int = 0  # only lines of the last seconds; 0: all
    command: tuple[str, ...] = ()

    def content(self, stream: str) -> JsonObject:
        content: JsonObject = {
            "stream": stream,
            "container": self.container,
            "follow": self.follow,
            "tail": self.tail,
            "since": self.since_s,
            "window": WINDOW,
            "chunk": CHUNK_BYTES,
        }
        if self.kind == StreamKind.EXEC:
            content["command"] = list(self.command)
        return content


# --- what a reader gets, in order ----------------------------------------------------------------


@dataclass(frozen=True)
class StreamOpened:
    container: str


@dataclass(frozen=True)
class StreamData:
    seq: int
    channel: str  # stdout | stderr
    data: bytes


@dataclass(frozen=True)
class StreamEnded:
    """The edge ended the stream: ``error`` None is a normal end (``exit_code`` for exec)."""

    exit_code: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class StreamFailed:
    """The cloud ended the stream: ``status`` is the HTTP status that fits the reason."""

    status: int
    error: str


StreamEvent = StreamOpened | StreamData | StreamEnded | StreamFailed


class StreamReader:
    """One stream, as the thread that serves it sees it (any thread but the actor's)."""

    def __init__(self, stream: str, spec: StreamSpec, tell: Callable[[object], None]) -> None:
        self.stream = stream
        self.spec = spec
        self._tell = tell
        # The window, its opening and its end: the edge never sends more (the actor fails a stream that does).
        self._events: queue.Queue[StreamEvent] = queue.Queue(maxsize=WINDOW + 2)
        self._closed = threading.Event()

    def next(self, timeout_s: float) -> StreamEvent | None:
        """The next event, or None when nothing came within ``timeout_s``."""
        try:
            return self._events.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def delivered(self, seq: int) -> None:
        """Chunk ``seq`` (and every one before it) reached the user: the edge may send more."""
        self._tell(_Delivered(self.stream, seq))

    def close(self) -> None:
        """The user is done (or gone): the edge stops, if it has not ended the stream already."""
        if not self._closed.is_set():
            self._closed.set()
            self._tell(_Close(self.stream))

    # --- the actor's side -------------------------------------------------------------------

    def offer(self, event: StreamEvent) -> bool:
        try:
            self._events.put_nowait(event)
        except queue.Full:
            return False
        return True


class StreamDesk:
    """Where serving threads open streams: one per router, attached to the running :class:`StreamsActor`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tell: Callable[[object], None] | None = None

    def attach(self, tell: Callable[[object], None] | None) -> None:
        with self._lock:
            self._tell = tell

    def open(self, spec: StreamSpec) -> StreamReader:
        """Start a stream; its first event says whether it opened.

        Raises:
            StreamUnavailableError: the stream module is not running.
        """
        with self._lock:
            tell = self._tell
        if tell is None:
            raise StreamUnavailableError(f"{STREAMS_MODULE} is not running")
        reader = StreamReader(uuid.uuid4().hex, spec, tell)
        tell(_Open(reader))
        return reader


def stream_desk(router: Router) -> StreamDesk:
    """The :class:`StreamDesk` of the cloud hub whose modules share ``router`` (made on first use)."""
    return router.shared(StreamDesk)


class ReaderBody:
    """A reader as an HTTP body (:class:`~kubeedge_cloud.apiserver.StreamBody`): the raw bytes, as
        kubectl's log endpoint answers, or ``frames``: one JSON object a line, ``{"channel", "data"}``
        (base64), then ``{"exit_code"}`` or ``{"error"}``. Raw, an error after the first bytes raises
    :class:`~kubeedge_cloud.errors.StreamBrokenError`. A chunk is
        acknowledged once the server has written it, so a slow client slows the edge."""

    def __init__(self, reader: StreamReader, *, frames: bool, poll_s: float = 1.0) -> None:
        self.reader = reader
        self.frames = frames
        self.poll_s = poll_s
        self.content_type = "application/x-ndjson" if frames else "text/plain; charset=utf-8"

    def chunks(self) -> Iterator[bytes | None]:
        while True:
            event = self.reader.next(self.poll_s)
            if event is None:
                yield None  # idle: the server checks its client is still there
            elif isinstance(event, StreamData):
                yield self._frame({"channel": event.channel, "data": base64.b64encode(event.data).decode()}) if self.frames else event.data
                self.reader.delivered(event.seq)
            elif isinstance(event, StreamEnded | StreamFailed):
                if self.frames:
                    yield self._frame({"error": event.error} if event.error else {"exit_code": getattr(event, "exit_code", None)})
                elif event.error:
                    raise StreamBrokenError(event.error)  # raw: no frame to say it in; the server cuts the body short
                return

    def close(self) -> None:
        self.reader.close()

    @staticmethod
    def _frame(obj: JsonObject) -> bytes:
        return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


# --- the actor ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Open:
    reader: StreamReader


@dataclass(frozen=True)
class _Delivered:
    stream: str
    seq: int


@dataclass(frozen=True)
class _Close:
    stream: str


@dataclass(frozen=True)
class _StartTimedOut:
    stream: str


@dataclass
class _Stream:
    reader: StreamReader
    resource: str  # node/<node>/<ns>/<kind>/<pod>
    opened: bool = False
    acked: int = 0
    timer: Any = field(default=None, repr=False)


class StreamsActor(ModuleActor):
    """Log and exec streams between the control API's readers and the edges (docs/protocol.md#9.5).

    Consumes:
        ``connected`` / ``disconnected`` on ``node/<id>`` from ``cloudhub`` (group ``controller``);
        ``stream_opened``, ``stream_data``, ``stream_end`` from edges (``cloudhub`` sends them here);
        readers' opens, deliveries and closes (:class:`StreamDesk`).
    Produces:
        to ``cloudhub``: ``stream_open``, ``stream_ack``, ``stream_close`` on
        ``node/<id>/<ns>/podlogs|podexec/<pod>`` (source ``cloudstreams``, group ``resource``).
    """

    module_name = STREAMS_MODULE
    module_group = CONTROLLER_GROUP  # the connection events go to this group (docs/protocol.md#9.3)
    module_config_keys = CLOUD_KEYS

    def __init__(
        self,
        router: Router,
        config: Config | None = None,
        *,
        name: str | None = None,
        group: str | None = None,
        start_timeout_s: float = START_TIMEOUT_S,
    ) -> None:
        super().__init__(router, config, name=name, group=group)
        self.start_timeout_s = start_timeout_s
        self._desk = stream_desk(router)
        self._nodes: set[str] = set()
        self._streams: dict[str, _Stream] = {}
        self.streams_opened = 0

    def on_start(self) -> None:
        self._desk.attach(self.module_tell_self)

    def on_stop(self) -> None:
        self._desk.attach(None)
        for stream in list(self._streams):
            self._fail(stream, HTTPStatus.SERVICE_UNAVAILABLE, "the cloud hub is stopping", tell_edge=True)
        super().on_stop()

    def module_metrics(self) -> dict[str, float]:
        return {"streams_open": float(len(self._streams)), "streams_opened_total": float(self.streams_opened)}

    # --- readers ----------------------------------------------------------------------------

    @handles(_Open)
    def _on_open(self, event: _Open) -> None:
        reader, spec = event.reader, event.reader.spec
        if spec.node not in self._nodes:
            reader.offer(StreamFailed(HTTPStatus.SERVICE_UNAVAILABLE, f"node {spec.node} is not connected: cannot reach pod {spec.pod}"))
            return
        try:
            resource = add_node_prefix(spec.node, f"{spec.namespace}/{spec.kind}/{spec.pod}")
        except ResourceError as exc:
            reader.offer(StreamFailed(HTTPStatus.BAD_REQUEST, str(exc)))
            return
        state = _Stream(reader, resource)
        state.timer = self.module_tell_later(self.start_timeout_s, _StartTimedOut(reader.stream))
        self._streams[reader.stream] = state
        self.streams_opened += 1
        self._to_edge(state, StreamOperation.OPEN, spec.content(reader.stream))
        logger.info("cloudstreams: %s of %s/%s on node %s (stream %s)", spec.kind, spec.namespace, spec.pod, spec.node, reader.stream)

    @handles(_Delivered)
    def _on_delivered(self, event: _Delivered) -> None:
        state = self._streams.get(event.stream)
        if state is not None and event.seq > state.acked:
            state.acked = event.seq
            self._to_edge(state, StreamOperation.ACK, {"stream": event.stream, "seq": event.seq})

    @handles(_Close)
    def _on_close(self, event: _Close) -> None:
        state = self._streams.pop(event.stream, None)
        if state is not None:
            self._cancel_timer(state)
            self._to_edge(state, StreamOperation.CLOSE, {"stream": event.stream})
            logger.info("cloudstreams: stream %s closed by its reader", event.stream)

    @handles(_StartTimedOut)
    def _on_start_timed_out(self, event: _StartTimedOut) -> None:
        state = self._streams.get(event.stream)
        if state is None or state.opened:
            return
        spec = state.reader.spec
        self._fail(
            event.stream,
            HTTPStatus.GATEWAY_TIMEOUT,
            f"node {spec.node} did not answer the {'exec' if spec.kind == StreamKind.EXEC else 'logs'} request within"
            f" {self.start_timeout_s:g} s: its edge may not support logs and exec (a KubeEdge v1.0 edge does not)",
            tell_edge=True,
        )

    # --- edges ------------------------------------------------------------------------------

    def handle_message(self, message: Message) -> None:
        if message.operation in (Operation.CONNECTED, Operation.DISCONNECTED):
            self._connection(message)
            return
        stream = stream_id_of(message)
        state = self._streams.get(stream)
        if state is None:
            return  # closed or failed meanwhile: what the edge still had on its way
        if message.resource != state.resource:  # one node cannot write into another's stream
            raise MessageRejected(f"{message.operation} for stream {stream} came from {message.resource}, not {state.resource}")
        if message.operation == StreamOperation.OPENED:
            state.opened = True
            self._cancel_timer(state)
            self._offer(stream, state, StreamOpened(str(message.content.get("container") or "")))
        elif message.operation == StreamOperation.DATA:
            data = _chunk(message)
            if data.seq > state.acked + WINDOW:
                # Beyond the credit it was given: a broken edge; nothing is kept for it.
                self._fail(stream, HTTPStatus.BAD_GATEWAY, "the edge sent more than the window allows", tell_edge=True)
                return
            self._offer(stream, state, data)
        elif message.operation == StreamOperation.END:
            self._streams.pop(stream)
            self._cancel_timer(state)
            content = message.content
            code, error = content.get("exit_code"), content.get("error")
            state.reader.offer(StreamEnded(code if isinstance(code, int) else None, str(error) if error else None))
        else:
            raise MessageRejected(f"cloudstreams: an edge sends only opened, data and end, not {message.operation}")

    def _connection(self, message: Message) -> None:
        node = message.resource.split("/")[1] if message.resource.count("/") >= 1 else ""
        if message.operation == Operation.CONNECTED:
            self._nodes.add(node)
            return
        self._nodes.discard(node)
        for stream, state in list(self._streams.items()):
            if state.reader.spec.node == node:
                self._fail(stream, HTTPStatus.SERVICE_UNAVAILABLE, f"node {node} disconnected", tell_edge=False)

    # --- helpers ----------------------------------------------------------------------------

    def _offer(self, stream: str, state: _Stream, event: StreamEvent) -> None:
        if not state.reader.offer(event):
            # Cannot happen within the window (the queue holds it); a broken edge otherwise.
            self._fail(stream, HTTPStatus.BAD_GATEWAY, "the edge sent more than the window allows", tell_edge=True)

    def _fail(self, stream: str, status: int, error: str, *, tell_edge: bool) -> None:
        state = self._streams.pop(stream, None)
        if state is None:
            return
        self._cancel_timer(state)
        logger.info("cloudstreams: stream %s failed: %s", stream, error)
        if tell_edge:
            self._to_edge(state, StreamOperation.CLOSE, {"stream": stream})
        if not state.reader.offer(StreamFailed(status, error)):
            # A full queue: the reader is behind; it must still learn the end, so make room.
            state.reader.next(0)
            state.reader.offer(StreamFailed(status, error))

    def _cancel_timer(self, state: _Stream) -> None:
        if state.timer is not None:
            state.timer.cancel()
            state.timer = None

    def _to_edge(self, state: _Stream, operation: StreamOperation, content: JsonObject) -> None:
        message = Message.new(
            source=STREAMS_MODULE, group=CloudGroup.RESOURCE, operation=operation, resource=state.resource, content=content
        )
        self.module_router.send(CLOUDHUB_MODULE, message)


def _chunk(message: Message) -> StreamData:
    content = message.content
    seq, channel, data = content.get("seq"), content.get("channel"), content.get("data")
    if isinstance(seq, bool) or not isinstance(seq, int) or channel not in ("stdout", "stderr") or not isinstance(data, str):
        raise MessageRejected(f"stream_data {message.id}: needs an integer 'seq', 'channel' stdout|stderr and base64 'data'")
    try:
        return StreamData(seq, channel, base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise MessageRejected(f"stream_data {message.id}: 'data' is not base64: {exc}") from exc


__all__ = [
    "CHUNK_BYTES",
    "START_TIMEOUT_S",
    "WINDOW",
    "ReaderBody",
    "StreamData",
    "StreamDesk",
    "StreamEnded",
    "StreamEvent",
    "StreamFailed",
    "StreamOpened",
    "StreamReader",
    "StreamSpec",
    "StreamUnavailableError",
    "StreamsActor",
    "stream_desk",
]
