"""Logs and exec for the cloud (docs/protocol.md#9.5): a thread per stream reads Docker, the actor forwards.

::

    cloud ─ stream_open ──► meta ──► edged actor ── PodStreams: pick the container, start a pump
    pump thread: Docker logs / exec (a reader thread reads ahead) ── StreamOpened, StreamChunk,
                 StreamEnded ──► edged actor
    edged actor ── stream_opened, stream_data, stream_end ──► websocket ──► cloud
    cloud ─ stream_ack / stream_close ──► meta ──► edged actor ── pump.ack / pump.close

Flow control is by credit: a pump holds ``window`` credits and spends one per chunk; the cloud
acknowledges chunks once its reader has taken them, which gives the credits back. So at most
``window`` chunks of at most ``chunk`` bytes are on their way per stream, whatever the container
prints: a slow reader slows the Docker read, nothing grows. A stream whose reader gives nothing
back for :data:`STALL_S` (the cloud or the link gone) ends. Pumps are threads of their own, not
edged's workers: a followed log lives as long as the user watches and must not take a pod sync's
worker (docs/architecture.md#3.2).
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any, Protocol

import docker
import docker.errors
import requests

from actors.edged.errors import EdgedError
from actors.edged.inventory import ContainerInventory
from actors.edged.records import PodTable
from actors.protocol import (
    STREAM_MAX_CHUNK_BYTES,
    STREAM_MAX_WINDOW,
    CloudGroup,
    Module,
    StreamKind,
    StreamOperation,
    parse_edge_resource,
    stream_id_of,
)
from kubeedge_actors.errors import ResourceError
from kubeedge_actors.message import JsonObject, Message
from kubeedge_actors.router import Router

logger = logging.getLogger(__name__)

#: A stream whose chunks nobody acknowledges for this long ends (its reader is gone).
STALL_S = 60.0
#: Streams open at once on this node; one more is refused with an error.
MAX_STREAMS = 16
DEFAULT_WINDOW = 8
DEFAULT_CHUNK_BYTES = 16 * 1024


class StreamRequestError(EdgedError):
    """A log or exec request edged cannot serve; the message says why, as the user sees it."""


@dataclass(frozen=True)
class StreamRequest:
    """One ``stream_open`` (docs/protocol.md#9.5), checked."""

    stream: str
    kind: StreamKind
    resource: str  # <ns>/podlogs/<pod> or <ns>/podexec/<pod>: every answer carries it
    namespace: str
    pod: str
    container: str
    follow: bool
    tail: int  # -1: all
    since_s: int  # 0: from the start
    command: tuple[str, ...]
    window: int
    chunk: int


def parse_request(message: Message) -> StreamRequest:
    """The request of a ``stream_open``.

    Raises:
        StreamRequestError: a bad resource or content, named.
    """
    stream = stream_id_of(message)
    try:
        resource = parse_edge_resource(message.resource)
    except ResourceError as exc:
        raise StreamRequestError(str(exc)) from exc
    if resource.type not in tuple(StreamKind) or not resource.name:
        raise StreamRequestError(f"bad resource {message.resource!r}: expected <ns>/podlogs/<pod> or <ns>/podexec/<pod>")
    content: JsonObject = message.content  # stream_id_of checked it is an object
    kind = StreamKind(resource.type)
    command = content.get("command") or []
    if kind == StreamKind.EXEC and (not isinstance(command, list) or not command or not all(isinstance(c, str) for c in command)):
        raise StreamRequestError("exec needs 'command': a non-empty list of strings")
    return StreamRequest(
        stream=stream,
        kind=kind,
        resource=message.resource,
        namespace=resource.namespace,
        pod=resource.name,
        container=_text(content, "container"),
        follow=bool(content.get("follow")),
        tail=_integer(content, "tail", -1),
        since_s=max(0, _integer(content, "since", 0)),
        command=tuple(command) if kind == StreamKind.EXEC else (),
        window=min(max(1, _integer(content, "window", DEFAULT_WINDOW)), STREAM_MAX_WINDOW),
        chunk=min(max(1024, _integer(content, "chunk", DEFAULT_CHUNK_BYTES)), STREAM_MAX_CHUNK_BYTES),
    )


def _text(content: JsonObject, key: str) -> str:
    value = content.get(key) or ""
    if not isinstance(value, str):
        raise StreamRequestError(f"'{key}' must be a string, not {value!r}")
    return value


def _integer(content: JsonObject, key: str, default: int) -> int:
    value = content.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise StreamRequestError(f"'{key}' must be an integer, not {value!r}")
    return value


# --- what a pump tells the actor ---------------------------------------------------------------


@dataclass(frozen=True)
class StreamOpened:
    stream: str
    container: str


@dataclass(frozen=True)
class StreamChunk:
    stream: str
    seq: int
    channel: str  # stdout | stderr
    data: bytes


@dataclass(frozen=True)
class StreamEnded:
    stream: str
    exit_code: int | None = None
    error: str | None = None


StreamEvent = StreamOpened | StreamChunk | StreamEnded


# --- the Docker side ---------------------------------------------------------------------------


class StreamSource(Protocol):
    """An open Docker stream: ``(channel, bytes)`` frames, then the exit code (exec)."""

    def frames(self) -> Iterator[tuple[str, bytes]]: ...
    def exit_code(self) -> int | None: ...
    def close(self) -> None: ...


class StreamOpener(Protocol):
    def logs(self, container_id: str, *, follow: bool, tail: int, since_s: int) -> StreamSource: ...
    def exec(self, container_id: str, command: tuple[str, ...]) -> StreamSource: ...


class DockerStreams:
    """Docker logs and exec through the SDK's low-level client, one client per stream.

    A followed log holds its connection as long as the user watches: the client has no read
    timeout, and closing the stream (another thread) shuts its socket.
    """

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._version: str | None = None  # the API version the first client negotiated

    def logs(self, container_id: str, *, follow: bool, tail: int, since_s: int) -> StreamSource:
        client = self._client()
        try:
            stream = client.logs(
                container_id,
                stream=True,
                follow=follow,
                tail="all" if tail < 0 else tail,
                since=int(time.time()) - since_s if since_s else None,
            )
        except Exception as exc:
            client.close()
            raise _converted(f"logs of {container_id[:12]}", exc) from exc
        return _DockerSource(client, (("stdout", bytes(data)) for data in stream), stream.close)

    def exec(self, container_id: str, command: tuple[str, ...]) -> StreamSource:
        client = self._client()
        try:
            exec_id = client.exec_create(container_id, list(command), stdout=True, stderr=True)["Id"]
            output = client.exec_start(exec_id, stream=True, demux=True)
        except Exception as exc:
            client.close()
            raise _converted(f"exec in {container_id[:12]}", exc) from exc

        def frames() -> Iterator[tuple[str, bytes]]:
            for stdout, stderr in output:
                if stdout:
                    yield "stdout", stdout
                if stderr:
                    yield "stderr", stderr

        def exit_code() -> int | None:
            code = client.exec_inspect(exec_id).get("ExitCode")
            return code if isinstance(code, int) else None

        # The command is not killed when the reader goes: Docker has no call for it; edged stops reading.
        return _DockerSource(client, frames(), lambda: None, exit_code)

    def _client(self) -> docker.APIClient:
        try:
            # The daemon's own version, once known, spares each stream a round trip to ask it.
            client = docker.APIClient(base_url=self.base_url, timeout=None, version=self._version)
        except Exception as exc:
            raise _converted("connect", exc) from exc
        self._version = client.api_version
        return client


class _DockerSource:
    def __init__(
        self,
        client: docker.APIClient,
        frames: Iterable[tuple[str, bytes]],
        cancel: Callable[[], None],
        exit_code: Callable[[], int | None] = lambda: None,
    ) -> None:
        self._client = client
        self._frames = frames
        self._cancel = cancel
        self._exit_code = exit_code

    def frames(self) -> Iterator[tuple[str, bytes]]:
        try:
            yield from self._frames
        except Exception as exc:
            raise _converted("reading the stream", exc) from exc

    def exit_code(self) -> int | None:
        try:
            return self._exit_code()
        except Exception as exc:
            raise _converted("exit code", exc) from exc

    def close(self) -> None:
        try:
            self._cancel()
        except Exception:  # a broken stream may fail to close; it is gone either way
            logger.debug("edged: closing a docker stream failed", exc_info=True)
        self._client.close()


def _converted(what: str, exc: Exception) -> StreamRequestError:
    if isinstance(exc, docker.errors.NotFound):
        return StreamRequestError(f"{what}: the container is gone: {exc.explanation or exc}")
    if isinstance(exc, docker.errors.APIError):
        return StreamRequestError(f"{what}: {exc.explanation or exc}")
    if isinstance(exc, requests.exceptions.RequestException | docker.errors.DockerException | OSError):
        return StreamRequestError(f"{what}: Docker is not reachable: {exc}")
    if isinstance(exc, StreamRequestError):
        return exc
    return StreamRequestError(f"{what}: {exc}")


# --- one stream's thread ----------------------------------------------------------------------


class _ReadAhead:
    """Frames read from Docker ahead of credit, at most about one chunk: while the pump waits for
    credit the reader fills it, and the next chunk takes all of it at once. A container printing
    a line at a time thus goes out in chunks, not a message per line, and memory stays bounded."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._changed = threading.Condition()
        self._frames: deque[tuple[str, bytes]] = deque()
        self._bytes = 0
        self._done = False
        self._error: StreamRequestError | None = None
        self._closed = False

    def put(self, channel: str, data: bytes) -> bool:
        """The reader's: wait for room; False once closed."""
        with self._changed:
            self._changed.wait_for(lambda: self._bytes < self._limit or self._closed)
            if self._closed:
                return False
            self._frames.append((channel, data))
            self._bytes += len(data)
            self._changed.notify_all()
            return True

    def finish(self, error: StreamRequestError | None = None) -> None:
        with self._changed:
            self._done, self._error = True, error
            self._changed.notify_all()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def take(self, size: int) -> tuple[str, bytes] | None:
        """The pump's: up to ``size`` bytes of one channel, waiting for the first; None at the end.

        Raises:
            StreamRequestError: reading Docker failed.
        """
        with self._changed:
            self._changed.wait_for(lambda: self._frames or self._done or self._closed)
            if self._closed or not self._frames:
                if self._error is not None and not self._closed:
                    raise self._error
                return None
            channel, taken = self._frames[0][0], bytearray()
            while self._frames and self._frames[0][0] == channel and len(taken) < size:
                _, data = self._frames.popleft()
                room = size - len(taken)
                if len(data) > room:
                    self._frames.appendleft((channel, data[room:]))
                    data = data[:room]
                taken += data
            self._bytes -= len(taken)
            self._changed.notify_all()
            return channel, bytes(taken)


class _Pump(threading.Thread):
    """Opens the Docker stream, reads it on a second thread, and hands the actor a chunk each
    time it holds a credit."""

    def __init__(
        self, request: StreamRequest, container_id: str, opener: StreamOpener, tell: Callable[[StreamEvent], None], stall_s: float
    ) -> None:
        super().__init__(name=f"edged-stream-{request.stream[:8]}", daemon=True)
        self.request = request
        self._container_id = container_id
        self._opener = opener
        self._tell = tell
        self._stall_s = stall_s
        self._credits = threading.Semaphore(request.window)
        self._closed = threading.Event()
        self._source: StreamSource | None = None
        self._ahead = _ReadAhead(request.chunk)
        self._lock = threading.Lock()

    def ack(self, count: int) -> None:
        if count > 0:
            self._credits.release(count)

    def close(self) -> None:
        self._closed.set()
        self._ahead.close()
        self._credits.release(self.request.window)  # a pump waiting for credit sees it is closed
        with self._lock:
            source = self._source
        if source is not None:
            source.close()

    def run(self) -> None:
        request = self.request
        try:
            source = self._open()
            if source is None:
                return
            self._tell(StreamOpened(request.stream, request.container))
            reader = threading.Thread(target=self._read, args=(source,), name=f"edged-stream-read-{request.stream[:8]}", daemon=True)
            reader.start()
            if not self._pump():
                return
            reader.join()  # it finished: the frames ended
            code = source.exit_code() if request.kind == StreamKind.EXEC else None
            self._tell(StreamEnded(request.stream, exit_code=code))
        except StreamRequestError as exc:
            if not self._closed.is_set():
                self._tell(StreamEnded(request.stream, error=str(exc)))
        except Exception as exc:  # a bug must end the stream, not leave the cloud waiting
            logger.exception("edged: stream %s failed", request.stream)
            self._tell(StreamEnded(request.stream, error=f"edged: {exc}"))
        finally:
            self._ahead.close()
            with self._lock:
                source, self._source = self._source, None
            if source is not None:
                source.close()

    def _open(self) -> StreamSource | None:
        request = self.request
        if request.kind == StreamKind.EXEC:
            source = self._opener.exec(self._container_id, request.command)
        else:
            source = self._opener.logs(self._container_id, follow=request.follow, tail=request.tail, since_s=request.since_s)
        with self._lock:
            self._source = source
        if self._closed.is_set():
            return None  # closed while opening: run's finally closes it
        return source

    def _read(self, source: StreamSource) -> None:
        """The reader thread: Docker's frames into the read-ahead, as room allows."""
        try:
            for channel, data in source.frames():
                if data and not self._ahead.put(channel, data):
                    return
            self._ahead.finish()
        except StreamRequestError as exc:
            self._ahead.finish(exc)
        except Exception as exc:  # a bug must end the stream, not leave it hanging
            self._ahead.finish(StreamRequestError(f"edged: reading the stream: {exc}"))

    def _pump(self) -> bool:
        """Forward everything read, a chunk per credit; False when closed or stalled (reported)."""
        seq = 0
        while True:
            if not self._credits.acquire(timeout=self._stall_s):
                self._tell(StreamEnded(self.request.stream, error=f"edged: no chunk acknowledged for {self._stall_s:g} s"))
                return False
            taken = self._ahead.take(self.request.chunk)
            if self._closed.is_set():
                return False
            if taken is None:
                return True
            seq += 1
            self._tell(StreamChunk(self.request.stream, seq, taken[0], taken[1]))


# --- the actor's table of streams ---------------------------------------------------------------


class PodStreams:
    """The streams under way on this node, on edged's thread: the cloud's requests start and steer
    pumps, the pumps' events become messages for the cloud (docs/protocol.md#9.5)."""

    def __init__(
        self,
        router: Router,
        tell: Callable[[Any], None],
        table: PodTable,
        inventory: ContainerInventory,
        opener: StreamOpener,
        *,
        stall_s: float = STALL_S,
        max_streams: int = MAX_STREAMS,
    ) -> None:
        self._router = router
        self._tell = tell
        self._table = table
        self._inventory = inventory
        self._opener = opener
        self._stall_s = stall_s
        self._max_streams = max_streams
        self._pumps: dict[str, _Pump] = {}
        self._acked: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._pumps)

    def handle(self, message: Message) -> None:
        """A ``stream_open``, ``stream_ack`` or ``stream_close`` from the cloud."""
        stream = stream_id_of(message)
        if message.operation == StreamOperation.OPEN:
            self._open(message, stream)
        elif message.operation == StreamOperation.ACK:
            self._ack(stream, message.content.get("seq"))
        elif message.operation == StreamOperation.CLOSE:
            self._close(stream, "the cloud closed it")
        else:
            logger.warning(
                "edged: ignored %s for stream %s (%s): the cloud sends only open, ack, close", message.operation, stream, message.id
            )

    def on_event(self, event: StreamEvent) -> None:
        """A pump's event: to the cloud, if the stream is still open."""
        pump = self._pumps.get(event.stream)
        if pump is None:
            return  # closed meanwhile
        request = pump.request
        if isinstance(event, StreamOpened):
            self._send(request.resource, StreamOperation.OPENED, {"stream": event.stream, "container": event.container})
        elif isinstance(event, StreamChunk):
            data = base64.b64encode(event.data).decode("ascii")
            self._send(
                request.resource, StreamOperation.DATA, {"stream": event.stream, "seq": event.seq, "channel": event.channel, "data": data}
            )
        else:
            del self._pumps[event.stream]
            self._acked.pop(event.stream, None)
            self._send(request.resource, StreamOperation.END, {"stream": event.stream, "exit_code": event.exit_code, "error": event.error})
            logger.info(
                "edged: %s stream %s of %s ended%s", request.kind, event.stream, request.resource, f": {event.error}" if event.error else ""
            )

    def close_all(self) -> None:
        for stream in list(self._pumps):
            self._close(stream, "edged is stopping")

    def _open(self, message: Message, stream: str) -> None:
        try:
            request = parse_request(message)
            if stream in self._pumps:
                raise StreamRequestError(f"stream {stream} is open already")
            if len(self._pumps) >= self._max_streams:
                raise StreamRequestError(f"edged serves {self._max_streams} log and exec streams at once; try again later")
            container_id, name = self._container_of(request)
        except StreamRequestError as exc:
            logger.info("edged: refused stream %s on %s: %s", stream, message.resource, exc)
            self._send(message.resource, StreamOperation.END, {"stream": stream, "exit_code": None, "error": str(exc)})
            return
        pump = _Pump(replace(request, container=name), container_id, self._opener, self._tell, self._stall_s)
        self._pumps[stream] = pump
        self._acked[stream] = 0
        logger.info("edged: %s stream %s of %s, container %s", request.kind, stream, request.resource, name)
        pump.start()

    def _container_of(self, request: StreamRequest) -> tuple[str, str]:
        """The Docker id and name of the container the request means (kubectl's rules)."""
        key = f"{request.namespace}/{request.pod}"
        uid = self._table.uid_of(key)
        pod = self._table.pod(uid) if uid is not None else None
        if uid is None or pod is None:
            raise StreamRequestError(f'pod "{request.pod}" is not on this node (namespace {request.namespace})')
        names = [c.name for c in pod.containers]
        name = request.container
        if not name:
            if len(names) != 1:
                raise StreamRequestError(f"a container name must be specified for pod {request.pod}, choose one of: [{' '.join(names)}]")
            name = names[0]
        elif name not in names:
            raise StreamRequestError(f"container {name} is not valid for pod {request.pod}: choose one of: [{' '.join(names)}]")
        made = sorted((c for c in self._inventory.of_pod(uid) if c.container_name == name), key=lambda c: c.created_at)
        if not made:
            raise StreamRequestError(f'container "{name}" in pod "{request.pod}" is waiting to start')
        newest = made[-1]
        if request.kind == StreamKind.EXEC and newest.status != "running":
            raise StreamRequestError(f'container "{name}" in pod "{request.pod}" is not running ({newest.status}): cannot exec')
        return newest.id, name

    def _ack(self, stream: str, seq: Any) -> None:
        pump = self._pumps.get(stream)
        if pump is None or isinstance(seq, bool) or not isinstance(seq, int):
            return  # late, after the end; or not a number: nothing to give back
        given = seq - self._acked[stream]
        if given > 0:
            self._acked[stream] = seq
            pump.ack(given)

    def _close(self, stream: str, why: str) -> None:
        pump = self._pumps.pop(stream, None)
        self._acked.pop(stream, None)
        if pump is not None:
            logger.info("edged: stream %s closed: %s", stream, why)
            pump.close()

    def _send(self, resource: str, operation: StreamOperation, content: JsonObject) -> None:
        message = Message.new(source=Module.EDGED, group=CloudGroup.RESOURCE, operation=operation, resource=resource, content=content)
        self._router.send(Module.HUB, message)


__all__ = [
    "DockerStreams",
    "PodStreams",
    "StreamChunk",
    "StreamEnded",
    "StreamOpened",
    "StreamRequest",
    "StreamRequestError",
    "parse_request",
]
