"""A fake websocket server for tier-1 tests of the cloudhub actor: the test plays the edges."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from kubeedge_cloud.server import EdgeConnected, EdgeDisconnected, ServerSettings


class FakeEdgeServer:
    """Records what the actor writes; the test calls :meth:`connect`, :meth:`frame`, :meth:`disconnect`."""

    def __init__(self) -> None:
        self.settings = ServerSettings("127.0.0.1", 10000, None, node_limit=10, keepalive_s=30.0, write_timeout_s=30.0)
        self.port = 10000
        self.sent: list[tuple[int, str]] = []
        self.hand_overs: list[tuple[int, int]] = []  # (conn_id, frames) per send() call
        self.started = False
        self.stopped = False
        self.keepalive_count = 0
        self._on_frames: Callable[[list[tuple[int, str | bytes]]], None] | None = None
        self._on_event: Callable[[Any], None] | None = None

    def start(self, on_frames: Callable[[list[tuple[int, str | bytes]]], None], on_event: Callable[[Any], None]) -> None:
        assert not self.started, "started twice"
        self.started = True
        self._on_frames, self._on_event = on_frames, on_event

    def stop(self, timeout_s: float = 10.0) -> None:
        self.stopped = True

    def send(self, conn_id: int, texts: Iterable[str]) -> None:
        if self.stopped:
            raise AssertionError("send after stop")
        texts = list(texts)
        self.hand_overs.append((conn_id, len(texts)))
        self.sent.extend((conn_id, text) for text in texts)

    # --- what the test does -----------------------------------------------------------------

    def connect(self, conn_id: int, node_id: str) -> None:
        assert self._on_event is not None, "not started"
        self._on_event(EdgeConnected(conn_id, node_id, "project", f"10.0.0.{conn_id}:40000"))

    def disconnect(self, conn_id: int, node_id: str, reason: str = "the edge closed the connection (code 1000)") -> None:
        assert self._on_event is not None, "not started"
        self._on_event(EdgeDisconnected(conn_id, node_id, reason))

    def frame(self, conn_id: int, *data: str | bytes) -> None:
        """One batch of frames from one connection."""
        assert self._on_frames is not None, "not started"
        self._on_frames([(conn_id, item) for item in data])
