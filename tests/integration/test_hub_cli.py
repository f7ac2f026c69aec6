"""The commands as a user runs them: ``certs``, then ``cloud`` and the edge with the shipped
conf, then ``ctl``: they connect out of the box, and stop cleanly on a signal."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeedge_actors.testing import wait_until
from tests.services import free_port

REPO = Path(__file__).resolve().parents[2]


def command(site: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "kubeedge_actors", *args]


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}


def start(site: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(command(site, *args), cwd=site, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def run(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(site, *args), cwd=site, env=environment(), capture_output=True, text=True, timeout=60)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Path]:
    """The shipped conf on free ports, the edge running only its hub (the others need services)."""
    shutil.copytree(REPO / "conf", tmp_path / "conf")
    port, api_port = free_port(), free_port()
    cloud_conf = tmp_path / "conf" / "cloudhub.yaml"
    text = re.sub(r"(?m)^  port: \d+", f"  port: {port}", cloud_conf.read_text())
    cloud_conf.write_text(re.sub(r"(?m)^  api-port: \d+", f"  api-port: {api_port}", text))
    edge_conf = tmp_path / "conf" / "edge.yaml"
    edge_conf.write_text(edge_conf.read_text().replace("wss://127.0.0.1:10000/", f"wss://127.0.0.1:{port}/"))
    (tmp_path / "conf" / "modules.yaml").write_text("modules:\n  enabled: [websocket]\n")
    yield tmp_path


def test_certs_cloud_edge_and_ctl_work_together_out_of_the_box(site: Path) -> None:
    certs = run(site, "certs")
    cloud = subprocess.Popen(
        command(site, "cloud"), cwd=site, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    edge = subprocess.Popen(command(site), cwd=site, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: "connected" in run(site, "ctl", "get", "nodes").stdout.split(), timeout_s=30, what="the edge connected")
        nodes = run(site, "ctl", "get", "nodes").stdout

        for process in (edge, cloud):
            process.send_signal(signal.SIGTERM)
        edge_out, _ = edge.communicate(timeout=30)
        cloud_out, _ = cloud.communicate(timeout=30)
    finally:
        edge.kill()
        cloud.kill()

    assert certs.returncode == 0 and "wrote the CA" in certs.stdout
    assert sorted(p.name for p in (site / "certs").iterdir()) == [
        "ca.crt",
        "ca.key",
        "cloudhub.crt",
        "cloudhub.key",
        "edge.crt",
        "edge.key",
    ]
    assert (site / "certs" / "edge.key").stat().st_mode & 0o777 == 0o600
    assert nodes.splitlines()[1].split()[:3] == ["edge-node", "Unknown", "connected"]
    assert edge.returncode == 0 and cloud.returncode == 0, edge_out + cloud_out
    assert "hub: connected to the cloud" in edge_out and "not verified" not in edge_out
    assert "cloudhub: node edge-node connected" in cloud_out


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
    assert result.stderr.startswith("kubeedge-actors: cannot load the cloud hub certificate")
    assert len(result.stderr.splitlines()) == 1
