"""Tier 3 (issue 13): probes, init containers and hooks on real Docker, driven as a user drives
them — ``python -m kubeedge_cloud ctl apply/get/delete`` against a real cloud hub, a real edge
process (``python -m kubeedge_actors``) running the pods. What is checked is what the cloud
shows (``ctl get pods``, the status the edge reported) and what Docker ran."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeedge_actors.testing import wait_until
from tests.edged.docker_support import exec_in
from tests.integration.scenario import Scenario
from tests.integration.sites import REPO
from tests.services import free_port

pytestmark = pytest.mark.docker

HEAD = """\
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: {grace}
"""


@pytest.fixture
def scenario(tmp_path: Path, docker_client: Any, busybox_image: str) -> Iterator[Scenario]:
    with Scenario(tmp_path, docker_client) as running:
        running.image = busybox_image  # type: ignore[attr-defined]
        running.cloud.start()
        running.edge.start()
        running.wait_node("connected")
        yield running


def apply(scenario: Scenario, name: str, spec: str, grace: int = 1) -> None:
    """``ctl apply -f`` a pod: the head above, then ``spec`` (the rest of the pod's spec, YAML)."""
    manifest = scenario.folder / f"{name}.yaml"
    image: str = scenario.image  # type: ignore[attr-defined]
    manifest.write_text(HEAD.format(name=name, node=scenario.node_id, grace=grace) + spec.replace("IMAGE", image))
    result = scenario.cloud.control("apply", "-f", str(manifest))
    assert result.returncode == 0, result.stderr


def ctl_row(scenario: Scenario, name: str) -> list[str]:
    """The pod's row of ``ctl get pods``: NAME READY STATUS RESTARTS NODE AGE."""
    result = scenario.cloud.control("get", "pods")
    assert result.returncode == 0, result.stderr
    return next((line.split() for line in result.stdout.splitlines() if line.split()[:1] == [name]), [])


def wait_row(scenario: Scenario, name: str, ready: str, status: str, *, restarts: str | None = None, timeout_s: float = 60.0) -> list[str]:
    def shown() -> list[str] | bool:
        row = ctl_row(scenario, name)
        matches = row[1:3] == [ready, status] and (restarts is None or row[3] == restarts)
        return row if matches else False

    return wait_until(shown, timeout_s, 0.3, f"ctl get pods showing {name} {ready} {status} (restarts {restarts})")


def reported(scenario: Scenario, name: str) -> dict[str, Any]:
    """The pod status the edge reported last, as the cloud keeps it."""
    row = scenario.pod(name) or {}
    return dict(row.get("status") or {})


def condition(status: dict[str, Any], kind: str) -> str:
    return next((c["status"] for c in status.get("conditions") or [] if c["type"] == kind), "")


def one_running(scenario: Scenario, pod: str) -> Any:
    return wait_until(lambda: (found := scenario.running_containers(pod)) and len(found) == 1 and found[0], 60, 0.2, f"{pod} running")


# --- probes -----------------------------------------------------------------------------------------


def test_a_liveness_probe_restarts_a_container_that_stops_answering_http(scenario: Scenario) -> None:
    port = free_port()
    apply(
        scenario,
        "web",
        f"""\
  containers:
  - name: web
    image: IMAGE
    command: ["sh", "-c", "mkdir -p /www && echo ok > /www/healthz && exec httpd -f -p {port} -h /www"]
    livenessProbe:
      httpGet: {{path: /healthz, port: {port}}}
      periodSeconds: 1
      failureThreshold: 2
""",
    )
    wait_row(scenario, "web", "1/1", "Running", restarts="0")
    first = one_running(scenario, "web")

    exec_in(first, "rm", "/www/healthz")  # httpd answers 404 from now on

    wait_row(scenario, "web", "1/1", "Running", restarts="1")
    [second] = scenario.running_containers("web")
    assert second.id != first.id
    last = reported(scenario, "web")["containerStatuses"][0]["lastState"]["terminated"]
    assert last["containerID"] == f"docker://{first.id}"


def test_readiness_flips_ready_both_ways_without_a_restart(scenario: Scenario) -> None:
    apply(
        scenario,
        "ready",
        """\
  containers:
  - name: app
    image: IMAGE
    command: ["sh", "-c", "touch /tmp/ready; exec sleep 3600"]
    readinessProbe:
      exec: {command: [cat, /tmp/ready]}
      periodSeconds: 1
      failureThreshold: 1
""",
    )
    wait_row(scenario, "ready", "1/1", "Running")
    container = one_running(scenario, "ready")
    assert condition(reported(scenario, "ready"), "Ready") == "True"

    exec_in(container, "rm", "/tmp/ready")
    wait_row(scenario, "ready", "0/1", "Running")
    unready = reported(scenario, "ready")
    exec_in(container, "touch", "/tmp/ready")
    wait_row(scenario, "ready", "1/1", "Running", restarts="0")

    assert (condition(unready, "Ready"), condition(unready, "ContainersReady")) == ("False", "False")
    assert condition(reported(scenario, "ready"), "Ready") == "True"
    assert [c.id for c in scenario.running_containers("ready")] == [container.id]


def test_a_startup_probe_holds_liveness_back_until_the_app_has_started(scenario: Scenario) -> None:
    apply(
        scenario,
        "slow",
        """\
  containers:
  - name: app
    image: IMAGE
    command: ["sh", "-c", "sleep 4; touch /tmp/started; exec sleep 3600"]
    startupProbe:
      exec: {command: [cat, /tmp/started]}
      periodSeconds: 1
      failureThreshold: 30
    livenessProbe:
      exec: {command: [cat, /tmp/started]}
      periodSeconds: 1
      failureThreshold: 1
""",
    )
    starting = wait_until(
        lambda: (s := reported(scenario, "slow")) and s.get("phase") == "Running" and s, 60, 0.2, "the pod running, not started"
    )

    wait_row(scenario, "slow", "1/1", "Running", restarts="0")

    assert starting["containerStatuses"][0]["started"] is False and starting["containerStatuses"][0]["ready"] is False
    assert reported(scenario, "slow")["containerStatuses"][0]["started"] is True


# --- init containers ----------------------------------------------------------------------------------


def test_two_init_containers_run_in_order_before_the_app(scenario: Scenario) -> None:
    apply(
        scenario,
        "inits",
        """\
  volumes: [{name: work, emptyDir: {}}]
  initContainers:
  - {name: first, image: IMAGE, command: ["sh", "-c", "sleep 1; echo first >> /work/log"], volumeMounts: [{name: work, mountPath: /work}]}
  - {name: second, image: IMAGE, command: ["sh", "-c", "echo second >> /work/log"], volumeMounts: [{name: work, mountPath: /work}]}
  containers:
  - {name: app, image: IMAGE, command: ["sh", "-c", "exec sleep 3600"], volumeMounts: [{name: work, mountPath: /work}]}
""",
    )
    initializing = wait_until(lambda: (row := ctl_row(scenario, "inits")) and row[2].startswith("Init:") and row, 60, 0.1, "Init:N/2")

    wait_row(scenario, "inits", "1/1", "Running")

    assert initializing[2] in ("Init:0/2", "Init:1/2")
    app = one_running(scenario, "inits")
    assert exec_in(app, "cat", "/work/log").split() == ["first", "second"]
    status = reported(scenario, "inits")
    assert [s["state"]["terminated"]["reason"] for s in status["initContainerStatuses"]] == ["Completed", "Completed"]
    assert condition(status, "Initialized") == "True"


def test_a_failing_init_container_goes_into_back_off_and_the_app_never_starts(scenario: Scenario) -> None:
    apply(
        scenario,
        "broken",
        """\
  initContainers:
  - {name: setup, image: IMAGE, command: ["sh", "-c", "exit 3"]}
  containers:
  - {name: app, image: IMAGE, command: ["sleep", "3600"]}
""",
    )

    wait_row(scenario, "broken", "0/1", "Init:CrashLoopBackOff")

    status = reported(scenario, "broken")
    assert condition(status, "Initialized") == "False" and status["phase"] == "Pending"
    assert status["initContainerStatuses"][0]["lastState"]["terminated"]["exitCode"] == 3
    assert [c.labels["io.kubernetes.container.name"] for c in scenario.containers("broken")] == ["setup"] * len(
        scenario.containers("broken")
    )


def test_a_failed_init_container_fails_a_pod_that_never_restarts(scenario: Scenario) -> None:
    apply(
        scenario,
        "once",
        """\
  restartPolicy: Never
  initContainers:
  - {name: setup, image: IMAGE, command: ["sh", "-c", "exit 3"]}
  containers:
  - {name: app, image: IMAGE, command: ["sleep", "3600"]}
""",
    )

    wait_row(scenario, "once", "0/1", "Init:Error")

    assert reported(scenario, "once")["phase"] == "Failed"


# --- hooks ---------------------------------------------------------------------------------------------


def test_pre_stop_runs_before_sigterm_when_the_pod_is_deleted(scenario: Scenario, tmp_path: Path) -> None:
    events = tmp_path / "events"
    events.mkdir()
    apply(
        scenario,
        "hooked",
        f"""\
  volumes: [{{name: events, hostPath: {{path: {events}}}}}]
  containers:
  - name: app
    image: IMAGE
    command: ["sh", "-c", "trap 'echo sigterm >> /events/log; exit 0' TERM; while true; do sleep 0.2; done"]
    volumeMounts: [{{name: events, mountPath: /events}}]
    lifecycle:
      postStart: {{exec: {{command: ["sh", "-c", "echo postStart >> /events/log"]}}}}
      preStop: {{exec: {{command: ["sh", "-c", "echo preStop >> /events/log"]}}}}
""",
        grace=10,
    )
    wait_row(scenario, "hooked", "1/1", "Running")

    result = scenario.cloud.control("delete", "pod", "hooked")
    assert result.returncode == 0, result.stderr
    wait_until(lambda: not scenario.containers("hooked"), 60, 0.2, "the pod's container removed")

    assert (events / "log").read_text().split() == ["postStart", "preStop", "sigterm"]


def test_the_termination_message_comes_from_the_file_or_falls_back_to_the_logs(scenario: Scenario) -> None:
    apply(
        scenario,
        "ends",
        """\
  restartPolicy: Never
  containers:
  - {name: file, image: IMAGE, command: ["sh", "-c", "echo disk full > /dev/termination-log; exit 1"]}
  - name: logs
    image: IMAGE
    command: ["sh", "-c", "echo last words; exit 2"]
    terminationMessagePolicy: FallbackToLogsOnError
""",
    )

    wait_row(scenario, "ends", "0/2", "Failed")

    states = {s["name"]: s["state"]["terminated"] for s in reported(scenario, "ends")["containerStatuses"]}
    assert (states["file"]["exitCode"], states["file"]["message"]) == (1, "disk full\n")
    assert (states["logs"]["exitCode"], states["logs"]["message"]) == (2, "last words\n")


# --- the example -----------------------------------------------------------------------------------------


def test_the_example_pod_with_probes_and_an_init_container_serves_its_page(scenario: Scenario) -> None:
    manifest = scenario.folder / "probed.yaml"
    manifest.write_text((REPO / "examples" / "manifests" / "probed.yaml").read_text().replace("edge-node", scenario.node_id))
    image: str = scenario.image  # type: ignore[attr-defined]
    manifest.write_text(manifest.read_text().replace("kubeedge-actors/busybox:quickstart", image))

    applied = scenario.cloud.control("apply", "-f", str(manifest))

    assert applied.returncode == 0, applied.stderr
    wait_row(scenario, "probed", "1/1", "Running", restarts="0")
    with urllib.request.urlopen("http://127.0.0.1:18080/index.html", timeout=5) as page:
        assert page.read().decode().strip() == f"hello from probed on {scenario.node_id}"
    with urllib.request.urlopen("http://127.0.0.1:18080/podinfo/labels", timeout=5) as labels:
        assert labels.read().decode() == 'app="probed"'  # the downward API volume, as the kubelet writes it
