"""The Docker adapter's connections: to a real daemon behind a socket that a test cuts, and to one that hangs."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from actors.edged.errors import RuntimeUnavailableError
from actors.edged.runtime import DockerContainerRuntime
from tests.edged.docker_support import SocketProxy


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_connections_to_a_docker_that_went_away_are_closed_when_its_event_stream_ends(tmp_path: Path, docker_client: Any) -> None:
    before = open_descriptors()
    proxy = SocketProxy(tmp_path / "docker.sock")
    proxy.restore()
    runtime = DockerContainerRuntime(proxy.address, "node-gone")
    opened, ended = threading.Event(), threading.Event()
    runtime.list_containers()  # leaves a pooled connection (and the proxy's two ends of it)
    runtime.watch_events(on_open=opened.set, on_event=lambda event: None, on_end=lambda reason: ended.set())
    assert opened.wait(10)

    proxy.cut()  # closes the listener and the proxy's ends: only edged's own ends could be left

    assert ended.wait(10)
    assert open_descriptors() == before
    runtime.close()


def test_a_hung_daemon_holds_up_neither_watch_events_nor_close(tmp_path: Path) -> None:
    path = tmp_path / "hung.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(8)
    accepted: list[socket.socket] = []
    connected = threading.Event()

    def accept_and_never_answer() -> None:
        with contextlib.suppress(OSError):
            while True:
                accepted.append(listener.accept()[0])
                connected.set()

    threading.Thread(target=accept_and_never_answer, daemon=True).start()
    runtime = DockerContainerRuntime(f"unix://{path}", "node-hung", timeout_s=2.0)

    def worker() -> None:
        with contextlib.suppress(RuntimeUnavailableError):
            runtime.list_containers()  # connects: asks the hung daemon for its version

    threading.Thread(target=worker, daemon=True).start()
    assert connected.wait(10)

    began = time.monotonic()
    runtime.watch_events(on_open=lambda: None, on_event=lambda event: None, on_end=lambda reason: None)
    runtime.close()

    assert time.monotonic() - began < 1.0
    listener.close()
    for sock in accepted:
        sock.close()
