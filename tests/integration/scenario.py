"""Scenario tests' harness: a real cloud hub process and a real edge process, as a user runs them.

Each runs ``python -m kubeedge_actors`` from its own site folder holding the shipped ``conf/``
with only ports, node id and folders changed (plus what a test asks for in ``edge_values``),
and certificates as ``python -m kubeedge_actors certs`` writes them::

    <folder>/cloud/   conf/ certs/ cloud.db cloud.log       python -m kubeedge_actors cloud
    <folder>/edge/    conf/ certs/ edge.db  edge.log edged/  python -m kubeedge_actors

The edge dials the cloud through an :class:`Uplink`, a TCP relay the test can cut and restore,
so the edge can be away while the cloud stays up (and ``ctl`` keeps working).

::

    with Scenario(tmp_path, docker_client) as scenario:
        scenario.cloud.start()
        scenario.edge.start()
        scenario.wait_node("connected")
        scenario.cloud.ctl("apply", "-f", str(manifest))        # the real command
        scenario.wait_pod("web", "Running")                     # the cloud's view, by its API
        scenario.edge.kill(); scenario.edge.start()             # SIGKILL, then run again
        scenario.uplink.cut(); scenario.uplink.restore()        # the edge away, the cloud up
        app = scenario.device_app()                             # paho on the edge's broker

Also: ``cloud.stop()`` / ``edge.stop()`` (SIGTERM, returns the exit code), ``cloud.items(kind)``
(the control API), ``edge.pods()`` (edged's ``GET /pods``), ``edge.database`` (its SQLite
file), ``edge.pid``, ``*.log()``, ``containers(pod, status)`` (the node's, in Docker).

Leaving the block kills what still runs, removes the node's containers and closes the device
apps, even after a failure; a failing test also prints the tail of both logs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import docker.errors
from ruamel.yaml import YAML

from actors.cloudhub.ctl import ApiClient
from actors.cloudhub.pki import write_certificates
from actors.edged.model import NODE_ID_LABEL
from kubeedge_actors.config.keys import KEYS_BY_NAME
from kubeedge_actors.testing import wait_until
from tests.integration.twin_device_app import DeviceApp
from tests.services import free_port

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


def write_conf(conf_dir: Path, values: dict[str, Any]) -> None:
    """Set dotted keys in the conf files that hold them, keeping every comment and other key."""
    yaml = YAML()  # round trip
    by_file: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        by_file.setdefault(KEYS_BY_NAME[key].file, {})[key] = value
    for file_name, file_values in by_file.items():
        path = conf_dir / file_name
        document = yaml.load(path.read_text(encoding="utf-8"))
        for key, value in file_values.items():
            *parents, leaf = key.split(".")
            node = document
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        with path.open("w", encoding="utf-8") as stream:
            yaml.dump(document, stream)


class SiteProcess:
    """One ``python -m kubeedge_actors [command]`` run from a site folder; restartable.

    Its output (logging to stdout, as the shipped ``logging.yaml`` says) goes to ``<site>/<name>.log``.
    """

    def __init__(self, site: Path, name: str, command: list[str]) -> None:
        self.site = site
        self.name = name
        self.command = command
        self.log_path = site / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0  # where the current run's output starts
        self.starts = 0

    @property
    def conf_dir(self) -> Path:
        return self.site / "conf"

    def launch(self) -> None:
        assert not self.running, f"{self.name} is already running"
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "kubeedge_actors", *self.command], cwd=self.site, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        self.starts += 1

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self, whole: bool = False) -> str:
        """The output of this run (every run with ``whole``)."""
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as stream:
            stream.seek(0 if whole else self._log_offset)
            return stream.read().decode("utf-8", "replace")

    def wait_for_log(self, pattern: str, timeout_s: float = START_TIMEOUT_S) -> re.Match[str]:
        """The first match of ``pattern`` in this run's output; fails early if the process exits."""

        def found() -> re.Match[str] | None:
            match = re.search(pattern, self.log())
            if match is None and not self.running:
                raise AssertionError(f"{self.name} exited ({self.returncode}) before logging {pattern!r}:\n{self.log()[-3000:]}")
            return match

        return wait_until(found, timeout_s, 0.05, f"{self.name} logging {pattern!r}")

    @property
    def pid(self) -> int:
        """The running process's id (to count its threads and sockets under /proc)."""
        assert self.process is not None and self.running, f"{self.name} is not running"
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.poll() if self.process is not None else None

    def stop(self) -> int:
        """SIGTERM, as an operator stops it; returns the exit code (0 is a clean stop)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"{self.name} did not stop within {STOP_TIMEOUT_S} s of SIGTERM") from None

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as a power cut or the OOM killer."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        if self.process is not None:
            self.process.wait()


class CloudHubProcess(SiteProcess):
    """``python -m kubeedge_actors cloud``; the first run binds ports the system picks, which
    are then written into its conf, so every later run listens on the same ones."""

    def __init__(self, site: Path) -> None:
        super().__init__(site, "cloud", ["cloud"])
        self.port = 0
        self.api_port = 0

    def start(self) -> CloudHubProcess:
        self.launch()
        port = self.wait_for_log(r"serving edges on wss://127\.0\.0\.1:(\d+)/")
        api = self.wait_for_log(r"control API on http://127\.0\.0\.1:(\d+)/")
        if not self.port:
            self.port, self.api_port = int(port.group(1)), int(api.group(1))
            write_conf(self.conf_dir, {"cloudhub.port": self.port, "cloudhub.api-port": self.api_port})
        return self

    @property
    def api(self) -> ApiClient:
        """The control API (HTTP JSON), as ``ctl`` uses it."""
        return ApiClient(f"http://127.0.0.1:{self.api_port}")

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``python -m kubeedge_actors ctl ARGS`` from the cloud's site, as a user types it."""
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        command = [sys.executable, "-m", "kubeedge_actors", "ctl", *args]
        return subprocess.run(command, cwd=self.site, env=env, capture_output=True, text=True, timeout=60, check=False)

    def items(self, what: str) -> list[dict[str, Any]]:
        """``GET /api/v1/<what>`` in every namespace: nodes, pods, configmaps, secrets, devices."""
        status, answer = self.api.call("GET", what)
        assert status == 200, answer
        return list(answer["items"])


