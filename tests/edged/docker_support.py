"""Real-service helpers for edged's tier-3 tests: an edge node around a real edged, a socket
proxy that can cut Docker away, and a private registry with password auth."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pykka

from actors.edged import EdgedActor, EdgedTimings
from actors.edged.model import NODE_ID_LABEL, ContainerInfo, ContainerRuntime
from actors.edged.runtime import DockerContainerRuntime
from actors.keys import edge_defaults
from actors.protocol import Module
from actors.testing import cloud_message
from examples.busybox_image import busybox_rootfs_tar
from kubeedge_actors.message import Message
from kubeedge_actors.router import Router
from kubeedge_actors.testing import Probe, start_probe, wait_until
from tests.services import free_port, service_missing, wait_for_port

FAST = EdgedTimings(
    restart_backoff_initial_s=0.5,
    restart_backoff_max_s=2.0,
    poll_interval_s=1.0,
    events_reconnect_initial_s=0.1,
    events_reconnect_max_s=0.5,
    meta_timeout_s=10.0,
    pull_backoff_flip_s=0.3,
)


class CountingDocker(DockerContainerRuntime):
    """The real Docker adapter, counting the inspections of each container (workers call it)."""

    def __init__(self, base_url: str, node_id: str) -> None:
        super().__init__(base_url, node_id)
        self._count_lock = threading.Lock()
        self.inspections: Counter[str] = Counter()

    def inspect_container(self, container_id: str) -> ContainerInfo | None:
        with self._count_lock:
            self.inspections[container_id] += 1
        return super().inspect_container(container_id)


class EdgeNode:
    """A router, a probe answering as meta (docs/architecture.md#4.3), and a real edged with its own node id.

    The probe answers queries from :attr:`objects` (resource → object) and the pod query with
    :attr:`pods`, each as a JSON string in a JSON array, and "OK" to status updates.
    """

    def __init__(self, docker_client: Any, root: Path, *, docker_address: str = "unix:///var/run/docker.sock", **config: Any) -> None:
        self.docker = docker_client
        self.node_id = f"it-{uuid.uuid4().hex[:10]}"
        self.root = root
        values = {
            "edgehub.controller.node-id": self.node_id,
            "edged.hostname-override": self.node_id,
            "edged.root-directory": str(root),
            "edged.server-port": 0,
            "edged.docker-address": docker_address,
            "edged.node-status-update-frequency": 1.0,
        }
        values.update(config)
        self.config = edge_defaults().with_values(values)
        self.router = Router()
        self.pods: list[dict[str, Any]] = []  # meta's answer to the pod query
        self._pod_rows: dict[str, dict[str, Any]] = {}
        self.objects: dict[str, dict[str, Any]] = {}
        self.meta: Probe = start_probe(self.router, Module.META, "meta", auto_reply=self._answer)
        self.edged: pykka.ActorRef[Any] | None = None

    def _answer(self, request: Message) -> Any:
        if request.operation != "query":
            return "OK"
        if request.resource.endswith("/pod"):
            return [json.dumps(p) for p in self.pods]
        found = self.objects.get(request.resource)
        return [json.dumps(found)] if found is not None else []

    def start_edged(self, timings: EdgedTimings = FAST, runtime: ContainerRuntime | None = None) -> None:
        self.edged = EdgedActor.start(self.router, self.config, timings=timings, runtime=runtime)
        self.router.register(Module.EDGED, "edged", self.edged)

    def stop_edged(self) -> None:
        if self.edged is not None:
            self.edged.stop()
            self.router.unregister(Module.EDGED)
            self.edged = None

    def send(self, operation: str, obj: dict[str, Any], kind: str = "pod", *, namespace: str = "") -> None:
        """Send ``obj`` to edged under ``<namespace>/<kind>/<name>`` (namespace: the object's,
        else ``default``), keeping meta's pod rows as meta does: one per resource."""
        meta = obj["metadata"]
        namespace = namespace or meta.get("namespace") or "default"
        resource = f"{namespace}/{kind}/{meta['name']}"
        if kind == "pod":
            self._pod_rows = {key: p for key, p in self._pod_rows.items() if key != resource}
            if operation != "delete":
                self._pod_rows[resource] = obj
            self.pods = list(self._pod_rows.values())
        else:
            self.objects[resource] = obj
        self.router.send(Module.EDGED, cloud_message(operation, resource, obj))

    def wait_status(self, name: str, predicate: Callable[[dict[str, Any]], bool], timeout_s: float = 30.0) -> dict[str, Any]:
        message = self.meta.wait_for(lambda m: m.resource.endswith(f"/podstatus/{name}") and predicate(m.content["Status"]), timeout_s)
        return message.content["Status"]  # type: ignore[no-any-return]

    def wait_running(self, name: str = "web", timeout_s: float = 30.0) -> dict[str, Any]:
        return self.wait_status(name, lambda s: s["phase"] == "Running" and s["containerStatuses"][0].get("ready"), timeout_s)

    def containers(self, **filters: Any) -> list[Any]:
        # The SDK lists, then inspects each container: one that edged removes in between is
        # skipped rather than failing the listing with "No such container".
        return self.docker.containers.list(all=True, filters={"label": f"{NODE_ID_LABEL}={self.node_id}", **filters}, ignore_removed=True)

    def running_container(self, timeout_s: float = 30.0) -> Any:
        return wait_until(lambda: next(iter(self.containers(status="running")), None), timeout_s, 0.05, "a running container")

    def close(self) -> None:
        self.stop_edged()
        self.meta.stop()
        self.router.close()
        remove_all(self.containers)


def remove_all(containers: Callable[[], list[Any]]) -> None:
    """Remove every container ``containers()`` lists, until a stopped edged's last job (one
    create may still be in flight) has surely finished."""
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < 1.0:
        found = containers()
        for container in found:
            with contextlib.suppress(Exception):
                container.remove(force=True)
        if found:
            quiet_since = time.monotonic()
        time.sleep(0.1)


def remove_image(docker_client: Any, reference: str) -> None:
    """Remove a test's image if it is still there (edged's image GC may have removed it)."""
    import docker.errors

    with contextlib.suppress(docker.errors.ImageNotFound):
        docker_client.api.remove_image(reference, force=True)


def exec_in(container: Any, *command: str) -> str:
    result = container.exec_run(list(command))
    return result.output.decode()  # type: ignore[no-any-return]


class SocketProxy:
    """A unix socket in front of dockerd that a test can cut (connections dropped, socket gone)
    and restore: to edged it looks like the daemon going away and coming back."""

    def __init__(self, path: Path, upstream: str = "/var/run/docker.sock") -> None:
        self.path = path
        self.upstream = upstream
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        return f"unix://{self.path}"

    def restore(self) -> None:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.path))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        with self._lock:
            sockets, self._open = self._open, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self.upstream)
            with self._lock:
                self._open |= {client, upstream}
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                target.shutdown(socket.SHUT_WR)


