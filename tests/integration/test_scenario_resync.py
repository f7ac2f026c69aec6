"""Scenario (issue 7, item 3): what the cloud changed while the edge was away is done on the
edge after it reconnects — the original's users' most common complaint.

While the edge is away (its uplink cut, also with the cloud hub restarted before it is back,
or its process stopped or killed, or killed and run again offline), the cloud deletes one pod, changes another's environment, deletes and
re-creates a third under the same name, and applies a new one. After the edge is back: the
deleted pod's container is gone, the changed pod runs in a new container with the new value,
the re-created pod runs with its new uid, the new pod runs, and the cloud's view and the
edge's SQLite agree, with one container per pod and no delete left pending.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from kubeedge_actors.testing import wait_until
from tests.integration.scenario import Scenario
from tests.integration.twin_device_app import DeviceApp

pytestmark = pytest.mark.docker

POD = """\
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {image}
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
    env:
    - {{name: VERSION, value: "{version}"}}
"""


@pytest.fixture
def scenario(tmp_path: Path, docker_client: Any, busybox_image: str) -> Iterator[Scenario]:
    with Scenario(tmp_path, docker_client) as running:
        running.cloud.start()
        running.edge.start()
        running.wait_node("connected")
        yield running


def apply(scenario: Scenario, image: str, name: str, version: str) -> None:
    manifest = scenario.folder / f"{name}.yaml"
    manifest.write_text(POD.format(name=name, node=scenario.node_id, image=image, version=version))
    result = scenario.cloud.control("apply", "-f", str(manifest))
    assert result.returncode == 0, result.stderr


def delete(scenario: Scenario, name: str) -> None:
    result = scenario.cloud.control("delete", "pod", name)
    assert result.returncode == 0, result.stderr


def env_of(container: Any) -> dict[str, str]:
    """The container's environment as Docker has it (the listing's copy may be gone since)."""
    try:
        container.reload()
    except docker.errors.NotFound:
        return {}
    return dict(entry.split("=", 1) for entry in container.attrs["Config"]["Env"])


def uid_of(container: Any) -> str:
    return str(container.labels["io.kubernetes.pod.uid"])


def shows_running(scenario: Scenario, row: dict[str, Any]) -> bool:
    """Whether the cloud's status of a pod names the container running for it now."""
    running = scenario.running_containers(row["name"])
    shown = [status.get("containerID") for status in row["status"]["containerStatuses"]]
    return len(running) == 1 and shown == [f"docker://{running[0].id}"]


def pending_deletes(scenario: Scenario) -> int:
    """Deletes the cloud hub has not had acknowledged by the edge (its SQLite file)."""
    with sqlite3.connect(f"file:{scenario.cloud_database}?mode=ro", uri=True) as connection:
        return int(connection.execute("SELECT COUNT(*) FROM cloud_pending_delete").fetchone()[0])


def edge_meta(scenario: Scenario, kind: str) -> dict[str, Any]:
    """The edge's ``meta`` rows of one type, by key."""
    with sqlite3.connect(f"file:{scenario.edge.database}?mode=ro", uri=True) as connection:
        rows = connection.execute("SELECT key, value FROM meta WHERE type = ?", (kind,)).fetchall()
    return {key: json.loads(value) for key, value in rows}


# --- the ways an edge is away, and comes back ---------------------------------------------------


def uplink_cut(scenario: Scenario) -> Callable[[], None]:
    scenario.uplink.cut()
    return scenario.uplink.restore


def uplink_cut_and_cloud_restarted(scenario: Scenario) -> Callable[[], None]:
    """The cloud hub restarts after the changes: they (and the deletes to send) are in its SQLite."""
    scenario.uplink.cut()

    def come_back() -> None:
        assert scenario.cloud.stop() == 0
        scenario.cloud.start()
        scenario.uplink.restore()

    return come_back


def edge_stopped(scenario: Scenario) -> Callable[[], None]:
    assert scenario.edge.stop() == 0
    return scenario.edge.start


def edge_killed(scenario: Scenario) -> Callable[[], None]:
    scenario.edge.kill()
    return scenario.edge.start


def edge_killed_and_run_again_offline(scenario: Scenario) -> Callable[[], None]:
    """The edge restarts while it cannot reach the cloud: it runs the old specs from SQLite first."""
    scenario.uplink.cut()
    scenario.edge.kill()
    scenario.edge.start()
    return scenario.uplink.restore


