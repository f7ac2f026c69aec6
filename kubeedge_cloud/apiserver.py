"""The control API's HTTP server (http.server on its own threads): JSON in, JSON out.

Each request is parsed on its own thread and handed to ``answer(ApiRequest) -> ApiAnswer``;
that callback must only hand over (it sends a sync message and waits for the reply). An answer
with a ``stream`` is written as it comes (logs, exec: docs/protocol.md#9.5), on the same thread,
until the stream ends or the client goes away.
"""

from __future__ import annotations

import json
import logging
import select
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from kubeedge_actors.message import Json, JsonObject
from kubeedge_cloud.errors import ApiRequestError, ApiServerError

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class ApiRequest:
    method: str
    path: str  # without the query
    query: dict[str, str]
    body: Json = None  # parsed JSON, or None


class StreamBody(Protocol):
    """A body written as it comes: ``chunks`` yields bytes to write, or None when idle (the
    server then looks whether the client is still there); ``close`` runs once, in any case."""

    content_type: str

    def chunks(self) -> Iterator[bytes | None]: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class ApiAnswer:
    status: int
    content: JsonObject = field(default_factory=dict)
    stream: StreamBody | None = None


class ApiServer:
    """Serves the control API on ``address:port`` (port 0: any free port, see :attr:`port`)."""

    def __init__(self, address: str, port: int, answer: Callable[[ApiRequest], ApiAnswer]) -> None:
        self.address = address
        self.port = port
        self._answer = answer
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind and serve.

        Raises:
            ApiServerError: the address is taken (or cannot be had).
        """
        answer = self._answer

        class Handler(_Handler):
            pass

        Handler.answer = staticmethod(answer)
        try:
            self._server = ThreadingHTTPServer((self.address, self.port), Handler)
        except OSError as exc:
            raise ApiServerError(f"the control API cannot listen on {self.address}:{self.port}: {exc.strerror or exc}") from exc
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        server = self._server
        # A short poll interval: stop() waits for the serving loop to notice.
        self._thread = threading.Thread(target=lambda: server.serve_forever(poll_interval=0.1), name="cloudapi-http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)


class _Handler(BaseHTTPRequestHandler):
    answer: Callable[[ApiRequest], ApiAnswer]
    server_version = "kubeedge-actors-cloudhub"

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        url = urlsplit(self.path)
        query = {name: values[-1] for name, values in parse_qs(url.query).items()}
        try:
            body = self._read_body()
        except ApiRequestError as exc:
            self._reply(ApiAnswer(HTTPStatus.BAD_REQUEST, {"error": str(exc)}))
            return
        try:
            answer = self.answer(ApiRequest(self.command, url.path.rstrip("/") or "/", query, body))
        except Exception as exc:  # a bug must not leave the client hanging
            logger.exception("cloudapi: %s %s failed", self.command, url.path)
            answer = ApiAnswer(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"internal error: {exc}"})
        self._reply(answer)

    def _read_body(self) -> Json:
        header = self.headers.get("Content-Length") or "0"
        try:
            length = int(header)
        except ValueError as exc:
            raise ApiRequestError(f"Content-Length {header[:32]!r} is not a length") from exc
        if length < 0:  # would read until the client closes
            raise ApiRequestError(f"Content-Length {header[:32]!r} is not a length")
        if length > MAX_BODY_BYTES:
            raise ApiRequestError(f"the request body is larger than {MAX_BODY_BYTES} bytes")
        if not length:
            return None
        raw = self.rfile.read(length)
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, ValueError) as exc:
            raise ApiRequestError(f"the request body is not JSON: {exc}") from exc

    def _reply(self, answer: ApiAnswer) -> None:
        if answer.stream is not None:
            self._stream(answer.status, answer.stream)
            return
        data = json.dumps(answer.content).encode()
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, status: int, body: StreamBody) -> None:
        """HTTP/1.0 style: no length, the body ends when the connection closes."""
        self.close_connection = True
        # Small writes one after another: without this, Nagle holds each behind the client's
        # delayed ACK of the one before (40 ms a line).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self.send_response(status)
            self.send_header("Content-Type", body.content_type)
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            self.wfile.flush()
            for chunk in body.chunks():
                if chunk is None:
                    if self._client_gone():
                        return
                    continue
                self.wfile.write(chunk)
                self.wfile.flush()
        except OSError:  # the client went away mid-write (Ctrl-C on ctl)
            logger.debug("cloudapi: a stream's client went away")
        finally:
            body.close()

    def _client_gone(self) -> bool:
        """A streaming client sends nothing: anything readable is its close."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and not self.connection.recv(1, socket.MSG_PEEK)
        except OSError:
            return True

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("cloudapi: " + format, *args)


__all__ = ["MAX_BODY_BYTES", "ApiAnswer", "ApiRequest", "ApiServer", "StreamBody"]
