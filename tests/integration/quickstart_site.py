"""A folder set up as the README's quickstart, for tier-3 tests that run the commands a user runs.

The shipped conf is copied and changed only in what tests running side by side on one machine
must not share: ports and the node id. Folders need no change: every file key is relative, so
the database, the certificates and the pod folders land in the site's folder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from actors.edged.model import NODE_ID_LABEL
from examples.busybox_image import BUSYBOX, QUICKSTART_IMAGE
from kubeedge_actors.testing import wait_until
from tests.services import free_port, service_missing

REPO = Path(__file__).resolve().parents[2]
SHIPPED_NODE_ID = "edge-node"


class Twin(NamedTuple):
    """One twin property of a Device's status: its desired and reported values (None: none)."""

    desired: str | None
    reported: str | None


def _value(twin: dict[str, Any], which: str) -> str | None:
    value = (twin.get(which) or {}).get("value")
    return None if value is None else str(value)


def _replace_once(text: str, pattern: str, replacement: str) -> str:
    changed, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
    assert count == 1, f"the shipped conf changed: {pattern!r} matched {count} times"
    return changed


@dataclass
class QuickstartSite:
    """A copy of conf/ in ``folder`` with its own ports and node id, and the commands to run."""

    folder: Path
    node_id: str = field(default_factory=lambda: f"quick-{uuid.uuid4().hex[:8]}")
    cloud_port: int = field(default_factory=free_port)
    mqtt_port: int = field(default_factory=free_port)
    pods_port: int = field(default_factory=free_port)
    kube_port: int = field(default_factory=free_port)

    @property
    def conf(self) -> Path:
        return self.folder / "conf"

    @property
    def broker(self) -> str:
        return f"tcp://127.0.0.1:{self.mqtt_port}"

    def write_conf(self) -> QuickstartSite:
        shutil.copytree(REPO / "conf", self.conf)
        edge = (self.conf / "edge.yaml").read_text()
        assert edge.count(SHIPPED_NODE_ID) == 3, "the node id is in the cloud URL, node-id and hostname-override"
        edge = edge.replace(SHIPPED_NODE_ID, self.node_id)
        edge = _replace_once(edge, r"(url: wss://127\.0\.0\.1:)10000/", rf"\g<1>{self.cloud_port}/")
        edge = _replace_once(edge, r"(internal-server: tcp://127\.0\.0\.1:)1884$", rf"\g<1>{self.mqtt_port}")
        edge = _replace_once(edge, r"(server-port: )10255$", rf"\g<1>{self.pods_port}")
        (self.conf / "edge.yaml").write_text(edge)
        cloud = (self.conf / "cloudhub.yaml").read_text()
        cloud = _replace_once(cloud, r"^(  port: )10000$", rf"\g<1>{self.cloud_port}")
        cloud = _replace_once(cloud, r"^(  port: )6443$", rf"\g<1>{self.kube_port}")
        (self.conf / "cloudhub.yaml").write_text(cloud)
        return self

    def manifest(self, name: str) -> Path:
        """``examples/manifests/<name>`` for this site's node (the examples name the shipped one)."""
        text = (REPO / "examples" / "manifests" / name).read_text()
        assert f"[{SHIPPED_NODE_ID}]" in text or f"nodeName: {SHIPPED_NODE_ID}" in text
        path = self.folder / name
        path.write_text(text.replace(SHIPPED_NODE_ID, self.node_id))
        return path

    def environment(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``python -m kubeedge_cloud ctl ARGS`` in the site's folder (reads ./conf, as in the README):
        kubectl with the kubeconfig ``certs`` wrote."""
        command = [sys.executable, "-m", "kubeedge_cloud", "ctl", *args]
        return subprocess.run(command, cwd=self.folder, env=self.environment(), capture_output=True, text=True, timeout=60)

    def kubectl(self, kubectl: str, *args: str) -> subprocess.CompletedProcess[str]:
        """``kubectl ARGS`` with the kubeconfig ``certs`` wrote, as the README exports it."""
        return subprocess.run([kubectl, *args], cwd=self.folder, env=self.kubectl_env(), capture_output=True, text=True, timeout=60)

    def kubectl_env(self) -> dict[str, str]:
        # Its own HOME: kubectl's discovery cache stays in the site's folder.
        return {**self.environment(), "KUBECONFIG": str(self.folder / "certs" / "kubeconfig"), "HOME": str(self.folder)}

    def table(self, *args: str, check: bool = True) -> list[list[str]]:
        """The rows of ``ctl get ...`` (header left out), split into cells; without ``check`` none
        while it fails (before scripts/edge has written the kubeconfig and started the cloud side)."""
        result = self.ctl("get", *args)
        assert result.returncode == 0 or not check, result.stderr
        return [line.split() for line in result.stdout.splitlines()[1:]] if result.returncode == 0 else []

    def get_json(self, kind: str, name: str) -> dict[str, Any]:
        """``ctl get KIND NAME -o json``: the object as the Kubernetes API has it."""
        result = self.ctl("get", kind, name, "-o", "json")
        assert result.returncode == 0, result.stderr
        return dict(json.loads(result.stdout))

    def twins(self, device: str) -> dict[str, Twin]:
        """The ``status.twins[]`` of ``kubectl get device DEVICE``, by property."""
        listed = (self.get_json("device", device).get("status") or {}).get("twins") or []
        return {twin["propertyName"]: Twin(_value(twin, "desired"), _value(twin, "reported")) for twin in listed}

    def device_app(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``python examples/device_app.py --broker <the edge's embedded broker> ARGS``."""
        command = [sys.executable, str(REPO / "examples" / "device_app.py"), "--broker", self.broker, *args]
        return subprocess.run(command, cwd=REPO, env=self.environment(), capture_output=True, text=True, timeout=60)


class DeviceAppWatch:
    """``python examples/device_app.py watch DEVICE`` running, its output in a file; Ctrl-C stops it."""

    def __init__(self, site: QuickstartSite, device: str) -> None:
        self.output_path = site.folder / f"watch-{device}.out"
        command = [sys.executable, str(REPO / "examples" / "device_app.py"), "--broker", site.broker, "watch", device]
        with self.output_path.open("wb") as output:
            self.process = subprocess.Popen(command, cwd=REPO, env=site.environment(), stdout=output, stderr=subprocess.STDOUT)

    @property
    def output(self) -> str:
        return self.output_path.read_text(errors="replace")

    def interrupt(self, timeout_s: float = 30.0) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout_s)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