class Registry:
    """Debian's docker-registry on 127.0.0.1 with htpasswd auth (dockerd treats 127.0.0.0/8
    registries as insecure, so plain HTTP works)."""

    def __init__(self, folder: Path, username: str, password: str) -> None:
        import bcrypt

        if not Path("/usr/bin/docker-registry").exists():
            service_missing("/usr/bin/docker-registry is missing (Debian package docker-registry)")
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        folder.mkdir(parents=True, exist_ok=True)
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
        (folder / "htpasswd").write_text(f"{username}:{hashed}\n")
        config = folder / "config.yml"
        config.write_text(
            "version: 0.1\nlog:\n  level: error\n"
            f"storage:\n  filesystem:\n    rootdirectory: {folder / 'data'}\n"
            f"http:\n  addr: {self.host}\n  secret: test-{self.port}\n"
            f"auth:\n  htpasswd:\n    realm: test\n    path: {folder / 'htpasswd'}\n"
        )
        with (folder / "registry.log").open("ab") as log:
            self._process = subprocess.Popen(
                ["/usr/bin/docker-registry", "serve", str(config)], stdout=log, stderr=log, env=dict(os.environ)
            )
        wait_for_port(self.port)

    def push(self, docker_client: Any, repository: str, tag: str, auth: dict[str, str]) -> str:
        """Push a busybox image of its own as ``<host>/<repository>:<tag>``; the local copy is
        removed after.

        Its own image id, not the shared test image's: Docker (and edged's image GC) counts an
        image as in use by any container of that id, and other tests run busybox all the time.
        """
        target = f"{self.host}/{repository}"
        docker_client.api.import_image_from_data(
            busybox_rootfs_tar(), repository=target, tag=tag, changes=[f"LABEL io.kubeedge-actors.test-image={tag}"]
        )
        for line in docker_client.api.push(target, tag, auth_config=auth, stream=True, decode=True):
            if "error" in line:
                raise RuntimeError(line["error"])
        docker_client.api.remove_image(f"{target}:{tag}")
        return f"{target}:{tag}"

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)
