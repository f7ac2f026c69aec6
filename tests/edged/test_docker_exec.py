"""The Docker adapter's exec (probes and hooks) against the real daemon: exit code, output, timeout."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from actors.edged.model import NODE_ID_LABEL
from actors.edged.runtime import DockerContainerRuntime

pytestmark = pytest.mark.docker


@pytest.fixture
def container(docker_client: Any, busybox_image: str) -> Iterator[Any]:
    node = f"exec-{uuid.uuid4().hex[:8]}"
    running = docker_client.containers.run(busybox_image, ["sleep", "600"], detach=True, labels={NODE_ID_LABEL: node}, network_mode="host")
    yield running
    running.remove(force=True, v=True)


@pytest.fixture
def runtime() -> Iterator[DockerContainerRuntime]:
    adapter = DockerContainerRuntime("unix:///var/run/docker.sock", "exec-test")
    yield adapter
    adapter.close()


def test_exec_gives_the_commands_exit_code_and_output(runtime: DockerContainerRuntime, container: Any) -> None:
    result = runtime.exec_command(container.id, ("sh", "-c", "echo out; echo err >&2; exit 3"), 10.0)

    assert (result.exit_code, result.timed_out) == (3, False)
    assert sorted(result.output.split()) == ["err", "out"]


def test_exec_of_a_command_that_outlives_its_timeout_says_it_timed_out(runtime: DockerContainerRuntime, container: Any) -> None:
    result = runtime.exec_command(container.id, ("sleep", "30"), 1.0)

    assert (result.exit_code, result.timed_out) == (None, True)
