"""The embedded Kubernetes API server: HTTPS on its own threads (http.server), every request
authenticated by a client certificate of the project's CA or a bearer token
(docs/protocol.md#12.4).

One thread per connection: TLS handshakes happen on that thread, so a slow client delays
nobody; a watch holds its thread and streams chunked WatchEvents until its timeout, its client
leaves, or the server stops.
"""

from __future__ import annotations

import contextlib
import json
import logging
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kubeedge_actors.config import Config
from kubeedge_cloud.auth import User, client_verifying_context, read_tokens, user_of
from kubeedge_cloud.errors import StreamBrokenError, TokenFileError
from kubeedge_cloud.kube import discovery, execws, protobuf
from kubeedge_cloud.kube.api import KubeApi, Selection
from kubeedge_cloud.kube.errors import KubeApiError, KubeApiServerError, bad_request
from kubeedge_cloud.kube.logs import OpenStream, log_spec, open_log, opened
from kubeedge_cloud.kube.resources import Resource, find_resource
from kubeedge_cloud.kube.store import Obj, ObjectStore, StoreClosed
from kubeedge_cloud.kube.tables import table
from kubeedge_cloud.streams import StreamData, StreamEnded, StreamFailed, StreamReader

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 8 * 1024 * 1024
#: A watch without timeoutSeconds ends after this long, as the Kubernetes API server's do (client-go re-watches).
DEFAULT_WATCH_S = 1800
#: How often a quiet watch checks that its client is still there.
_WATCH_POLL_S = 1.0
_TABLE = "as=Table"


@dataclass(frozen=True)
class KubeServerSettings:
    """Where the API server listens, its TLS files, its SQLite file and its static tokens.

    Attributes:
        token_file: Kubernetes' static token file (``token,user,uid[,"group1,group2"]`` a line), or None.
    """

    address: str
    port: int
    cert: Path
    key: Path
    ca: Path
    database: Path
    token_file: Path | None = None
    watch_window: int = 10_000

    @classmethod
    def from_config(cls, config: Config) -> KubeServerSettings:
        """The ``kube.*`` keys, with the cloud hub's TLS files (``cloudhub.ca``, ``cert``, ``key``).

        Raises:
            KubeApiServerError: a TLS key is empty (the API server never listens without TLS).
        """
        files = {key: config.optional_path(f"cloudhub.{key}") for key in ("cert", "key", "ca")}
        missing = [f"cloudhub.{key}" for key, path in files.items() if path is None]
        if missing:
            raise KubeApiServerError(f"the Kubernetes API server needs TLS: set {', '.join(missing)}")
        cert, key, ca = files["cert"], files["key"], files["ca"]
        assert cert is not None and key is not None and ca is not None
        return cls(
            address=config.text("kube.address"),
            port=config.integer("kube.port"),
            cert=cert,
            key=key,
            ca=ca,
            database=config.path("kube.database"),
            token_file=config.optional_path("kube.token-file"),
        )

    @property
    def client_url(self) -> str:
        """The URL a client on this machine dials (a wildcard address becomes 127.0.0.1)."""
        host = "127.0.0.1" if self.address in ("", "0.0.0.0", "::") else self.address
        return f"https://{host}:{self.port}"


