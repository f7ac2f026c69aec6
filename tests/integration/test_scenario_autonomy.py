"""Scenario (issue 7, item 2): edge autonomy on real services.

A cloud hub process and an edge process (real TLS websocket, real dockerd, real SQLite files,
the edge's embedded MQTT broker) run pods and a device. The cloud hub stops; the edge is
killed with SIGKILL and started again without it: its pods run on from SQLite (the same
containers, adopted), the device app still gets its twins, and what changes meanwhile is kept.
When the cloud hub is back, it sees the current node and pod status and every offline twin
change, with nothing lost or duplicated.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from kubeedge_actors.testing import wait_until
from tests.integration.scenario import Scenario
from tests.services import MosquittoBroker

pytestmark = pytest.mark.docker

PODS = """\
apiVersion: v1
kind: ConfigMap
metadata: {{name: web-config}}
data: {{greeting.txt: hello from the cloud}}
---
apiVersion: v1
kind: Secret
metadata: {{name: web-token}}
stringData: {{TOKEN: s3cret}}
---
apiVersion: v1
kind: Pod
metadata: {{name: web}}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: {image}
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
    env:
    - name: TOKEN
      valueFrom: {{secretKeyRef: {{name: web-token, key: TOKEN}}}}
    volumeMounts: [{{name: conf, mountPath: /etc/web}}]
  volumes:
  - {{name: conf, configMap: {{name: web-config}}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: worker}}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
  - name: worker
    image: {image}
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
"""

DEVICE = """\
apiVersion: devices.kubeedge.io/v1alpha1
kind: Device
metadata: {{name: {device}}}
spec:
  deviceModelRef: {{name: climate-model}}
  nodeSelector:
    nodeSelectorTerms:
    - matchExpressions:
      - {{key: '', operator: In, values: [{node}]}}
status:
  twins:
  - propertyName: temperature
    desired: {{metadata: {{type: string}}, value: '25'}}
  - propertyName: humidity
    desired: {{metadata: {{type: string}}, value: '40'}}
  - propertyName: mode
    desired: {{metadata: {{type: string}}, value: eco}}
