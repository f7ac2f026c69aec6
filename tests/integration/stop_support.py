"""Helpers of the stop tests (test_stop.py) and benchmarks/stop.py: a registry behind a slow
link, pods for the cloud's control API, and SIGTERM timed to the process's exit.

A pull through :class:`ThrottledRelay` trickles in at a few KB/s, so pod syncs are caught in
the middle of their pulls for as long as the test needs; :meth:`ThrottledRelay.unthrottle`
lets the next run pull at full speed.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

from examples.busybox_image import busybox_rootfs_tar

#: The pods' command: exits at once on SIGTERM, so a test's clean-up is quick.
SLEEPER = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]


class ThrottledRelay:
    """A TCP relay from 127.0.0.1:``port`` to 127.0.0.1:``target_port`` whose downstream
    (target → client) carries at most ``bytes_per_s`` until :meth:`unthrottle`.

    dockerd treats registries on 127.0.0.0/8 as insecure (plain HTTP), and a registry does not
    care which host name a client used: an image pushed to the registry directly is pulled as
    ``<relay host>/<repository>:<tag>`` through the relay.
    """

    CHUNK = 1024

    def __init__(self, target_port: int, bytes_per_s: float) -> None:
        self._target_port = target_port
        self._rate = bytes_per_s
        self._changed = threading.Condition()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.host = f"127.0.0.1:{self.port}"
        self.bytes_down = 0  # relayed from the target so far
        self._sockets: set[socket.socket] = set()
        self._closed = False
        threading.Thread(target=self._accept, name="throttled-relay", daemon=True).start()

    def unthrottle(self) -> None:
        with self._changed:
            self._rate = 0.0
            self._changed.notify_all()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            sockets, self._sockets = self._sockets, set()
            self._changed.notify_all()
        for sock in [self._listener, *sockets]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
                target = socket.create_connection(("127.0.0.1", self._target_port), timeout=10)
                target.settimeout(None)
            except OSError:
                if self._closed:
                    return
                continue
            with self._changed:
                self._sockets |= {client, target}
            threading.Thread(target=self._pump, args=(client, target, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(target, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, throttled: bool) -> None:
        try:
            while data := source.recv(self.CHUNK if throttled else 65536):
                if throttled:
                    self._wait_for_allowance(len(data))
                    with self._changed:
                        self.bytes_down += len(data)
                target.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                target.shutdown(socket.SHUT_WR)

    def _wait_for_allowance(self, size: int) -> None:
        # The link's speed: each chunk takes size/rate seconds, cut short by unthrottle().
        with self._changed:
            if self._rate > 0:
                deadline = time.monotonic() + size / self._rate
                while self._rate > 0 and not self._closed and (left := deadline - time.monotonic()) > 0:
                    self._changed.wait(left)


def push_unique_image(docker_client: Any, registry_host: str, repository: str, tag: str, auth: dict[str, str]) -> str:
    """Push a busybox image with a layer of its own (``filler_bytes`` of random data: a pull
    must fetch it, however many busybox images the daemon has) to the registry at
    ``registry_host``; the local copy is removed after. Returns ``<repository>:<tag>``."""
    target = f"{registry_host}/{repository}"
    docker_client.api.import_image_from_data(unique_rootfs_tar(), repository=target, tag=tag)
    for line in docker_client.api.push(target, tag, auth_config=auth, stream=True, decode=True):
        if "error" in line:
            raise RuntimeError(line["error"])
    docker_client.api.remove_image(f"{target}:{tag}")
    return f"{repository}:{tag}"


def unique_rootfs_tar(filler_bytes: int = 256 * 1024) -> bytes:
    """Debian's busybox rootfs plus ``/filler``: random bytes, so the layer is like no other."""
    buffer = io.BytesIO(busybox_rootfs_tar())
    with tarfile.open(fileobj=buffer, mode="a") as tar:
        info = tarfile.TarInfo("filler")
        info.size = filler_bytes
        tar.addfile(info, io.BytesIO(os.urandom(filler_bytes)))
    return buffer.getvalue()


def pod_object(node: str, name: str, image: str, *, pull_policy: str = "IfNotPresent", pull_secret: str = "") -> dict[str, Any]:
    """A pod for the cloud's ``POST apply``: one container running :data:`SLEEPER` on ``node``."""
    spec: dict[str, Any] = {
        "nodeName": node,
        "terminationGracePeriodSeconds": 1,
        "containers": [{"name": "main", "image": image, "imagePullPolicy": pull_policy, "command": SLEEPER}],
    }
    if pull_secret:
        spec["imagePullSecrets"] = [{"name": pull_secret}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def pull_secret_object(name: str, registry_host: str, username: str, password: str) -> dict[str, Any]:
    """A ``kubernetes.io/dockerconfigjson`` secret for ``registry_host``."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    config = json.dumps({"auths": {registry_host: {"auth": auth}}})
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "type": "kubernetes.io/dockerconfigjson",
        "stringData": {".dockerconfigjson": config},
    }


def processes_naming(text: str) -> list[int]:
    """Ids of the processes (not zombies) whose command line holds ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):  # ended meanwhile
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            if text in command and state != "Z":
                found.append(int(entry.name))
    return found


def sigterm_and_wait(process: subprocess.Popen[Any], timeout_s: float) -> tuple[int | None, float]:
    """SIGTERM, then wait for the exit: (exit code or None if still running, seconds taken)."""
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        code: int | None = process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        code = None
    return code, time.monotonic() - started


__all__ = [
    "SLEEPER",
    "ThrottledRelay",
    "pod_object",
    "processes_naming",
    "pull_secret_object",
    "push_unique_image",
    "sigterm_and_wait",
]
