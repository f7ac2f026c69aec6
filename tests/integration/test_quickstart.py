"""The README's quickstart, run as a newcomer runs it, on real Docker, TLS, MQTT and SQLite.

``scripts/edge`` with the shipped conf (only ports and the node id changed) writes the
certificates and kubectl's kubeconfig, starts a local cloud hub and the edge; kubectl applies
``examples/manifests/hello.yaml``; the pod runs with its configmap as a file and its secret as
env; the README's kubectl commands (get nodes, get pods -o wide, describe, logs) print what
they should with each kubectl the tests run; ``examples/device_app.py`` reports twin values on
the edge's embedded broker and the Device's ``status.twins`` in ``ctl get device`` (kubectl)
show them; ``kubectl delete`` (seen by ``get -w``) removes the container, and stopping
``scripts/edge`` stops all it started.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kubeedge_actors.testing import wait_until
from tests.integration.quickstart_site import (
    REPO,
    DeviceAppWatch,
    QuickstartSite,
    ScriptsEdge,
    node_containers,
    require_quickstart_image,
    scripts_edge_running,
    wait_for_node,
    wait_for_twin,
)
from tests.kube.site import kubectl_binaries
from tests.services import wait_for_port


@pytest.fixture
def site(tmp_path: Path) -> QuickstartSite:
    return QuickstartSite(tmp_path).write_conf()


@pytest.fixture
def edge(site: QuickstartSite, docker_client: Any) -> Iterator[ScriptsEdge]:
    require_quickstart_image(docker_client)
    with scripts_edge_running(site, docker_client) as running:
        yield running


def the_hello_container(docker_client: Any, site: QuickstartSite) -> Any:
    [container] = [c for c in node_containers(docker_client, site.node_id, "hello") if c.status == "running"]
    return container


def kubectl_rows(site: QuickstartSite, kubectl: str, *args: str, check: bool = True) -> list[list[str]]:
    """The lines of ``kubectl get ARGS`` split into cells; without ``check`` none while it fails
    (before scripts/edge has written the kubeconfig and started the cloud side)."""
    done = site.kubectl(kubectl, "get", *args)
    assert done.returncode == 0 or not check, done.stderr
    return [line.split() for line in done.stdout.splitlines()] if done.returncode == 0 else []


def test_the_quickstart_runs_as_the_readme_shows_and_stops_leaving_nothing_behind(
    site: QuickstartSite, edge: ScriptsEdge, docker_client: Any
) -> None:
    # scripts/edge: certificates and kubectl's kubeconfig, a local cloud hub, the edge connected to it.
    kubectl, *other_kubectls = kubectl_binaries().values()
    node = wait_until(
        lambda: next((row for row in kubectl_rows(site, kubectl, "nodes", check=False)[1:] if row[:2] == [site.node_id, "Ready"]), None),
        timeout_s=120,
        interval_s=0.5,
        what="kubectl get nodes showing the edge Ready",
    )

    applied = site.kubectl(kubectl, "apply", "-f", str(site.manifest("hello.yaml")))
    running = ["hello", "1/1", "Running"]
    pod = wait_until(
        lambda: next((row for row in kubectl_rows(site, kubectl, "pods", "-o", "wide")[1:] if row[:3] == running), None),
        timeout_s=60,
        interval_s=0.2,
        what="kubectl get pods showing hello Running",
    )
    container = the_hello_container(docker_client, site)
    greeting = container.exec_run(["cat", "/etc/greeting/message.txt"]).output.decode()
    password = container.exec_run(["sh", "-c", "echo $PASSWORD"]).output.decode()
    logs = wait_until(lambda: "password has" in (text := container.logs().decode()) and text, timeout_s=30, what="the container's output")

    device = site.ctl("apply", "-f", str(site.manifest("thermometer.yaml")))
    watch = DeviceAppWatch(site, "thermometer-1")
    try:
        # The membership reaches the edge just after ctl returns, and the watch subscribes
        # meanwhile: report until the watch has seen the edge's answer.
        wait_until(
            lambda: (
                site.device_app("report", "thermometer-1", "target-temperature", "21.0", "--type", "float").returncode == 0
                and "thermometer-1/twin/update/document" in watch.output
            ),
            timeout_s=30,
            interval_s=0.5,
            what="the device app's report seen by its watch",
        )
        unasked = site.device_app("report", "thermometer-1", "temperature", "20.5", "--type", "float")
        state = site.device_app("state", "thermometer-1", "online")
        # The twins the edge reported, in the Device's status (the state is not in the Kubernetes API).
        wait_for_twin(site, "thermometer-1", "target-temperature", desired="21.5", reported="21.0")
        wait_for_twin(site, "thermometer-1", "temperature", desired=None, reported="20.5")
        twin = site.device_app("get", "thermometer-1")
        watched = watch.interrupt()
    finally:
        watch.kill()

    # The README's kubectl commands, with each kubectl the tests run (the newest and Debian's).
    readings = {binary: readme_kubectl_commands(site, binary) for binary in [kubectl, *other_kubectls]}
    get_w = [kubectl, "get", "pods", "-w"]
    pods_watch = subprocess.Popen(get_w, cwd=site.folder, env=site.kubectl_env(), stdout=subprocess.PIPE, text=True)
    pods_watched: list[str] = []
    threading.Thread(target=lambda: pods_watched.extend(pods_watch.stdout or ()), daemon=True).start()
    try:
        wait_until(lambda: pods_watched, timeout_s=30, what="kubectl get -w listing the pod")
        deleted_pod = site.kubectl(kubectl, "delete", "-f", str(site.manifest("hello.yaml")))
        wait_until(lambda: any("Terminating" in line for line in pods_watched), timeout_s=30, what="get -w showing hello Terminating")
    finally:
        pods_watch.terminate()
        pods_watch.wait(10)
    deleted = site.ctl("delete", "-f", str(site.manifest("thermometer.yaml")))
    wait_until(lambda: not node_containers(docker_client, site.node_id), timeout_s=60, interval_s=0.5, what="the container removed")
    gone = site.kubectl(kubectl, "get", "pods")
    code = edge.stop()

    output = edge.output
    assert "wrote the edge certificate" in output and "starting one" in output
    assert f"kubectl drives this node: export KUBECONFIG={site.folder / 'certs' / 'kubeconfig'}" in output
    assert node[2] == "edge"
    assert applied.stdout == "pod/hello created\nconfigmap/greeting created\nsecret/credentials created\n", applied.stderr
    assert pod[3] == "0" and pod[6] == site.node_id
    for binary, reading in readings.items():
        assert reading.nodes[1][:3] == [site.node_id, "Ready", "edge"], binary
        assert reading.pods[1][:3] == ["hello", "1/1", "Running"] and reading.pods[1][6] == site.node_id, binary
        assert f"Node:         {site.node_id}/" in reading.described and "Status:       Running" in reading.described, binary
        assert "/etc/greeting from greeting" in reading.described, binary
        assert reading.logs.startswith("Hello from the cloud, served from the edge's SQLite when the cloud is away.\n"), binary
    assert pods_watched[0].split()[:3] == ["NAME", "READY", "STATUS"] and pods_watched[1].split()[:3] == ["hello", "1/1", "Running"]
    assert deleted_pod.stdout.splitlines() == ['pod "hello" deleted', 'configmap "greeting" deleted', 'secret "credentials" deleted']
    assert gone.stderr.strip() == "No resources found in default namespace."
    assert greeting == "Hello from the cloud, served from the edge's SQLite when the cloud is away."
    assert password == "s3cr3t\n"
    assert logs.startswith(greeting + "\npassword has 6 characters\n")
    assert (device.returncode, unasked.returncode, state.returncode, twin.returncode) == (0, 0, 0, 0), unasked.stdout + state.stdout
    assert device.stdout == "device.devices.kubeedge.io/thermometer-1 created\n", device.stderr
    assert '"21.0"' in twin.stdout and '"20.5"' in twin.stdout
    assert watched == 0 and "thermometer-1/twin/update/delta" in watch.output
    assert deleted.stdout == 'device.devices.kubeedge.io "thermometer-1" deleted\n', deleted.stderr
    assert code == 0, output
    assert "rejected" not in output
    assert "stopping the cloud hub this script started" in output and "runtime: stopped" in output
    with pytest.raises(TimeoutError):
        wait_for_port(site.cloud_port, timeout_s=0.5)
    assert not node_containers(docker_client, site.node_id)


@dataclass(frozen=True)
class KubectlReading:
    """What the README's read-only kubectl commands print."""

    nodes: list[list[str]]
    pods: list[list[str]]
    described: str
    logs: str