class ScriptsEdge:
    """``scripts/edge --config-dir <site>/conf`` as a process in its own session, output in a file."""

    def __init__(self, site: QuickstartSite) -> None:
        self.site = site
        self.output_path = site.folder / "scripts-edge.out"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ScriptsEdge:
        with self.output_path.open("wb") as output:
            self.process = subprocess.Popen(
                [str(REPO / "scripts" / "edge"), "--config-dir", str(self.site.conf)],
                cwd=self.site.folder,
                env=self.site.environment(),
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def output(self) -> str:
        return self.output_path.read_text(errors="replace")

    def stop(self, timeout_s: float = 60.0) -> int:
        """SIGTERM, as systemd or `kill` sends; returns the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout_s)

    def kill_leftovers(self) -> None:
        """After a failed test: this run's processes (found by the site's folder), by id."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        for pid in _processes_naming(str(self.site.conf)):
            os.kill(pid, signal.SIGKILL)


def _processes_naming(text: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if text in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def node_containers(docker_client: Any, node_id: str, pod: str | None = None) -> list[Any]:
    labels = [f"{NODE_ID_LABEL}={node_id}"] + ([f"io.kubernetes.pod.name={pod}"] if pod else [])
    # A container edged removes between the listing and its inspection is not listed.
    return list(docker_client.containers.list(all=True, filters={"label": labels}, ignore_removed=True))


def remove_node_containers(docker_client: Any, node_id: str) -> None:
    for container in node_containers(docker_client, node_id):
        container.remove(force=True)


def require_quickstart_image(docker_client: Any) -> None:
    """``scripts/edge`` can make the examples' image here (or it is there already)."""
    if not BUSYBOX.is_file() and not docker_client.images.list(name=QUICKSTART_IMAGE):
        service_missing(f"{BUSYBOX} is missing (Debian package busybox-static): scripts/edge cannot make {QUICKSTART_IMAGE}")


@contextmanager
def scripts_edge_running(site: QuickstartSite, docker_client: Any) -> Iterator[ScriptsEdge]:
    """``scripts/edge`` started on ``site``; afterwards what it left running is killed and the
    node's containers are removed."""
    running = ScriptsEdge(site).start()
    try:
        yield running
    finally:
        running.kill_leftovers()
        remove_node_containers(docker_client, site.node_id)


def wait_for_row(site: QuickstartSite, what: str, row_start: list[str], timeout_s: float = 60.0, check: bool = True) -> list[str]:
    """Polls ``ctl get <what>`` until a row starts with ``row_start``; returns it. Without
    ``check`` a failing ``ctl`` counts as no row yet (:meth:`QuickstartSite.table`)."""

    def found() -> list[str] | None:
        return next((row for row in site.table(what, check=check) if row[: len(row_start)] == row_start), None)

    return list(wait_until(found, timeout_s=timeout_s, interval_s=0.2, what=f"ctl get {what} showing {row_start}"))


def wait_for_node(site: QuickstartSite, status: str = "Ready", timeout_s: float = 120.0) -> list[str]:
    """Polls ``ctl get nodes`` until the site's node shows ``status`` (``Ready``: its edge is
    connected, ``NotReady``: its link went down); scripts/edge may still be starting the cloud side."""
    return wait_for_row(site, "nodes", [site.node_id, status], timeout_s=timeout_s, check=False)


def wait_for_twin(site: QuickstartSite, device: str, name: str, desired: str | None, reported: str | None = None) -> Twin:
    """Polls ``kubectl get device DEVICE`` until its twin ``name`` has the ``desired`` value
    (None: no desired value) and a reported one (``reported`` when given); returns the twin."""

    def found() -> Twin | None:
        twin = site.twins(device).get(name)
        wanted = twin is not None and twin.desired == desired and twin.reported is not None
        return twin if wanted and (reported is None or twin.reported == reported) else None

    what = f"kubectl get device {device}: twin {name} desired {desired}, reported {reported or 'any'}"
    return wait_until(found, timeout_s=60, interval_s=0.2, what=what)


__all__ = [
    "REPO",
    "SHIPPED_NODE_ID",
    "DeviceAppWatch",
    "QuickstartSite",
    "ScriptsEdge",
    "Twin",
    "node_containers",
    "remove_node_containers",
    "require_quickstart_image",
    "scripts_edge_running",
    "wait_for_node",
    "wait_for_row",
    "wait_for_twin",
]