class KubeApiServer:
    """Serves the Kubernetes API subset on ``address:port`` (port 0: a free port, see :attr:`port`)."""

    def __init__(
        self, settings: KubeServerSettings, *, open_stream: OpenStream | None = None, tokens: dict[str, User] | None = None
    ) -> None:
        """``open_stream``: how to reach an edge's pod logs (the cloud side's stream module); None: no ``/log``.
        ``tokens``: bearer tokens besides the token file's (the in-process controller's, made at each start)."""
        self.settings = settings
        self.open_stream = open_stream
        self.extra_tokens = dict(tokens or {})
        self.port = settings.port
        self.store: ObjectStore | None = None
        self.api: KubeApi | None = None
        self._server: _TlsServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"https://{self.settings.address}:{self.port}"

    def start(self) -> None:
        """Open the store and serve.

        Raises:
            KubeApiServerError: a TLS file or the token file is unusable, or the address is taken.
        """
        settings = self.settings
        try:
            context = client_verifying_context(settings.cert, settings.key, settings.ca)
        except (ssl.SSLError, OSError) as exc:
            raise KubeApiServerError(
                f"the Kubernetes API server cannot use {settings.cert}, {settings.key} or {settings.ca}: {exc}"
            ) from exc
        try:
            tokens = {**read_tokens(settings.token_file), **self.extra_tokens}
        except OSError as exc:
            raise KubeApiServerError(f"the token file cannot be read: {exc.strerror or exc}: {settings.token_file}") from exc
        except TokenFileError as exc:
            raise KubeApiServerError(str(exc)) from exc
        store = ObjectStore(settings.database, window=settings.watch_window)
        try:
            self._server = _TlsServer((settings.address, settings.port), _Handler, context, KubeApi(store), tokens)
            self._server.open_stream = self.open_stream
        except OSError as exc:
            store.close()
            raise KubeApiServerError(
                f"the Kubernetes API server cannot listen on {settings.address}:{settings.port}: {exc.strerror or exc}"
            ) from exc
        self.store, self.api = store, self._server.api
        self.port = self._server.server_address[1]
        self._server.public_url = self.url
        server = self._server
        self._thread = threading.Thread(target=lambda: server.serve_forever(poll_interval=0.1), name="kube-apiserver", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self.store is not None:
            self.store.close()  # ends the watches
            self.store = None
        if self._thread is not None:
            self._thread.join(5)


@dataclass(frozen=True)
class _Target:
    """What a request names: the resource, its namespace (None: all, or cluster-scoped), an object's name, /status."""

    resource: Resource
    namespace: str | None
    name: str
    status: bool


class _TlsServer(ThreadingHTTPServer):
    daemon_threads = True
    public_url = ""
    open_stream: OpenStream | None = None

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        context: ssl.SSLContext,
        api: KubeApi,
        tokens: dict[str, User],
    ) -> None:
        super().__init__(address, handler)
        self.context = context
        self.api = api
        self.tokens = tokens

    def finish_request(self, request: Any, client_address: Any) -> None:
        # On the connection's own thread: the handshake of one client delays no other.
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            logger.info("kube-apiserver: TLS handshake with %s failed: %s", client_address[0], exc)
            return
        make_handler: Any = self.RequestHandlerClass
        try:
            make_handler(tls, client_address, self)
        finally:
            tls.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked watches, as client-go expects
    # Headers and body are two writes: with Nagle's algorithm the body waits for the client's delayed ACK (40 ms).
    disable_nagle_algorithm = True
    server_version = "kubeedge-actors-apiserver"
    server: _TlsServer

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        url = urlsplit(self.path)
        query = {name: values[-1] for name, values in parse_qs(url.query).items()}
        try:
            user = self._user()
            if user is None:
                self.close_connection = True  # its body is never read
                raise KubeApiError(401, "Unauthorized", "Unauthorized")
            if not user.admin:
                # An edge's certificate is the CA's too: it may not use the API (its node's own rights are for later).
                self.close_connection = True
                raise KubeApiError(403, "Forbidden", f'forbidden: User "{user.name}" cannot {self.command.lower()} path "{url.path}"')
            body = self._read_body()
            self._route([p for p in url.path.split("/") if p], query, body)
        except KubeApiError as exc:
            if isinstance(exc, StoreClosed):
                self.close_connection = True  # this server is stopping: the client's next request finds the next one
            self._reply(exc.code, exc.status())
        except Exception as exc:  # a bug must not leave the client hanging
            logger.exception("kube-apiserver: %s %s failed", self.command, url.path)
            self._reply(500, KubeApiError(500, "InternalError", f"Internal error occurred: {exc}").status())

    # -- who ---------------------------------------------------------------------------------

    def _user(self) -> User | None:
        return user_of(self.connection, self.headers.get("Authorization", ""), self.server.tokens)

    # -- where -------------------------------------------------------------------------------

    def _route(self, parts: list[str], query: dict[str, str], body: Any) -> None:
        if self.command == "GET" and parts == ["openapi", "v2"]:
            self._reply_openapi_v2()
            return
        if self.command == "GET" and (found := self._discovery(parts)) is not None:
            self._reply(200, found)
            return
        if len(parts) >= 2 and parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise KubeApiError(404, "NotFound", "the server could not find the requested resource")
        namespace, plural, name, sub = _split_resource_path(rest)
        resource = find_resource(group, version, plural)
        stream = sub in ("log", "exec") and resource is not None and resource.kind == "Pod" and self.server.open_stream is not None
        binding = sub == "binding" and resource is not None and resource.kind == "Pod" and self.command == "POST"
        if resource is None or (sub and not stream and not binding and not (sub == "status" and resource.has_status)):
            raise KubeApiError(404, "NotFound", "the server could not find the requested resource")
        if resource.namespaced and name and namespace is None:
            raise KubeApiError(404, "NotFound", "the server could not find the requested resource")
        if stream and self.command == "GET" and namespace is not None:
            pod = self.server.api.get(resource, namespace, name)
            if sub == "log":
                self._log(pod, query)
            else:
                self._exec(pod, query)
            return
        if binding and namespace is not None:
            api = self.server.api.dry() if _dry_run(query, body) else self.server.api
            self._reply(201, api.bind(namespace, name, body))
            return
        self._verb(_Target(resource, namespace, name, sub == "status"), query, body)

    def _discovery(self, parts: list[str]) -> Obj | None:
        fixed = {
            "version": discovery.version,
            "api": lambda: discovery.core_versions(self.server.public_url.removeprefix("https://")),
            "apis": discovery.group_list,
            "openapi/v3": discovery.openapi_v3_index,
        }
        if (make := fixed.get("/".join(parts))) is not None:
            return make()
        if parts[:2] == ["openapi", "v3"]:
            group, version = _group_version(parts[2:])
            return discovery.openapi_v3_document(group, version) if discovery.resource_list(group, version) else None
        if parts[:1] == ["apis"] and len(parts) == 2:
            return discovery.group(parts[1])
        if parts[:1] in (["api"], ["apis"]) and len(parts) in (2, 3):
            group, version = _group_version(parts)
            return discovery.resource_list(group, version)
        return None

    # -- what --------------------------------------------------------------------------------

    def _verb(self, target: _Target, query: dict[str, str], body: Any) -> None:
        api = self.server.api.dry() if _dry_run(query, body) else self.server.api
        resource, namespace, name, status = target.resource, target.namespace, target.name, target.status
        ns = namespace or ""
        strict = query.get("fieldValidation") == "Strict"  # Kubernetes' default is Warn; kubectl sends Strict
        if self.command == "GET" and not name:
            selection = Selection(query.get("labelSelector", ""), query.get("fieldSelector", ""))
            if query.get("watch") in ("true", "1"):
                self._watch(resource, namespace, selection, query)
                return
            items, rv = api.list(resource, namespace, selection)
            self._reply_objects(resource, items, rv, query)
        elif self.command == "GET":
            self._reply_one(resource, api.get(resource, ns, name), query)
        elif self.command == "POST" and not name:
            self._reply(201, api.create(resource, ns, body, strict=strict))
        elif self.command == "PUT" and name:
            self._reply(200, api.update(resource, ns, name, body, strict=strict, status=status))
        elif self.command == "PATCH" and name:
            content_type = self.headers.get("Content-Type", "")
            self._reply(200, api.patch(resource, ns, name, content_type, body, strict=strict, status=status))
        elif self.command == "DELETE" and name:
            self._reply(200, api.delete(resource, ns, name, _grace(query, body), uid=_precondition_uid(body)))
        else:
            raise KubeApiError(405, "MethodNotAllowed", f"the server does not allow this method on the requested resource ({self.command})")

    def _wants_table(self) -> bool:
        return _TABLE in self.headers.get("Accept", "")

    def _reply_one(self, resource: Resource, obj: Obj, query: dict[str, str]) -> None:
        if self._wants_table():
            rv = obj["metadata"].get("resourceVersion", "")
            self._reply(200, table(resource, [obj], rv, query.get("includeObject", "Metadata")))
        else:
            self._reply(200, obj)

    def _reply_objects(self, resource: Resource, items: list[Obj], rv: int, query: dict[str, str]) -> None:
        if self._wants_table():
            self._reply(200, table(resource, items, str(rv), query.get("includeObject", "Metadata")))
            return
        self._reply(
            200,
            {"kind": f"{resource.kind}List", "apiVersion": resource.api_version, "metadata": {"resourceVersion": str(rv)}, "items": items},
        )

    def _log(self, pod: Obj, query: dict[str, str]) -> None:
        assert self.server.open_stream is not None
        chunks = open_log(self.server.open_stream, log_spec(pod, query))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.close_connection = True
        try:
            for chunk in chunks:
                if chunk is None:
                    if self._client_left():
                        return
                    continue
                if chunk:
                    self._chunk(chunk)
            self._chunk(b"")
        except StreamBrokenError as exc:
            # No last chunk: kubectl reports the body cut short, as when a kubelet goes away.
            logger.info("kube-apiserver: the log of pod %s broke off: %s", pod["metadata"].get("name"), exc)
        except OSError:
            return  # the client went away
        finally:
            chunks.close()  # closes the stream: the edge stops sending

    def _exec(self, pod: Obj, query: dict[str, str]) -> None:
        """kubectl exec over a websocket (execws.py): the command's output, then its Status."""
        assert self.server.open_stream is not None
        commands = parse_qs(urlsplit(self.path).query).get("command", [])
        spec = execws.exec_spec(pod, commands, query.get("container", ""))
        key, protocol = self.headers.get("Sec-WebSocket-Key"), execws.choose_subprotocol(self.headers.get("Sec-WebSocket-Protocol", ""))
        if self.headers.get("Upgrade", "").lower() != "websocket" or not key or protocol is None:
            raise bad_request(f"Upgrade request required: a websocket with one of {', '.join(execws.SUBPROTOCOLS)}")
        reader = opened(self.server.open_stream, spec)
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", execws.accept_key(key))
        self.send_header("Sec-WebSocket-Protocol", protocol)
        self.end_headers()
        self.close_connection = True
        try:
            self._exec_frames(reader)
        except OSError:
            return  # the client went away
        finally:
            reader.close()

    def _exec_frames(self, reader: StreamReader) -> None:
        while True:
            event = reader.next(_WATCH_POLL_S)
            if event is None:
                if self._client_left():
                    return
            elif isinstance(event, StreamData):
                self.wfile.write(execws.frame(execws.channel_of(event.channel), event.data))
                self.wfile.flush()
                reader.delivered(event.seq)
            elif isinstance(event, StreamEnded | StreamFailed):
                self.wfile.write(execws.final_status(getattr(event, "exit_code", None), event.error) + execws.close_frame())
                self.wfile.flush()
                return

    def _watch(self, resource: Resource, namespace: str | None, selection: Selection, query: dict[str, str]) -> None:
        timeout_s = float(query.get("timeoutSeconds") or DEFAULT_WATCH_S)
        deadline = time.monotonic() + timeout_s
        events = self.server.api.watch(resource, namespace, selection, query.get("resourceVersion", ""), _WATCH_POLL_S)
        as_table, include = self._wants_table(), query.get("includeObject", "Metadata")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.close_connection = True
        first = True
        try:
            for event in _until(events, deadline):
                if event is None:
                    if self._client_left():
                        return
                    continue
                kind, obj = event
                if as_table:
                    obj = table(resource, [obj], obj["metadata"].get("resourceVersion", ""), include)
                    if not first:
                        obj["columnDefinitions"] = []
                    first = False
                self._chunk(json.dumps({"type": kind, "object": obj}).encode() + b"\n")
        except KubeApiError as exc:  # 410 Gone and the like arrive as an ERROR event, as in Kubernetes
            self._chunk(json.dumps({"type": "ERROR", "object": exc.status()}).encode() + b"\n")
        except OSError:
            return  # the client went away
        with contextlib.suppress(OSError):
            self._chunk(b"")  # the last chunk: the watch ends cleanly

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _client_left(self) -> bool:
        sock = self.connection
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            if not readable:
                return False
            return _peek_closed(sock) if isinstance(sock, ssl.SSLSocket) else sock.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def _read_body(self) -> Any:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True  # what follows on this connection cannot be told apart from the body
            raise KubeApiError(411, "LengthRequired", "a request body needs a Content-Length")
        header = self.headers.get("Content-Length") or "0"
        if not header.isdigit():
            self.close_connection = True
            raise bad_request(f"Content-Length {header[:32]!r} is not a length")
        length = int(header)
        if length > MAX_BODY_BYTES:
            self.close_connection = True  # the body stays unread
            raise KubeApiError(413, "RequestEntityTooLarge", f"the request body is larger than {MAX_BODY_BYTES} bytes")
        if not length:
            return None
        raw = self.rfile.read(length)
        if "protobuf" in self.headers.get("Content-Type", ""):
            return protobuf.decode(raw)
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, ValueError) as exc:
            raise bad_request(f"the request body is not JSON: {exc}") from exc

    def _reply_openapi_v2(self) -> None:
        # docs/protocol.md#12.4: kubectl before 1.27 (Debian's 1.20) reads OpenAPI v2, in
        # protobuf only, before apply and create. A document without definitions: it then
        # validates nothing itself and takes the patch rules of its own built-in types.
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")  # as kube-apiserver: Go cannot parse the "@v1.0+protobuf" type
        self.send_header("Content-Length", str(len(_OPENAPI_V2_DOCUMENT)))
        self.end_headers()
        self.wfile.write(_OPENAPI_V2_DOCUMENT)

    def _reply(self, code: int, content: Obj) -> None:
        data = json.dumps(content).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("kube-apiserver: " + format, *args)


