"""Logs and exec from the cloud side (issue 13, item 6), as a user drives them with kubectl
(``ctl``, kubectl with the site's kubeconfig) and as the control API serves them.

A cloud hub process and an edge process (real TLS websocket, real dockerd) run a pod that prints
a numbered line every fifth of a second. ``ctl logs -f`` follows it until Ctrl-C, after which
the edge closes the Docker stream; ``exec`` returns the command's output and exit code; both
fail with a clear error for an unknown pod or container and for a node that is offline
(docs/protocol.md#9.5).
"""

from __future__ import annotations

import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeedge_actors.testing import wait_until
from tests.integration.scenario import Scenario
from tests.integration.sites import CloudHubProcess, ctl_command

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]

PODS = """\
apiVersion: v1
kind: Pod
metadata: {{name: talker}}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
  - name: talker
    image: {image}
    command: ["sh", "-c", "trap 'exit 0' TERM; i=0; while true; do i=$((i+1)); echo line $i; sleep 0.2; done"]
---
apiVersion: v1
kind: Pod
metadata: {{name: pair}}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
  - name: first
    image: {image}
    command: ["sh", "-c", "echo I am first; trap 'exit 0' TERM; while true; do sleep 1; done"]
  - name: second
    image: {image}
    command: ["sh", "-c", "echo I am second >&2; trap 'exit 0' TERM; while true; do sleep 1; done"]
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, docker_client: Any, busybox_image: str) -> Iterator[Scenario]:
    """One cloud, one edge and the two pods for every test here (they change nothing but the link)."""
    tmp_path = tmp_path_factory.mktemp("streams")
    with Scenario(tmp_path, docker_client) as running:
        running.cloud.start()
        running.edge.start()
        running.wait_node("connected")
        manifest = tmp_path / "pods.yaml"
        manifest.write_text(PODS.format(node=running.node_id, image=busybox_image))
        assert isinstance(running.cloud, CloudHubProcess)
        applied = running.cloud.ctl("apply", "-f", str(manifest))  # kubectl: the pods are in the Kubernetes API too
        assert applied.returncode == 0, applied.stderr
        running.wait_pod("talker", "Running")
        running.wait_pod("pair", "Running")
        yield running


@pytest.fixture
def scenario(site: Scenario) -> Scenario:
    site.uplink.restore()  # a test that cut the link may have failed before restoring it
    site.wait_node("connected")
    return site


class FollowedLogs:
    """``ctl logs -f`` (kubectl) in its own process, its output collected as it comes."""

    def __init__(self, cloud: CloudHubProcess, *args: str) -> None:
        command = ctl_command("logs", *args)
        env = cloud.ctl_environment()
        self.process = subprocess.Popen(command, cwd=cloud.site, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def interrupt(self) -> int:
        """Ctrl-C, as a user stops it; the exit code."""
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(30)
        self._reader.join(10)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def numbers(lines: list[str]) -> list[int]:
    return [int(line.split()[1]) for line in lines if line.startswith("line ")]


def test_logs_follow_the_container_while_it_prints_and_ctrl_c_closes_the_docker_stream(scenario: Scenario) -> None:
    assert isinstance(scenario.cloud, CloudHubProcess)
    followed = FollowedLogs(scenario.cloud, "talker", "-f")
    try:
        wait_until(lambda: len(numbers(followed.lines)) >= 5, 60, 0.1, "five lines followed")
        seen = numbers(followed.lines)[-1]
        wait_until(lambda: numbers(followed.lines)[-1] >= seen + 3, 30, 0.1, "newer lines while the container prints")
        code = followed.interrupt()
    finally:
        followed.kill()

    got = numbers(followed.lines)
    assert code == 130
    assert got == list(range(1, len(got) + 1))  # from the first line, none lost or doubled
    wait_until(lambda: "closed: the cloud closed it" in scenario.edge.log(), 30, 0.2, "the edge closed the stream")


def test_logs_without_follow_print_the_tail_and_end(scenario: Scenario) -> None:
    wait_until(lambda: numbers(scenario.cloud.control("logs", "talker").stdout.splitlines())[-1:] >= [4], 60, 0.2, "four lines printed")

    tail = scenario.cloud.control("logs", "talker", "--tail", "2")
    recent = scenario.cloud.control("logs", "talker", "--since", "1h")

    assert tail.returncode == 0, tail.stderr
    [before, last] = numbers(tail.stdout.splitlines())
    assert last == before + 1
    assert numbers(recent.stdout.splitlines())[:2] == [1, 2]


def test_ctrl_c_on_a_quiet_followed_log_closes_the_docker_stream_too(scenario: Scenario) -> None:
    assert isinstance(scenario.cloud, CloudHubProcess)
    before = scenario.edge.log().count("closed: the cloud closed it")
    followed = FollowedLogs(scenario.cloud, "pair", "-c", "first", "-f")
    try:
        wait_until(lambda: followed.lines == ["I am first"], 60, 0.1, "the one line the container printed")
        code = followed.interrupt()  # nothing more is written: the cloud notices the reader left while idle
    finally:
        followed.kill()

    assert code == 130
    wait_until(lambda: scenario.edge.log().count("closed: the cloud closed it") > before, 30, 0.2, "the edge closed the stream")


def test_the_api_answers_kubectls_log_request_with_the_raw_log(scenario: Scenario) -> None:
    with scenario.cloud.api.stream("GET", "namespaces/default/pods/pair/log", query={"container": "second"}) as response:
        body = response.read()

    assert (response.status, response.headers["Content-Type"], body) == (200, "text/plain; charset=utf-8", b"I am second\n")


def test_logs_of_a_pod_with_two_containers_need_the_container_named(scenario: Scenario) -> None:
    unnamed = scenario.cloud.control("logs", "pair")
    second = scenario.cloud.control("logs", "pair", "-c", "second")
    wrong = scenario.cloud.control("logs", "pair", "-c", "third")

    choose = "error: a container name must be specified for pod pair, choose one of: [first second]\n"
    assert (unnamed.returncode, unnamed.stderr) == (1, choose)
    assert (second.returncode, second.stdout) == (0, "I am second\n")  # kubectl logs merges stdout and stderr
    assert wrong.returncode == 1 and "container third is not valid for pod pair" in wrong.stderr


def test_exec_returns_the_output_on_each_channel_and_the_exit_code(scenario: Scenario) -> None:
    ran = scenario.cloud.control("exec", "talker", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    listed = scenario.cloud.control("exec", "pair", "-c", "first", "--", "cat", "/proc/1/cmdline")
    missing = scenario.cloud.control("exec", "talker", "--", "no-such-command")

    assert (ran.returncode, ran.stdout, ran.stderr) == (3, "out\n", "err\n")
    assert listed.returncode == 0 and "I am first" in listed.stdout
    assert missing.returncode != 0 and "no-such-command" in missing.stdout + missing.stderr


def test_logs_and_exec_of_an_unknown_pod_say_it_is_not_found(scenario: Scenario) -> None:
    logs = scenario.cloud.control("logs", "nobody")
    ran = scenario.cloud.control("exec", "nobody", "--", "true")

    assert (logs.returncode, logs.stderr) == (1, 'error: pod "nobody" not found in namespace default\n')
    assert (ran.returncode, ran.stderr) == (1, 'error: pod "nobody" not found in namespace default\n')


def test_logs_and_exec_fail_at_once_while_the_node_is_offline_and_work_again_after(scenario: Scenario) -> None:
    scenario.uplink.cut()
    scenario.wait_node("disconnected")

    logs = scenario.cloud.control("logs", "talker")
    ran = scenario.cloud.control("exec", "talker", "--", "true")
    scenario.uplink.restore()
    scenario.wait_node("connected")
    again = scenario.cloud.control("exec", "talker", "--", "echo", "back")

    assert (logs.returncode, logs.stderr) == (1, f"error: node {scenario.node_id} is not connected: cannot reach pod talker\n")
    assert ran.returncode == 1 and "is not connected" in ran.stderr
    assert (again.returncode, again.stdout) == (0, "back\n")


def test_a_followed_log_ends_with_an_error_when_the_node_goes_offline(scenario: Scenario) -> None:
    assert isinstance(scenario.cloud, CloudHubProcess)
    followed = FollowedLogs(scenario.cloud, "talker", "-f")
    try:
        wait_until(lambda: len(numbers(followed.lines)) >= 2, 60, 0.1, "two lines followed")
        scenario.uplink.cut()
        code = followed.process.wait(60)
    finally:
        followed.kill()
        scenario.uplink.restore()

    assert followed.process.stderr is not None
    error = followed.process.stderr.read()
    # The body cut short, as from a kubelet gone away: kubectl fails instead of ending as if done.
    assert code == 1 and "unexpected EOF" in error, error