def readme_kubectl_commands(site: QuickstartSite, kubectl: str) -> KubectlReading:
    described = site.kubectl(kubectl, "describe", "pod", "hello")
    logs = site.kubectl(kubectl, "logs", "hello")
    assert described.returncode == 0 and logs.returncode == 0, described.stderr + logs.stderr
    return KubectlReading(
        kubectl_rows(site, kubectl, "nodes"), kubectl_rows(site, kubectl, "pods", "-o", "wide"), described.stdout, logs.stdout
    )


def ready_condition(site: QuickstartSite, status: str) -> dict[str, Any] | None:
    """The node's Ready condition (``kubectl get node NAME -o json``) when its status is ``status``."""
    conditions = site.get_json("node", site.node_id)["status"].get("conditions") or []
    return next((c for c in conditions if c["type"] == "Ready" and c["status"] == status), None)


def test_scripts_edge_uses_a_cloud_hub_that_already_answers_and_leaves_it_running(site: QuickstartSite) -> None:
    environment = site.environment()
    subprocess.run([sys.executable, "-m", "kubeedge_cloud", "certs"], cwd=site.folder, env=environment, check=True, capture_output=True)
    with (site.folder / "own-cloud.log").open("wb") as log:
        cloud = subprocess.Popen([sys.executable, "-m", "kubeedge_cloud"], cwd=site.folder, env=environment, stdout=log, stderr=log)
    edge = ScriptsEdge(site)
    try:
        wait_for_port(site.cloud_port, timeout_s=30)
        edge.start()
        wait_for_node(site, "Ready")

        code = edge.stop()
        # The cloud hub still answers, and knows the edge went: its Ready condition is Unknown.
        away = wait_until(lambda: ready_condition(site, "Unknown"), timeout_s=60, interval_s=0.5, what="the node's Ready Unknown")
    finally:
        edge.kill_leftovers()
        cloud.terminate()
        cloud.wait(30)

    assert code == 0, edge.output
    assert f"a cloud hub answers on 127.0.0.1:{site.cloud_port}: using it" in edge.output
    assert "stopping the cloud hub" not in edge.output
    assert (away["reason"], away["message"]) == ("NodeStatusUnknown", "The edge is not connected.")
    assert cloud.returncode == 0


def test_scripts_edge_runs_other_commands_without_setting_anything_up(site: QuickstartSite) -> None:
    result = subprocess.run(
        [str(REPO / "scripts" / "edge"), "--config-dir", str(site.conf), "ctl", "get", "nodes"],
        cwd=site.folder,
        env=site.environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 2, result.stderr
    assert f"ctl: no kubeconfig at {site.folder / 'certs' / 'kubeconfig'}: run `python -m kubeedge_cloud certs` first" in result.stderr
    assert not (site.folder / "certs").exists()
