"""Tier 3: devices with protocols, driven as a user drives them. A cloud hub and an edge
process with the mapper enabled; a Modbus device (pymodbus's server) and an OPC-UA device
(asyncua's server) on loopback. ``ctl apply`` a model and a device, see the device's values
in ``ctl get devices``, set a desired value through the cloud and watch the register or node
change on the server; a device server stopped and restarted shows the device offline and back
online (docs/protocol.md#11, docs/architecture.md#6)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from examples.modbus_simulator import ModbusSimulator
from examples.opcua_simulator import OpcuaSimulator
from kubeedge_actors.testing import wait_until
from tests.integration.scenario import Scenario

pytestmark = [pytest.mark.docker]

FAST_MAPPER = {
    "modules.enabled": ["eventbus", "websocket", "metaManager", "edged", "twin", "mapper"],
    "mapper.profile-interval": 0.2,
    "mapper.poll-interval": 0.2,
    "mapper.timeout": 0.5,
    "mapper.retry-max-interval": 0.5,
}

THERMOSTAT_MODEL = """\
apiVersion: devices.kubeedge.io/v1alpha1
kind: DeviceModel
metadata: {name: thermostat}
spec:
  properties:
  - name: temperature
    type: {float: {accessMode: ReadOnly, minimum: -40, maximum: 125, unit: celsius}}
  - name: target
    type: {int: {accessMode: ReadWrite, minimum: 50, maximum: 300}}
  propertyVisitors:
  - propertyName: temperature
    modbus: {register: InputRegister, offset: 0, limit: 1, scale: 0.1}
  - propertyName: target
    modbus: {register: HoldingRegister, offset: 1, limit: 1}
"""

THERMOSTAT = """\
apiVersion: devices.kubeedge.io/v1alpha1
kind: Device
metadata: {{name: thermostat-1}}
spec:
  deviceModelRef: {{name: thermostat}}
  protocol:
    modbus:
      tcp: {{ip: 127.0.0.1, port: {port}, slaveID: "1"}}
  nodeSelector:
    nodeSelectorTerms:
    - matchExpressions:
      - {{key: '', operator: In, values: [{node}]}}
status:
  twins:
  - propertyName: target
    desired: {{value: "{target}", metadata: {{type: int}}}}
"""

VALVE = """\
apiVersion: devices.kubeedge.io/v1alpha1
kind: DeviceModel
metadata: {{name: valve}}
spec:
  properties:
  - name: flow
    type: {{float: {{accessMode: ReadOnly}}}}
  - name: opening
    type: {{int: {{accessMode: ReadWrite, minimum: 0, maximum: 100}}}}
  propertyVisitors:
  - propertyName: flow
    opcua: {{nodeID: "ns=2;s=valve.flow"}}
  - propertyName: opening
    opcua: {{nodeID: "ns=2;s=valve.opening"}}
---
apiVersion: devices.kubeedge.io/v1alpha1
kind: Device
metadata: {{name: valve-1}}
spec:
  deviceModelRef: {{name: valve}}
  protocol:
    opcua: {{url: "{url}", userName: operator, password: s3cr3t}}
  nodeSelector:
    nodeSelectorTerms:
    - matchExpressions:
      - {{key: '', operator: In, values: [{node}]}}
status:
  twins:
  - propertyName: opening
    desired: {{value: "{opening}", metadata: {{type: int}}}}
"""


def ctl_devices(scenario: Scenario) -> dict[tuple[str, str], dict[str, str]]:
    """``ctl get devices`` as a user reads it: (device, property) → the row's columns."""
    result = scenario.cloud.control("get", "devices")
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    names = header.split()
    table = [dict(zip(names, row.split(), strict=True)) for row in rows]
    return {(row["NAME"], row["PROPERTY"]): row for row in table}


def wait_row(scenario: Scenario, device: str, prop: str, what: str, **columns: str) -> dict[str, str]:
    def matches() -> dict[str, str] | None:
        row = ctl_devices(scenario).get((device, prop))
        return row if row is not None and all(row[k] == v for k, v in columns.items()) else None

    found: dict[str, str] = wait_until(matches, 60, 0.3, what)
    return found