"""


@pytest.fixture(params=["embedded-broker", "mosquitto"])
def scenario(request: pytest.FixtureRequest, tmp_path: Path, docker_client: Any, busybox_image: str) -> Iterator[Scenario]:
    """The edge with the shipped conf's embedded broker (dies with the edge), or with
    ``mqtt.mode: 2`` on a Mosquitto that outlives it."""
    values: dict[str, Any] = {}
    if request.param == "mosquitto":
        broker: MosquittoBroker = request.getfixturevalue("mosquitto")
        values = {"mqtt.mode": 2, "mqtt.server": broker.url}
    with Scenario(tmp_path, docker_client, edge_values=values) as running:
        running.cloud.start()
        running.edge.start()
        running.wait_node("connected")
        yield running


def deploy(scenario: Scenario, image: str, device: str) -> None:
    """The pods and the device through ``ctl apply``, as a user deploys them."""
    pods = scenario.folder / "pods.yaml"
    pods.write_text(PODS.format(node=scenario.node_id, image=image))
    devices = scenario.folder / "device.yaml"
    devices.write_text(DEVICE.format(node=scenario.node_id, device=device))
    for manifest in (pods, devices):
        applied = scenario.cloud.control("apply", "-f", str(manifest))
        assert applied.returncode == 0, applied.stderr


def values_of(twins: dict[str, Any], side: str) -> dict[str, str]:
    return {name: twin[side]["value"] for name, twin in twins.items() if side in twin}


def reported_in_cloud(scenario: Scenario, device: str) -> dict[str, Any]:
    [row] = [row for row in scenario.cloud.items("devices") if row["name"] == device]
    return {twin["name"]: twin["reported"] for twin in row["twins"]}


def heartbeat(node: dict[str, Any]) -> float:
    """When the edge made the node status the cloud shows (its Ready condition's heartbeat)."""
    conditions = ((node.get("status") or {}).get("Status") or {}).get("conditions") or []
    times = [c["lastHeartbeatTime"] for c in conditions if c.get("type") == "Ready"]
    return datetime.fromisoformat(times[0].replace("Z", "+00:00")).timestamp() if times else 0.0


def ready(pod: dict[str, Any]) -> bool:
    """edged's status of a pod shows every container running and ready (a pod whose container
    exited is still phase Running under restartPolicy Always, as in Kubernetes)."""
    statuses = pod["status"].get("containerStatuses") or []
    return bool(statuses) and all(status["ready"] for status in statuses)


def exec_in(container: Any, *command: str) -> str:
    exit_code, output = container.exec_run(list(command))
    assert exit_code == 0, output
    return str(output.decode().strip())


def test_an_edge_killed_while_the_cloud_is_away_runs_on_from_sqlite_and_the_cloud_sees_it_all_when_back(
    scenario: Scenario, busybox_image: str
) -> None:
    device = f"climate-{uuid.uuid4().hex[:6]}"
    deploy(scenario, busybox_image, device)
    scenario.wait_pod("web", "Running")
    scenario.wait_pod("worker", "Running")
    app = scenario.device_app()
    online = app.twin_update(device, {"temperature": "20"})
    wait_until(lambda: reported_in_cloud(scenario, device)["temperature"] == "20", 30, 0.1, "the online twin change in the cloud")
    wait_until(lambda: scenario.edge.waiting_for_the_cloud() == 0, 30, 0.1, "the twin outbox emptied")
    before = {c.id: c.labels["io.kubernetes.pod.name"] for c in scenario.containers()}

    # The cloud goes away; the edge is killed (no clean-up at all) and runs again without it.
    assert scenario.cloud.stop() == 0
    scenario.edge.kill()
    restarted_at = int(time.time())
    scenario.edge.start()
    wait_until(lambda: all(map(ready, scenario.edge.pods().values())), 60, 0.2, "pods ready")
    after_restart = {c.id: c.labels["io.kubernetes.pod.name"] for c in scenario.containers()}
    [web] = scenario.running_containers("web")
    # While away: a container dies and is restarted from the pod spec in SQLite; twins change.
    web.kill()
    wait_until(lambda: scenario.edge.pods()["web"]["status"]["containerStatuses"][0]["restartCount"] == 1, 60, 0.2, "web restarted")
    wait_until(lambda: ready(scenario.edge.pods()["web"]), 60, 0.2, "web ready again")
    [web_again] = scenario.running_containers("web")
    offline_update = app.twin_update(device, {"temperature": "21", "humidity": "55"})
    second_update = app.twin_update(device, {"temperature": "22", "mode": "boost"})
    offline_get = app.twin_get(device)
    waiting_offline = scenario.edge.waiting_for_the_cloud()

    # The cloud comes back.
    scenario.cloud.start()
    scenario.wait_node("connected")
    node = wait_until(lambda: (row := scenario.node()) and heartbeat(row) >= restarted_at and row, 60, 0.1, "a node status made offline")
    web_row = scenario.wait_pod("web", "Running", check=lambda row: row["restarts"] == 1 and row["ready"] == "1/1")
    worker_row = scenario.wait_pod("worker", "Running")
    wait_until(lambda: reported_in_cloud(scenario, device) == {"temperature": "22", "humidity": "55", "mode": "boost"}, 60, 0.1, "twins")
    wait_until(lambda: scenario.edge.waiting_for_the_cloud() == 0, 30, 0.1, "the twin outbox emptied")

    # Adopted, not duplicated: the same two containers after the kill, one more only for the restart.
    assert after_restart == before and sorted(before.values()) == ["web", "worker"]
    assert {c.id for c in scenario.containers(status="running")} == {web_again.id} | (set(before) - {web.id})
    assert exec_in(web_again, "cat", "/etc/web/greeting.txt") == "hello from the cloud"
    assert exec_in(web_again, "sh", "-c", "echo $TOKEN") == "s3cret"
    # Twins served over MQTT while the cloud was away, with what the device app changed.
    assert "code" not in offline_update and "code" not in second_update
    assert values_of(offline_get["twin"], "expected") == {"temperature": "25", "humidity": "40", "mode": "eco"}
    assert values_of(offline_get["twin"], "actual") == {"temperature": "22", "humidity": "55", "mode": "boost"}
    assert waiting_offline == 2  # both offline changes kept in SQLite for the cloud, nothing else
    assert online["twin"]["temperature"]["actual"]["value"] == "20"
    # The cloud: the current node and pod status, each object once.
    assert node["ready"] == "Ready" and node["connection"] == "connected"
    assert web_row["status"]["containerStatuses"][0]["containerID"] == f"docker://{web_again.id}"
    assert worker_row["restarts"] == 0
    assert sorted(row["name"] for row in scenario.cloud.items("pods")) == ["web", "worker"]
    assert [row["name"] for row in scenario.cloud.items("nodes")] == [scenario.node_id]
    assert [row["name"] for row in scenario.cloud.items("devices")] == [device]
    assert " ERROR " not in scenario.edge.log(whole=True) + scenario.cloud.log(whole=True)
    # What a user sees with ctl.
    pods = [line.split()[:5] for line in scenario.cloud.control("get", "pods").stdout.splitlines()[1:]]
    nodes = [line.split()[:3] for line in scenario.cloud.control("get", "nodes").stdout.splitlines()[1:]]
    devices = [line.split()[:5] for line in scenario.cloud.control("get", "devices").stdout.splitlines()[1:]]
    assert pods == [["web", "1/1", "Running", "1", scenario.node_id], ["worker", "1/1", "Running", "0", scenario.node_id]]
    assert nodes == [[scenario.node_id, "Ready", "connected"]]
    assert devices == [
        [device, scenario.node_id, "temperature", "25", "22"],
        [device, scenario.node_id, "humidity", "40", "55"],
        [device, scenario.node_id, "mode", "eco", "boost"],
    ]


def test_pods_whose_containers_stopped_while_the_edge_was_down_start_again_from_sqlite_without_the_cloud(
    scenario: Scenario, busybox_image: str
) -> None:
    deploy(scenario, busybox_image, f"climate-{uuid.uuid4().hex[:6]}")
    scenario.wait_pod("web", "Running")
    scenario.wait_pod("worker", "Running")
    assert scenario.cloud.stop() == 0
    scenario.edge.kill()
    for container in scenario.containers():  # as after a reboot: the containers exited
        container.stop(timeout=5)

    scenario.edge.start()

    pods = wait_until(lambda: (pods := scenario.edge.pods()) and all(map(ready, pods.values())) and pods, 60, 0.2, "both pods ready again")
    assert sorted(pods) == ["web", "worker"]
    assert [len(scenario.running_containers(name)) for name in ("web", "worker")] == [1, 1]
    assert [pods[name]["status"]["containerStatuses"][0]["restartCount"] for name in ("web", "worker")] == [1, 1]
    [web] = scenario.running_containers("web")
    assert exec_in(web, "cat", "/etc/web/greeting.txt") == "hello from the cloud"
    assert exec_in(web, "sh", "-c", "echo $TOKEN") == "s3cret"
