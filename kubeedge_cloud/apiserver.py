"""The control API's HTTP server (http.server on its own threads): JSON in, JSON out.

Every request is authenticated as the Kubernetes API server's are (``kubeedge_cloud/auth.py``):
over TLS a client certificate of the project's CA in group ``system:masters``, or a bearer token
from the token file; without TLS (a cloud hub serving plain ``ws://``) bearer tokens only. No
credentials: 401; an edge's certificate: 403.

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
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from kubeedge_actors.message import Json, JsonObject
from kubeedge_cloud.auth import ADMIN_GROUP, User, user_of
from kubeedge_cloud.errors import ApiRequestError, ApiServerError, StreamBrokenError

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
    """Serves the control API on ``address:port`` (port 0: any free port, see :attr:`port`).

    ``tls``: the server's context (it asks for a client certificate, see
    :func:`~kubeedge_cloud.auth.client_verifying_context`); None: plain HTTP. ``tokens``: the
    bearer tokens it takes, by token.
    """

    def __init__(
        self,
        address: str,
        port: int,
        answer: Callable[[ApiRequest], ApiAnswer],
        *,
        tls: ssl.SSLContext | None = None,
        tokens: dict[str, User] | None = None,
    ) -> None:
        self.address = address
        self.port = port
        self.tls = tls
        self.tokens = dict(tokens or {})
        self._answer = answer
        self._server: _Server | None = None
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
            self._server = _Server((self.address, self.port), Handler, self.tls, self.tokens)
        except OSError as exc:
            raise ApiServerError(f"the control API cannot listen on {self.address}:{self.port}: {exc.strerror or exc}") from exc
        self.port = self._server.server_address[1]
        server = self._server
        # A short poll interval: stop() waits for the serving loop to notice.
        self._thread = threading.Thread(target=lambda: server.serve_forever(poll_interval=0.1), name="cloudapi-http", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        scheme = "http" if self.tls is None else "https"
        return f"{scheme}://{self.address}:{self.port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], tls: ssl.SSLContext | None, tokens: dict[str, User]
    ) -> None:
        super().__init__(address, handler)
        self.tls = tls
        self.tokens = tokens

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        # On the connection's own thread: the handshake of one client delays no other.
        try:
            connection = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            logger.info("cloudapi: TLS handshake with %s failed: %s", client_address[0], exc)
            return
        try:
            super().finish_request(connection, client_address)
        finally:
            connection.close()


class _Handler(BaseHTTPRequestHandler):
    answer: Callable[[ApiRequest], ApiAnswer]
    server_version = "kubeedge-actors-cloudhub"
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        url = urlsplit(self.path)
        query = {name: values[-1] for name, values in parse_qs(url.query).items()}
        refused = self._refusal()
        if refused is not None:
            self.close_connection = True  # its body is never read
            self._reply(refused)
            return
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

    def _refusal(self) -> ApiAnswer | None:
        """401 without credentials, 403 for a user who is not an admin (an edge's certificate)."""
        user = user_of(self.connection, self.headers.get("Authorization", ""), self.server.tokens)
        if user is None:
            how = "a client certificate of the project's CA or a bearer token" if self.server.tls else "a bearer token (kube.token-file)"
            return ApiAnswer(HTTPStatus.UNAUTHORIZED, {"error": f"unauthorized: the control API needs {how}"})
        if not user.admin:
            return ApiAnswer(HTTPStatus.FORBIDDEN, {"error": f"forbidden: user {user.name!r} is not in group {ADMIN_GROUP}"})
        return None

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
        except OSError:  # the client went away mid-write (Ctrl-C)
            logger.debug("cloudapi: a stream's client went away")
        except StreamBrokenError as exc:  # the body ends with the connection, as every one here does
            logger.info("cloudapi: a raw stream broke off: %s", exc)
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
