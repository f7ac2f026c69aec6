"""The examples run as the README shows them: the image command, and the runtime embedded in a
program with a sixth actor of its own (``examples/embed_uptime.py``)."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from examples.busybox_image import BUSYBOX
from tests.integration.quickstart_site import REPO, QuickstartSite
from tests.services import service_missing


def run(folder: Path, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=folder, env=QuickstartSite(folder).environment(), capture_output=True, text=True, timeout=120)


@pytest.fixture
def image_reference(docker_client: Any) -> Iterator[str]:
    if not BUSYBOX.is_file():
        service_missing(f"{BUSYBOX} is missing (Debian package busybox-static)")
    reference = f"kubeedge-actors/busybox:examples-{uuid.uuid4().hex[:8]}"
    yield reference
    with contextlib.suppress(docker.errors.ImageNotFound):
        docker_client.images.remove(reference)


IMAGE_TOOL = REPO / "examples" / "busybox_image.py"


def test_the_image_command_imports_an_image_that_runs_and_then_keeps_it(tmp_path: Path, docker_client: Any, image_reference: str) -> None:
    first = run(tmp_path, sys.executable, str(IMAGE_TOOL), image_reference)
    again = run(tmp_path, sys.executable, str(IMAGE_TOOL), image_reference)
    command = ["sh", "-c", "echo hello from $(basename $(readlink /bin/cat))"]
    said = docker_client.containers.run(image_reference, command, remove=True, network_mode="host")  # as pods run

    assert (first.returncode, first.stdout) == (0, f"imported {image_reference}\n"), first.stderr
    assert (again.returncode, again.stdout) == (0, f"kept {image_reference} (--force imports it again)\n")
    assert said == b"hello from busybox\n"


def test_the_image_command_without_docker_says_so_in_one_line(tmp_path: Path) -> None:
    result = run(tmp_path, sys.executable, str(IMAGE_TOOL), "--docker-address", f"unix://{tmp_path}/no-docker.sock")

    assert result.returncode == 2
    assert result.stderr.startswith(f"error: cannot reach Docker at unix://{tmp_path}/no-docker.sock")
    assert len(result.stderr.splitlines()) == 1


def test_embed_uptime_runs_the_five_modules_and_its_own_sixth(tmp_path: Path) -> None:
    QuickstartSite(tmp_path).write_conf()

    result = run(tmp_path, sys.executable, str(REPO / "examples" / "embed_uptime.py"))

    assert result.returncode == 0, result.stderr
    match = re.fullmatch(r"modules: (.+); uptime reply: \{'uptime_s': ([0-9.]+)\}\n", result.stdout)
    assert match is not None, result.stdout
    assert match[1].split(", ") == ["metaManager", "twin", "eventbus", "edged", "websocket", "uptime"]
