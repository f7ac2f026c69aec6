"""The commands as a user runs them: ``certs``, then ``cloud`` and the edge with the shipped
conf, then ``ctl`` (kubectl with the kubeconfig ``certs`` wrote): they connect out of the box, and
stop cleanly on a signal."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeedge_actors.testing import wait_until
from tests.services import free_port

REPO = Path(__file__).resolve().parents[2]


CLOUD_COMMANDS = ("cloud", "ctl", "certs")


def command(site: Path, *args: str) -> list[str]:
    """The edge (``python -m kubeedge_actors``), or the cloud side and its tools
    (``python -m kubeedge_cloud [ctl|certs]``) for ``cloud``, ``ctl`` and ``certs``."""
    if args and args[0] in CLOUD_COMMANDS:
        rest = args[1:] if args[0] == "cloud" else args
        return [sys.executable, "-m", "kubeedge_cloud", *rest]
    return [sys.executable, "-m", "kubeedge_actors", *args]


def environment(site: Path | None = None) -> dict[str, str]:
    # No KUBECONFIG of the machine's; HOME in the site: kubectl's discovery cache stays there.
    own = {"HOME": str(site)} if site is not None else {}
    variables = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", **own}
    variables.pop("KUBECONFIG", None)
    return variables


def start(site: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(command(site, *args), cwd=site, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def run(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(site, *args), cwd=site, env=environment(site), capture_output=True, text=True, timeout=60)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Path]:
    """The shipped conf, the cloud's websocket on a port the system picks and its Kubernetes API
    on a free one (``certs`` writes it into the kubeconfig), the edge running only its hub (the
    other modules need services of their own)."""
    shutil.copytree(REPO / "conf", tmp_path / "conf")
    cloud_conf = tmp_path / "conf" / "cloudhub.yaml"
    text = re.sub(r"(?m)^  port: 10000$", "  port: 0", cloud_conf.read_text())
    cloud_conf.write_text(re.sub(r"(?m)^  port: 6443$", f"  port: {free_port()}", text))
    (tmp_path / "conf" / "modules.yaml").write_text("modules:\n  enabled: [websocket]\n")
    yield tmp_path


class Output:
    """Collects a process's output on a thread, so the test can wait for a line."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert process.stdout is not None
        stream = process.stdout
        self._thread = threading.Thread(target=lambda: self.lines.extend(iter(stream.readline, "")), daemon=True)
        self._thread.start()

    def find(self, pattern: str) -> re.Match[str] | None:
        return next((m for line in list(self.lines) if (m := re.search(pattern, line))), None)

    @property
    def text(self) -> str:
        self._thread.join(30)
        return "".join(self.lines)


def test_certs_cloud_edge_and_ctl_work_together_out_of_the_box(site: Path) -> None:
    certs = run(site, "certs")
    cloud = start(site, "cloud")
    cloud_out = Output(cloud)
    edge: subprocess.Popen[str] | None = None
    try:
        port = wait_until(lambda: cloud_out.find(r"serving edges on wss://127\.0\.0\.1:(\d+)/"), timeout_s=30).group(1)
        edge_conf = site / "conf" / "edge.yaml"
        edge_conf.write_text(edge_conf.read_text().replace("wss://127.0.0.1:10000/", f"wss://127.0.0.1:{port}/"))
        edge = start(site)
        edge_out = Output(edge)
        wait_until(lambda: cloud_out.find(r"cloudhub: node edge-node connected"), timeout_s=30, what="the edge connected")
        # The node shows in kubectl once edged reports its status; this edge runs its hub only.
        applied = run(site, "ctl", "create", "configmap", "greeting", "--from-literal=message=hello")
        listed = run(site, "ctl", "get", "configmaps", "-o", "name")

        for process in (edge, cloud):
            process.send_signal(signal.SIGTERM)
        edge.wait(30)
        cloud.wait(30)
    finally:
        for process in (edge, cloud):
            if process is not None:
                process.kill()

    assert certs.returncode == 0 and "wrote the CA" in certs.stdout
    written = sorted(p.name for p in (site / "certs").iterdir())
    assert written == ["admin.crt", "admin.key", "ca.crt", "ca.key", "cloudhub.crt", "cloudhub.key", "edge.crt", "edge.key", "kubeconfig"]
    assert (site / "certs" / "edge.key").stat().st_mode & 0o777 == 0o600
    assert (applied.returncode, applied.stdout) == (0, "configmap/greeting created\n"), applied.stderr
    assert "configmap/greeting\n" in listed.stdout
    assert edge.returncode == 0 and cloud.returncode == 0, edge_out.text + cloud_out.text
    assert "hub: connected to the cloud" in edge_out.text and "not verified" not in edge_out.text
    assert "cloudhub: node edge-node connected" in cloud_out.text


def test_certs_keeps_what_exists_and_replaces_it_with_force(site: Path) -> None:
    run(site, "certs")
    ca_before = (site / "certs" / "ca.crt").read_bytes()
    edge_before = (site / "certs" / "edge.crt").read_bytes()

    kept = run(site, "certs")
    forced = run(site, "certs", "--force", "--node-id", "edge-2")

    assert "kept the CA" in kept.stdout and (site / "certs" / "ca.crt").read_bytes() == ca_before
    assert "wrote the edge certificate" in forced.stdout and "edge-2" in forced.stdout
    assert (site / "certs" / "edge.crt").read_bytes() != edge_before


def test_the_cloud_without_its_certificate_exits_with_one_clear_line(site: Path) -> None:
    result = run(site, "cloud")

    assert result.returncode == 2
    assert result.stderr.startswith("kubeedge-cloud: cannot load the cloud hub certificate")
    assert len(result.stderr.splitlines()) == 1