class EdgeProcess(SiteProcess):
    """``python -m kubeedge_actors``: the five modules, the MQTT broker the device apps use
    (``mqtt_port``: the embedded one unless ``mqtt.mode`` is 2), edged's ``GET /pods``."""

    def __init__(self, site: Path, node_id: str, mqtt_port: int, pods_port: int) -> None:
        super().__init__(site, "edge", [])
        self.node_id = node_id
        self.mqtt_port = mqtt_port
        self.pods_port = pods_port
        self.database = site / "edge.db"

    def start(self) -> EdgeProcess:
        self.launch()
        self.wait_for_log(r"runtime: running ")
        self.wait_for_log(r"bus: connected to the \w+ broker")  # the bus has subscribed: device apps can talk
        return self

    def pods(self) -> dict[str, dict[str, Any]]:
        """edged's own view (``GET /pods``): each pod by name, with the status it computed."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.pods_port}/pods", timeout=10) as response:
            items = json.loads(response.read())["items"]
        return {item["metadata"]["name"]: item for item in items}


class Uplink:
    """A TCP relay from the edge to the cloud hub: :meth:`cut` drops every connection through
    it and refuses new ones (as a lost uplink), :meth:`restore` lets the edge in again.

    TLS passes through untouched. ``target_port`` is read at each new connection.
    """

    def __init__(self, target_port: Callable[[], int]) -> None:
        self._target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._cut = False
        self._closed = False
        self.connections = 0  # relayed to the cloud hub since start
        self._thread = threading.Thread(target=self._accept, name="uplink", daemon=True)
        self._thread.start()

    def cut(self) -> None:
        with self._lock:
            self._cut = True
            doomed = list(self._sockets)
        for sock in doomed:
            _close(sock)

    def restore(self) -> None:
        with self._lock:
            self._cut = False

    def close(self) -> None:
        self._closed = True
        self.cut()
        _close(self._listener)
        self._thread.join(5)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                refuse = self._cut or self._closed
            if refuse:
                _close(client)
                continue
            try:
                cloud = socket.create_connection(("127.0.0.1", self._target_port()), timeout=5)
                cloud.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._sockets.update((client, cloud))
                self.connections += 1
            for source, target in ((client, cloud), (cloud, client)):
                threading.Thread(target=self._pump, args=(source, target), name="uplink-pump", daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._sockets.difference_update((source, target))
            _close(source)
            _close(target)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


class Scenario:
    """A cloud hub and one edge node (a unique node id) in ``folder``; see the module docstring.

    Args:
        folder: an empty temporary folder.
        docker: a docker SDK client, to list and finally remove the node's containers.
        edge_values: more conf keys for the edge (e.g. shorter reconnect intervals).
    """

    def __init__(self, folder: Path, docker: Any, *, edge_values: dict[str, Any] | None = None) -> None:
        self.folder = folder
        self.docker = docker
        self.node_id = f"scn-{uuid.uuid4().hex[:10]}"
        cloud_site, edge_site = folder / "cloud", folder / "edge"
        for site in (cloud_site, edge_site):
            (site / "certs").mkdir(parents=True)
            (site / "conf").mkdir()
            for shipped in (REPO / "conf").glob("*.yaml"):
                (site / "conf" / shipped.name).write_text(shipped.read_text(encoding="utf-8"), encoding="utf-8")
        write_certificates(cloud_site / "certs", self.node_id, [])
        for name in ("ca.crt", "edge.crt", "edge.key"):
            (edge_site / "certs" / name).write_bytes((cloud_site / "certs" / name).read_bytes())
        (edge_site / "certs" / "edge.key").chmod(0o600)
        write_conf(cloud_site / "conf", {"cloudhub.port": 0, "cloudhub.api-port": 0})
        self.cloud = CloudHubProcess(cloud_site)
        self.uplink = Uplink(lambda: self.cloud.port)
        values: dict[str, Any] = {
            "edgehub.websocket.url": f"wss://127.0.0.1:{self.uplink.port}/default/{self.node_id}/events",
            "edgehub.controller.node-id": self.node_id,
            "edged.hostname-override": self.node_id,
            "mqtt.internal-server": f"tcp://127.0.0.1:{free_port()}",
            "edged.server-port": free_port(),
            "edged.root-directory": str(edge_site / "edged"),
            **(edge_values or {}),
        }
        write_conf(edge_site / "conf", values)
        # Device apps use the broker the bus serves them on: the embedded one unless mqtt.mode is 2.
        broker = values["mqtt.server"] if values.get("mqtt.mode") == 2 else values["mqtt.internal-server"]
        self.edge = EdgeProcess(edge_site, self.node_id, int(broker.rsplit(":", 1)[1]), values["edged.server-port"])
        self._apps: list[DeviceApp] = []

    # --- what the cloud sees ------------------------------------------------------------------

    def node(self) -> dict[str, Any] | None:
        """This node's row in the cloud's node list."""
        return next((row for row in self.cloud.items("nodes") if row["name"] == self.node_id), None)

    def wait_node(self, connection: str, timeout_s: float = 60.0) -> dict[str, Any]:
        """Wait until the cloud shows the node ``connected`` or ``disconnected``."""
        return wait_until(
            lambda: (row := self.node()) is not None and row["connection"] == connection and row,
            timeout_s,
            0.1,
            f"node {self.node_id} {connection} in the cloud",
        )

    def pod(self, name: str) -> dict[str, Any] | None:
        """A pod's row in the cloud's pod list (with the last status the edge reported)."""
        return next((row for row in self.cloud.items("pods") if row["name"] == name), None)

    def wait_pod(self, name: str, phase: str, timeout_s: float = 60.0, check: Callable[[dict[str, Any]], bool] = lambda row: True) -> Any:
        """Wait until the cloud shows pod ``name`` in ``phase`` (and ``check`` holds)."""
        return wait_until(
            lambda: (row := self.pod(name)) is not None and row["phase"] == phase and check(row) and row,
            timeout_s,
            0.1,
            f"pod {name} {phase} in the cloud",
        )

    # --- what the edge has --------------------------------------------------------------------

    def containers(self, pod: str | None = None, status: str | None = None) -> list[Any]:
        """The node's Docker containers, of one pod and in one state (``running``, ``exited``) if given."""
        labels = [f"{NODE_ID_LABEL}={self.node_id}", *([f"io.kubernetes.pod.name={pod}"] if pod else [])]
        filters: dict[str, Any] = {"label": labels, **({"status": status} if status else {})}
        return list(self.docker.containers.list(all=True, filters=filters))

    def running_containers(self, pod: str) -> list[Any]:
        return self.containers(pod, "running")

    def device_app(self) -> DeviceApp:
        """A paho device app on the edge's broker (closed at the end)."""
        app = DeviceApp("127.0.0.1", self.edge.mqtt_port)
        self._apps.append(app)
        return app

    # --- clean-up -----------------------------------------------------------------------------

    def __enter__(self) -> Scenario:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None) -> None:
        if error is not None:
            for process in (self.cloud, self.edge):
                print(f"----- {process.name}.log (tail) -----\n{process.log(whole=True)[-6000:]}")
        for app in self._apps:
            app.close()
        for process in (self.edge, self.cloud):
            process.kill()
        self.uplink.close()
        wait_until(self._remove_containers, 60, 0.5, "the node's containers removed")

    def _remove_containers(self) -> bool:
        # Retried: dockerd may be restarting (fault tests), or a removal already under way.
        try:
            for container in self.containers():
                with contextlib.suppress(docker.errors.NotFound):
                    container.remove(force=True, v=True)
            return not self.containers()
        except Exception:
            return False


__all__ = ["CloudHubProcess", "EdgeProcess", "Scenario", "SiteProcess", "Uplink", "write_conf"]