def apply(scenario: Scenario, folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.write_text(text)
    result = scenario.cloud.control("apply", "-f", str(path))
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_modbus_thermostat_applied_with_ctl_reports_is_set_and_goes_offline_and_back(tmp_path: Path, docker_client: Any) -> None:
    with Scenario(tmp_path, docker_client, edge_values=FAST_MAPPER) as scenario, ModbusSimulator(0) as device:
        device.set("input", 0, [215])
        scenario.cloud.start()
        scenario.edge.start()
        scenario.wait_node("connected")

        out = apply(scenario, tmp_path, "model.yaml", THERMOSTAT_MODEL)
        out += apply(scenario, tmp_path, "device.yaml", THERMOSTAT.format(port=device.port, node=scenario.node_id, target=230))

        assert out == "devicemodel/thermostat created\ndevice/thermostat-1 created\n"
        models = scenario.cloud.control("get", "devicemodels").stdout.splitlines()
        assert [line.split()[:4] for line in models] == [
            ["NAME", "PROPERTIES", "PROTOCOLS", "DEVICES"],
            ["thermostat", "temperature,target", "modbus", "1"],
        ]
        row = wait_row(scenario, "thermostat-1", "temperature", "the temperature in ctl get devices", REPORTED="21.5")
        assert (row["PROTOCOL"], row["STATE"], row["DESIRED"]) == ("modbus-tcp", "online", "<none>")
        profiles = [c for c in scenario.cloud.items("configmaps") if c["name"] == f"device-profile-config-{scenario.node_id}"]
        assert [c["nodes"] for c in profiles] == [[scenario.node_id]]  # delivered as any configmap, so a mapper pod can mount it
        wait_until(lambda: device.get("holding", 1) == [230], 60, 0.1, "the desired target written to the holding register")
        wait_row(scenario, "thermostat-1", "target", "the target read back", DESIRED="230", REPORTED="230")

        apply(scenario, tmp_path, "device.yaml", THERMOSTAT.format(port=device.port, node=scenario.node_id, target=245))
        wait_until(lambda: device.get("holding", 1) == [245], 60, 0.1, "the new desired target written")
        device.set("input", 0, [222])
        wait_row(scenario, "thermostat-1", "temperature", "the new temperature", REPORTED="22.2")

        port = device.port
        device.stop()
        wait_row(scenario, "thermostat-1", "temperature", "the device offline", STATE="offline")
        with ModbusSimulator(port) as again:
            again.set("input", 0, [199])
            wait_row(scenario, "thermostat-1", "temperature", "the device back online", STATE="online", REPORTED="19.9")


def test_an_opcua_valve_applied_with_ctl_reports_and_its_node_is_set(tmp_path: Path, docker_client: Any) -> None:
    with Scenario(tmp_path, docker_client, edge_values=FAST_MAPPER) as scenario, OpcuaSimulator(0, {"operator": "s3cr3t"}) as device:
        device.set("valve.flow", 1.25)
        scenario.cloud.start()
        scenario.edge.start()
        scenario.wait_node("connected")

        apply(scenario, tmp_path, "valve.yaml", VALVE.format(url=device.url, node=scenario.node_id, opening=40))

        row = wait_row(scenario, "valve-1", "flow", "the flow in ctl get devices", REPORTED="1.25")
        assert (row["PROTOCOL"], row["STATE"]) == ("opcua", "online")
        wait_until(lambda: device.get("valve.opening") == 40, 60, 0.1, "the desired opening written to its node")
        wait_row(scenario, "valve-1", "opening", "the opening read back", REPORTED="40")


MAPPER_POD = """\
apiVersion: v1
kind: Pod
metadata: {{name: modbus-mapper}}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
  - name: mapper
    image: {image}
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
    volumeMounts:
    - {{name: dpl, mountPath: /opt/src/dpl}}
  volumes:
  - name: dpl
    configMap: {{name: device-profile-config-{node}}}
"""


def test_a_mapper_pod_written_for_kubeedge_finds_the_profile_where_it_mounts_it(
    tmp_path: Path, docker_client: Any, busybox_image: str
) -> None:
    with Scenario(tmp_path, docker_client) as scenario:
        scenario.cloud.start()
        scenario.edge.start()
        scenario.wait_node("connected")
        apply(scenario, tmp_path, "model.yaml", THERMOSTAT_MODEL)
        apply(scenario, tmp_path, "device.yaml", THERMOSTAT.format(port=5020, node=scenario.node_id, target=230))

        apply(scenario, tmp_path, "pod.yaml", MAPPER_POD.format(node=scenario.node_id, image=busybox_image))
        scenario.wait_pod("modbus-mapper", "Running")

        [container] = scenario.running_containers("modbus-mapper")
        mounted = container.exec_run(["cat", "/opt/src/dpl/deviceProfile.json"]).output.decode()
        profile = json.loads(mounted)
        assert profile["deviceInstances"] == [
            {"id": "thermostat-1", "name": "thermostat-1", "protocol": "modbus-tcp-thermostat-1", "model": "thermostat"}
        ]
        assert profile["protocols"][0]["protocol_config"] == {"ip": "127.0.0.1", "port": 5020, "slaveID": "1"}
