"""The read-only HTTP endpoint ``GET http://127.0.0.1:<edged.server-port>/pods`` (docs/protocol.md#7.7).

The actor publishes the pod list after every change, as items it never changes afterwards;
a request encodes the latest items once (so a burst of status changes costs the actor no
encoding), and the server thread never touches actor state.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

logger = logging.getLogger(__name__)


class PodListServer:
    """Serves the last published body on ``/pods``; 404 elsewhere, 405 for anything but GET."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self._address = (host, port)
        self._items: Sequence[Mapping[str, Any]] = ()
        self._body: bytes | None = b'{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[]}'  # None: encode on request
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> int:
        """Listen and serve on a daemon thread; returns the bound port."""
        server = ThreadingHTTPServer(self._address, _handler_for(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="edged-http", daemon=True)
        self._thread.start()
        return int(server.server_address[1])

    def publish(self, items: Sequence[Mapping[str, Any]]) -> None:
        """The pods to list from now on (v1.Pod objects, status included); never changed after."""
        with self._lock:
            self._items, self._body = items, None

    def body(self) -> bytes:
        """The v1.PodList of the last published items, encoded once per publish."""
        with self._lock:
            if self._body is None:
                self._body = json.dumps({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": list(self._items)}).encode()
            return self._body

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()


def _handler_for(owner: PodListServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0].rstrip("/") != "/pods":
                self._send(404, b'{"message":"only /pods is served"}')
                return
            self._send(200, owner.body())

        def do_POST(self) -> None:
            self._send(405, b'{"message":"read-only"}')

        def do_PUT(self) -> None:
            self.do_POST()

        def do_DELETE(self) -> None:
            self.do_POST()

        def _send(self, code: int, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("edged: http %s", format % args)

    return Handler


__all__ = ["PodListServer"]
