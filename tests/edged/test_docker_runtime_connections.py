"""The Docker adapter against a real daemon behind a socket that a test cuts."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

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