def _protobuf_field(field_number: int, data: bytes) -> bytes:
    return bytes([field_number << 3 | 2, len(data)]) + data  # short fields: a one-byte length


#: openapi_v2.Document{swagger: "2.0", info: {title, version}} (gnostic's protobuf), no paths or definitions.
_OPENAPI_V2_DOCUMENT = _protobuf_field(1, b"2.0") + _protobuf_field(2, _protobuf_field(1, b"Kubernetes") + _protobuf_field(2, b"v1.32.0"))


def _peek_closed(sock: ssl.SSLSocket) -> bool:
    """A readable TLS socket with nothing pending: the peer closed (or sent a close_notify)."""
    try:
        sock.setblocking(False)
        try:
            return sock.recv(1) == b""
        finally:
            sock.setblocking(True)
    except ssl.SSLWantReadError:
        return False
    except (ssl.SSLError, OSError):
        return True


def _until(events: Iterator[tuple[str, Obj] | None], deadline: float) -> Iterator[tuple[str, Obj] | None]:
    for event in events:
        yield event
        if time.monotonic() >= deadline:
            return


def _group_version(parts: list[str]) -> tuple[str, str]:
    """``api/<v>`` or ``apis/<g>/<v>`` as (group, version); ("?", "?") for anything else."""
    if parts[:1] == ["api"] and len(parts) == 2:
        return "", parts[1]
    if parts[:1] == ["apis"] and len(parts) == 3:
        return parts[1], parts[2]
    return "?", "?"


