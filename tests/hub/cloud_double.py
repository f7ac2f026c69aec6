"""A scriptable websocket cloud for testing the edge's hub over real (TLS) websockets.

It is deliberately not our cloud hub: the edge is tested against the wire, not against our
own server. It records every frame and handshake, pushes frames, drops connections with or
without a close frame, answers 429, and restarts on the same port.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from kubeedge_actors.message import Message, decode_message
from tests.services import TlsFiles, free_port


@dataclass(frozen=True)
class Frame:
    connection: int
    binary: bool
    data: str | bytes

    @property
    def message(self) -> Message:
        return decode_message(self.data)


@dataclass(frozen=True)
class Handshake:
    connection: int
    path: str
    headers: dict[str, str]
    peer_name: str | None  # the DNS name of the edge's certificate, when it presented one


class CloudDouble:
    """Start with :meth:`start`; stop with :meth:`stop` (the test fixture does both)."""

    def __init__(self, tls: TlsFiles | None, *, require_client_cert: bool = False) -> None:
        self.port = free_port()
        self.tls = tls
        self.require_client_cert = require_client_cert
        self.refuse_with: int | None = None  # an HTTP status to answer handshakes with
        self.frames: list[Frame] = []
        self.handshakes: list[Handshake] = []
        self.close_codes: list[int | None] = []
        self._condition = threading.Condition()
        self._connections: dict[int, ServerConnection] = {}
        self._next_id = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()

    @property
    def url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://127.0.0.1:{self.port}/project-1/node-1/events"

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> CloudDouble:
        self._ready.clear()
        self._thread = threading.Thread(target=self._run, daemon=True, name="cloud-double")
        self._thread.start()
        assert self._ready.wait(10), "the cloud double did not start"
        return self

    def stop(self) -> None:
        """Stop listening and drop every connection without a close frame (a cloud crash)."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)
        self._thread = None

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        loop.run_until_complete(self._serve())
        loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        context = None
        if self.tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.tls.server_cert, self.tls.server_key)
            if self.require_client_cert:
                context.load_verify_locations(self.tls.ca)
                context.verify_mode = ssl.CERT_REQUIRED
        server: Server = await serve(
            self._handle, "127.0.0.1", self.port, ssl=context, process_request=self._admit, ping_interval=None, compression=None
        )
        self._ready.set()
        await self._stop.wait()
        for connection in list(self._connections.values()):
            connection.transport.abort()
        server.close(close_connections=False)
        await server.wait_closed()

    def _admit(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.refuse_with is not None:
            return connection.respond(HTTPStatus(self.refuse_with), "refused by the test\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        with self._condition:
            self._next_id += 1
            number = self._next_id
            self._connections[number] = ws
            cert = ws.transport.get_extra_info("peercert")
            peer_name = next((value for kind, value in cert.get("subjectAltName", ()) if kind == "DNS"), None) if cert else None
            request = ws.request
            assert request is not None
            self.handshakes.append(Handshake(number, request.path, {k.lower(): v for k, v in request.headers.raw_items()}, peer_name))
            self._condition.notify_all()
        try:
            async for data in ws:
                with self._condition:
                    self.frames.append(Frame(number, isinstance(data, bytes), data))
                    self._condition.notify_all()
        except ConnectionClosed:
            pass
        finally:
            with self._condition:
                self._connections.pop(number, None)
                self.close_codes.append(ws.close_code)
                self._condition.notify_all()

    # --- what a test does -------------------------------------------------------------------

    def push(self, data: str | bytes, connection: int | None = None) -> None:
        """Send one frame (text for str, binary for bytes) to a connection (the newest by default)."""
        ws = self._connection(connection)
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(ws.send(data), self._loop).result(5)

    def push_many(self, texts: list[str], connection: int | None = None) -> None:
        """Send text frames back to back, as fast as the connection takes them."""
        ws = self._connection(connection)
        assert self._loop is not None

        async def send_all() -> None:
            for text in texts:
                await ws.send(text)

        asyncio.run_coroutine_threadsafe(send_all(), self._loop).result(30)

    def close(self, code: int = 1000, reason: str = "", connection: int | None = None) -> None:
        ws = self._connection(connection)
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(ws.close(code, reason), self._loop).result(10)

    def _connection(self, number: int | None) -> ServerConnection:
        # The edge may see its handshake done a moment before this side registers it.
        self.wait(lambda: self._connections, what="an edge connected")
        with self._condition:
            return self._connections[number if number is not None else max(self._connections)]

    @property
    def connection_count(self) -> int:
        with self._condition:
            return len(self._connections)

    # --- waiting ----------------------------------------------------------------------------

    def wait(self, condition: Callable[[], Any], timeout_s: float = 10.0, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout_s
        with self._condition:
            while True:
                value = condition()
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"cloud double: {what} not met within {timeout_s} s; frames: {len(self.frames)}")
                self._condition.wait(remaining)

    def wait_for_handshakes(self, count: int, timeout_s: float = 10.0) -> list[Handshake]:
        return self.wait(lambda: self.handshakes if len(self.handshakes) >= count else None, timeout_s, f"{count} handshakes")

    def messages(self, predicate: Callable[[Message], bool] = lambda m: True) -> list[Message]:
        with self._condition:
            return [m for m in (f.message for f in self.frames) if predicate(m)]

    def wait_for_messages(self, predicate: Callable[[Message], bool], count: int = 1, timeout_s: float = 10.0) -> list[Message]:
        def found() -> list[Message] | None:
            matching = [m for m in (f.message for f in self.frames) if predicate(m)]
            return matching if len(matching) >= count else None

        result: list[Message] = self.wait(found, timeout_s, f"{count} matching messages")
        return result