@pytest.mark.parametrize(
    "go_away",
    [uplink_cut, uplink_cut_and_cloud_restarted, edge_stopped, edge_killed, edge_killed_and_run_again_offline],
    ids=["uplink-cut", "uplink-cut-and-cloud-restarted", "edge-stopped", "edge-killed", "edge-killed-and-run-again-offline"],
)
def test_pods_deleted_changed_recreated_and_applied_while_the_edge_was_away_are_so_on_the_edge_after_it_is_back(
    scenario: Scenario, busybox_image: str, go_away: Callable[[Scenario], Callable[[], None]]
) -> None:
    for name in ("gone", "changed", "replaced"):
        apply(scenario, busybox_image, name, "1")
    for name in ("gone", "changed", "replaced"):
        scenario.wait_pod(name, "Running")
    [changed_before] = scenario.running_containers("changed")
    [replaced_before] = scenario.running_containers("replaced")
    come_back = go_away(scenario)
    scenario.wait_node("disconnected")

    delete(scenario, "gone")
    apply(scenario, busybox_image, "changed", "2")
    delete(scenario, "replaced")
    apply(scenario, busybox_image, "replaced", "1")
    apply(scenario, busybox_image, "new", "1")
    come_back()

    scenario.wait_node("connected")
    wait_until(lambda: not scenario.containers("gone"), 60, 0.2, "the deleted pod's container removed")
    wait_until(lambda: [env_of(c).get("VERSION") for c in scenario.running_containers("changed")] == ["2"], 60, 0.2, "changed recreated")
    scenario.wait_pod("new", "Running")
    replaced_row = scenario.wait_pod("replaced", "Running", check=lambda row: shows_running(scenario, row))
    changed_row = scenario.wait_pod("changed", "Running", check=lambda row: shows_running(scenario, row))
    wait_until(lambda: pending_deletes(scenario) == 0, 30, 0.1, "every delete acknowledged by the edge")
    wait_until(lambda: sorted(scenario.edge.pods()) == ["changed", "new", "replaced"], 30, 0.1, "edged's pods")

    [changed_after] = scenario.running_containers("changed")
    [replaced_after] = scenario.running_containers("replaced")
    cloud_pods = {row["name"]: row for row in scenario.cloud.items("pods")}
    assert changed_after.id != changed_before.id
    assert changed_row["status"]["containerStatuses"][0]["containerID"] == f"docker://{changed_after.id}"
    assert replaced_row["status"]["containerStatuses"][0]["containerID"] == f"docker://{replaced_after.id}"
    assert uid_of(replaced_after) == edge_meta(scenario, "pod")["default/pod/replaced"]["metadata"]["uid"] != uid_of(replaced_before)
    # One running container per pod; only the changed pod's old container is left, exited, for
    # the container GC (as the kubelet keeps it).
    assert sorted(c.labels["io.kubernetes.pod.name"] for c in scenario.containers(status="running")) == ["changed", "new", "replaced"]
    assert [c.id for c in scenario.containers(status="exited")] == [changed_before.id]
    # The cloud and the edge's SQLite agree.
    assert sorted(cloud_pods) == ["changed", "new", "replaced"]
    assert {row["phase"] for row in cloud_pods.values()} == {"Running"}
    assert sorted(edge_meta(scenario, "pod")) == ["default/pod/changed", "default/pod/new", "default/pod/replaced"]
    assert edge_meta(scenario, "pod")["default/pod/changed"]["spec"]["containers"][0]["env"] == [{"name": "VERSION", "value": "2"}]


DEVICE = """\
apiVersion: devices.kubeedge.io/v1alpha1
kind: Device
metadata: {{name: {name}}}
spec:
  nodeSelector: {{nodeSelectorTerms: [{{matchExpressions: [{{key: '', operator: In, values: [{node}]}}]}}]}}
status:
  twins:
  - propertyName: power
    desired: {{metadata: {{type: string}}, value: '{power}'}}
"""


def apply_device(scenario: Scenario, name: str, power: str) -> None:
    manifest = scenario.folder / f"device-{name}.yaml"
    manifest.write_text(DEVICE.format(name=name, node=scenario.node_id, power=power))
    result = scenario.cloud.control("apply", "-f", str(manifest))
    assert result.returncode == 0, result.stderr


def desired_power(app: DeviceApp, device: str) -> Any:
    """The device's desired power at the edge, the error code of its twin get (404: not a
    member), or None while the edge has the device but not yet that twin (the cloud may send
    the member and its desired values one after the other)."""
    answer = app.twin_get(device)
    if answer.get("code"):
        return answer["code"]
    power = answer.get("twin", {}).get("power") or {}
    return (power.get("expected") or {}).get("value")


@pytest.mark.parametrize("go_away", [uplink_cut, edge_killed], ids=["uplink-cut", "edge-killed"])
def test_devices_changed_removed_and_added_while_the_edge_was_away_are_so_on_the_edge_after_it_is_back(
    scenario: Scenario, go_away: Callable[[Scenario], Callable[[], None]]
) -> None:
    apply_device(scenario, "lamp", "on")
    apply_device(scenario, "fan", "on")
    app = scenario.device_app()
    wait_until(lambda: desired_power(app, "fan") == "on", 30, 0.2, "the devices at the edge")
    come_back = go_away(scenario)
    scenario.wait_node("disconnected")

    apply_device(scenario, "lamp", "off")
    assert scenario.cloud.control("delete", "device", "fan").returncode == 0
    apply_device(scenario, "heater", "low")
    come_back()

    scenario.wait_node("connected")
    wait_until(lambda: desired_power(app, "lamp") == "off", 30, 0.2, "lamp's new desired value at the edge")
    wait_until(lambda: desired_power(app, "heater") == "low", 30, 0.2, "the new device at the edge")
    wait_until(lambda: desired_power(app, "fan") == 404, 30, 0.2, "the removed device gone from the edge")