def _split_resource_path(rest: list[str]) -> tuple[str | None, str, str, str]:
    """``namespaces/<ns>/<plural>[/<name>[/<sub>]]`` or ``<plural>[/<name>[/<sub>]]`` (namespaces/<name>/status too)."""
    if len(rest) >= 3 and rest[0] == "namespaces" and not (len(rest) == 3 and rest[2] in ("status", "finalize")):
        rest_ns: str | None = rest[1]
        rest = rest[2:]
    else:
        rest_ns = None
    if not rest or len(rest) > 3:
        raise KubeApiError(404, "NotFound", "the server could not find the requested resource")
    return rest_ns, rest[0], rest[1] if len(rest) > 1 else "", rest[2] if len(rest) > 2 else ""


def _precondition_uid(body: Any) -> str | None:
    """A DeleteOptions' ``preconditions.uid``, if any."""
    preconditions = body.get("preconditions") if isinstance(body, dict) else None
    uid = preconditions.get("uid") if isinstance(preconditions, dict) else None
    return uid if isinstance(uid, str) and uid else None


def _dry_run(query: dict[str, str], body: Any) -> bool:
    """``dryRun=All`` in the query, or in a delete's DeleteOptions body."""
    in_body = isinstance(body, dict) and body.get("kind", "DeleteOptions") == "DeleteOptions" and "All" in (body.get("dryRun") or [])
    return query.get("dryRun") == "All" or in_body


def _grace(query: dict[str, str], body: Any) -> int | None:
    text = query.get("gracePeriodSeconds")
    if text is None and isinstance(body, dict) and body.get("gracePeriodSeconds") is not None:
        text = str(body["gracePeriodSeconds"])
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise bad_request(f"invalid gracePeriodSeconds {text!r}") from None


__all__ = ["DEFAULT_WATCH_S", "KubeApiServer", "KubeServerSettings"]
