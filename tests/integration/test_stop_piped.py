"""Issue 11: Ctrl-C on ``scripts/edge | tee edge.log`` stops everything the script started.

Ctrl-C reaches the whole pipeline's process group, and ``tee`` dies first: from then on every
write of the script and of the edge goes to a dead pipe. The script's clean-up must still stop
the cloud hub it started (and a dockerd it started: that branch is left to reading the code,
as testing it would mean a second dockerd on the machine's default socket). Here a dockerd
already answers, so the script starts none; a ``dockerd`` on PATH that only leaves a mark
makes sure of that, whatever happens.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kubeedge_actors.testing import wait_until
from tests.integration.quickstart_site import REPO, QuickstartSite
from tests.integration.stop_support import processes_naming
from tests.services import wait_for_port

pytestmark = pytest.mark.docker


def read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def dockerd_that_only_leaves_a_mark(folder: Path) -> Path:
    """A folder for the front of PATH holding a ``dockerd`` that touches ``dockerd-started``."""
    folder.mkdir()
    fake = folder / "dockerd"
    fake.write_text(f"#!/bin/sh\ntouch '{folder / 'dockerd-started'}'\nexit 1\n")
    fake.chmod(0o755)
    return folder


def test_ctrl_c_on_scripts_edge_piped_through_tee_stops_the_edge_and_the_cloud_hub_it_started(tmp_path: Path, docker_client: Any) -> None:
    site = QuickstartSite(tmp_path / "site").write_conf()
    shims = dockerd_that_only_leaves_a_mark(tmp_path / "shims")
    log, status = tmp_path / "edge.log", tmp_path / "status"
    # `trap : INT`: the test's shell outlives the Ctrl-C to write down how scripts/edge exited.
    pipeline = f'trap : INT; "{REPO}/scripts/edge" --config-dir "{site.conf}" 2>&1 | tee "{log}"; echo "${{PIPESTATUS[0]}}" >"{status}"'
    environment = {**site.environment(), "PATH": f"{shims}:{os.environ['PATH']}"}
    shell = subprocess.Popen(
        ["bash", "-c", pipeline],
        cwd=site.folder,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until(lambda: "hub: connected to the cloud" in read(log), 300, 0.2, "the edge connected to the script's cloud hub")
        started = processes_naming(str(site.conf))

        os.killpg(shell.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole process group
        shell.wait(60)
        left = processes_naming(str(site.conf))
    finally:
        if shell.poll() is None:
            os.killpg(shell.pid, signal.SIGKILL)
            shell.wait(10)
        for pid in processes_naming(str(site.conf)):
            os.kill(pid, signal.SIGKILL)

    assert len(started) == 4, started  # the shell, scripts/edge, the cloud hub, the edge
    assert left == []
    assert read(status) == "0\n", read(log)[-3000:]
    with pytest.raises(TimeoutError):
        wait_for_port(site.cloud_port, timeout_s=0.5)
    assert "no cloud hub answers" in read(log) and "starting dockerd" not in read(log)
    assert not (shims / "dockerd-started").exists()
    assert docker_client.ping()
