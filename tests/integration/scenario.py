"""Scenario tests' harness: a real cloud hub and a real edge process, as a user runs them.

Each process runs ``python -m kubeedge_actors`` from its own site folder holding the shipped
``conf/`` with only ports, node id and folders changed (plus what a test asks for in
``edge_values``), and certificates as ``python -m kubeedge_cloud certs`` writes them (sites.py)::

    <folder>/cloud/   conf/ certs/ cloud.db cloud.log       python -m kubeedge_cloud
    <folder>/edge/    conf/ certs/ edge.db  edge.log edged/  python -m kubeedge_actors

The edge dials the cloud through an :class:`~tests.integration.fault_tools.Uplink`, a TCP relay
the test can cut and restore, so the edge can be away while the cloud stays up (and ``ctl``
keeps working).

::

    with Scenario(tmp_path, docker_client) as scenario:
        scenario.cloud.start()
        scenario.edge.start()
        scenario.wait_node("connected")
        scenario.cloud.control("apply", "-f", str(manifest))        # the real command
        scenario.wait_pod("web", "Running")                     # the cloud's view, by its API
        scenario.edge.kill(); scenario.edge.start()             # SIGKILL, then run again
        scenario.uplink.cut(); scenario.uplink.restore()        # the edge away, the cloud up
        scenario.uplink.drop()                                  # the link broken once
        app = scenario.device_app()                             # paho on the edge's broker

Also: ``cloud.stop()`` / ``edge.stop()`` (SIGTERM, returns the exit code), ``cloud.items(kind)``
(the control API), ``edge.pods()`` (edged's ``GET /pods``), ``edge.database`` (its SQLite
file), ``edge.waiting_for_the_cloud()``, ``edge.pid``, ``edge.holdings()`` (threads and
descriptors from /proc), ``*.log()``, ``containers(pod, status)`` (the node's, in Docker).

``in_process_cloud=True`` runs the cloud hub in the test's process instead
(:class:`~tests.cloud.running.RunningCloudHub`, the same certificates and the same
restarts on the same ports), so a test can record what it received
(:class:`~tests.integration.fault_tools.CloudInbox`).

Leaving the block kills what still runs, removes the node's containers and closes the device
apps, even after a failure; a failing test also prints the tail of both logs.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import docker.errors

from actors.edged.model import NODE_ID_LABEL
from kubeedge_actors.testing import wait_until
from kubeedge_cloud.pki import write_certificates
from tests.cloud.running import RunningCloudHub
from tests.integration.fault_tools import Uplink
from tests.integration.sites import CloudHubProcess, EdgeProcess, api_items, new_site
from tests.integration.twin_device_app import DeviceApp
from tests.services import TlsFiles, free_port


class Scenario:
    """A cloud hub and one edge node (a unique node id) in ``folder``; see the module docstring.

    Args:
        folder: an empty temporary folder.
        docker: a docker SDK client, to list and finally remove the node's containers.
        edge_values: more conf keys for the edge (e.g. shorter reconnect intervals).
        in_process_cloud: run the cloud hub in this process (see the module docstring).
    """

    def __init__(self, folder: Path, docker: Any, *, edge_values: dict[str, Any] | None = None, in_process_cloud: bool = False) -> None:
        self.folder = folder
        self.docker = docker
        self.node_id = f"scn-{uuid.uuid4().hex[:10]}"
        cloud_site = new_site(folder / "cloud", {"cloudhub.port": 0, "cloudhub.api-port": 0, "kube.port": 0})
        certs = cloud_site / "certs"
        write_certificates(certs, self.node_id, [])
        self.cloud: CloudHubProcess | RunningCloudHub = (
            RunningCloudHub(
                cloud_site,
                TlsFiles(certs / "ca.crt", certs / "cloudhub.crt", certs / "cloudhub.key", certs / "edge.crt", certs / "edge.key"),
            )
            if in_process_cloud
            else CloudHubProcess(cloud_site)
        )
        self.uplink = Uplink(lambda: self.cloud.port)
        edge_site = new_site(
            folder / "edge",
            {
                "edgehub.websocket.url": f"wss://127.0.0.1:{self.uplink.port}/default/{self.node_id}/events",
                "edgehub.controller.node-id": self.node_id,
                "edged.hostname-override": self.node_id,
                "mqtt.internal-server": f"tcp://127.0.0.1:{free_port()}",
                "edged.server-port": free_port(),
                "edged.root-directory": str(folder / "edge" / "edged"),
                **(edge_values or {}),
            },
        )
        for name in ("ca.crt", "edge.crt", "edge.key"):
            (edge_site / "certs" / name).write_bytes((certs / name).read_bytes())
        (edge_site / "certs" / "edge.key").chmod(0o600)
        self.edge = EdgeProcess(edge_site)
        self._apps: list[DeviceApp] = []

    # --- what the cloud sees ------------------------------------------------------------------

    @property
    def cloud_database(self) -> Path:
        """The cloud hub's SQLite file."""
        return self.folder / "cloud" / "cloud.db"

    def node(self) -> dict[str, Any] | None:
        """This node's row in the cloud's node list."""
        return next((row for row in api_items(self.cloud.api, "nodes") if row["name"] == self.node_id), None)

    def wait_node(self, connection: str, timeout_s: float = 60.0) -> dict[str, Any]:
        """Wait until the cloud shows the node ``connected`` or ``disconnected``."""
        return wait_until(
            lambda: (row := self.node()) is not None and row["connection"] == connection and row,
            timeout_s,
            0.1,
            f"node {self.node_id} {connection} in the cloud",
        )

    def pods(self) -> dict[str, dict[str, Any]]:
        """This node's rows in the cloud's pod list by name (with the last status the edge reported)."""
        return {row["name"]: row for row in api_items(self.cloud.api, "pods") if row["node"] == self.node_id}

    def pod(self, name: str) -> dict[str, Any] | None:
        """A pod's row in the cloud's pod list."""
        return self.pods().get(name)

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
        # A container edged removes between the listing and its inspection is not listed.
        return list(self.docker.containers.list(all=True, filters=filters, ignore_removed=True))

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
        processes = [self.edge, *([self.cloud] if isinstance(self.cloud, CloudHubProcess) else [])]
        if error is not None:
            for process in processes:
                print(f"----- {process.name}.log (tail) -----\n{process.log(whole=True)[-6000:]}")
        for app in self._apps:
            app.close()
        for process in processes:
            process.kill()
        if isinstance(self.cloud, RunningCloudHub):
            self.cloud.stop()
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


__all__ = ["Scenario"]
