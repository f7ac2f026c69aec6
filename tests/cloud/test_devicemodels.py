"""Tier 1: DeviceModels, a Device's protocol and the device profile configmap
(kubeedge_cloud/devicemodels.py and the device controller; docs/protocol.md#11.1, docs/protocol.md#11.2)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeedge_actors import Message
from kubeedge_actors.testing import ActorHarness
from kubeedge_cloud.devicecontroller import DeviceControllerActor
from kubeedge_cloud.devicemodels import parse_model
from kubeedge_cloud.devices import parse_device
from kubeedge_cloud.devicestore import DeviceStore
from kubeedge_cloud.errors import ManifestError
from kubeedge_cloud.keys import cloud_defaults
from tests.cloud.control_api import api, apply

Harness = ActorHarness[DeviceControllerActor]

MODEL: dict[str, Any] = {
    "apiVersion": "devices.kubeedge.io/v1alpha1",
    "kind": "DeviceModel",
    "metadata": {"name": "thermostat"},
    "spec": {
        "properties": [
            {"name": "temperature", "type": {"int": {"accessMode": "ReadOnly"}}},
            {"name": "target", "type": {"int": {"accessMode": "ReadWrite", "minimum": 0, "maximum": 300}}},
        ],
        "propertyVisitors": [
            {"propertyName": "temperature", "modbus": {"register": "InputRegister", "offset": 0, "limit": 1}},
            {"propertyName": "target", "modbus": {"register": "HoldingRegister", "offset": 1, "limit": 1}},
        ],
    },
}


def device(name: str = "thermostat-1", node: str | None = "edge-1", protocol: Any = None, model: str = "thermostat") -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "apiVersion": "devices.kubeedge.io/v1alpha1",
        "kind": "Device",
        "metadata": {"name": name},
        "spec": {
            "deviceModelRef": {"name": model},
            "protocol": protocol or {"modbus": {"tcp": {"ip": "127.0.0.1", "port": 5020, "slaveID": "1"}}},
        },
    }
    if node:
        expression = {"key": "", "operator": "In", "values": [node]}
        manifest["spec"]["nodeSelector"] = {"nodeSelectorTerms": [{"matchExpressions": [expression]}]}
    return manifest


def changed(manifest: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    result = copy.deepcopy(manifest)
    *parents, last = path.split(".")
    target = result
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return result


@pytest.mark.parametrize(
    ("manifest", "field"),
    [
        (changed(MODEL, "spec.properties", []), "spec.properties must be a non-empty list"),
        (changed(MODEL, "spec.properties.0.type", {"int": {}}), r"spec.properties\[0\].type.int.accessMode"),
        (
            changed(MODEL, "spec.properties.0.type", {"double": {"accessMode": "ReadOnly"}}),
            r"spec.properties\[0\].type must hold exactly one",
        ),
        (changed(MODEL, "spec.propertyVisitors.0.propertyName", "humidity"), r"propertyVisitors\[0\].propertyName 'humidity'"),
        (
            changed(MODEL, "spec.propertyVisitors.0.modbus", {"register": "Holding", "offset": 0, "limit": 1}),
            r"propertyVisitors\[0\].modbus.register",
        ),
        (
            changed(MODEL, "spec.propertyVisitors.1.modbus", {"register": "HoldingRegister", "offset": 1}),
            r"propertyVisitors\[1\].modbus.limit",
        ),
        (changed(MODEL, "spec.propertyVisitors.0", {"propertyName": "temperature", "opcua": {}}), r"propertyVisitors\[0\].opcua.nodeID"),
    ],
    ids=["no-properties", "no-access-mode", "unknown-type", "visitor-of-no-property", "bad-register", "no-limit", "opcua-no-node-id"],
)
def test_a_bad_device_model_is_refused_naming_the_field(manifest: dict[str, Any], field: str) -> None:
    with pytest.raises(ManifestError, match=field):
        parse_model(manifest)


@pytest.mark.parametrize(
    ("protocol", "field"),
    [
        ({"modbus": {"tcp": {"ip": "127.0.0.1", "port": 70000, "slaveID": "1"}}}, r"spec.protocol.modbus.tcp.port"),
        ({"modbus": {"tcp": {"ip": "127.0.0.1", "port": 502}}}, r"spec.protocol.modbus.tcp.slaveID"),
        ({"modbus": {"rtu": {"serialPort": "/dev/ttyS0", "baudRate": 1000, "slaveID": 1}}}, r"spec.protocol.modbus.rtu.baudRate"),
        ({"opcua": {"url": "http://x"}}, r"spec.protocol.opcua.url"),
        ({"opcua": {"url": "opc.tcp://x:4840", "userName": "u"}}, "userName and password go together"),
        ({"opcua": {"url": "opc.tcp://x:4840"}, "bluetooth": {}}, "exactly one of"),
        ({"zigbee": {}}, r"spec.protocol.zigbee is not a protocol"),
    ],
    ids=["tcp-port", "tcp-slave", "rtu-baud", "opcua-url", "opcua-half-credentials", "two-protocols", "unknown"],
)
def test_a_bad_protocol_is_refused_naming_the_field(protocol: dict[str, Any], field: str) -> None:
    with pytest.raises(ManifestError, match=field):
        parse_device(device(protocol=protocol), None)


def test_a_device_without_a_node_selector_is_refused_instead_of_crashing_the_controller() -> None:
    with pytest.raises(ManifestError, match=r"spec.nodeSelector names no node \(or give one with --node\)"):
        parse_device(device(node=None), None)


def test_every_protocol_the_crd_knows_is_accepted() -> None:
    for protocol, kind in [
        (
            {
                "modbus": {
                    "rtu": {"serialPort": "/dev/ttyS0", "baudRate": 9600, "dataBits": 8, "parity": "none", "stopBits": 1, "slaveID": 0}
                }
            },
            "modbus-rtu",
        ),
        ({"opcua": {"url": "opc.tcp://x:4840", "userName": "u", "password": "p"}}, "opcua"),
        ({"bluetooth": {"macAddress": "aa:bb"}}, "bluetooth"),
    ]:
        spec = parse_device(device(protocol=protocol), None)
        assert spec.protocol is not None and spec.protocol.kind == kind


# --- the device controller and the profile configmap -------------------------------------------


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    started = ActorHarness(DeviceControllerActor, cloud_defaults(), store=DeviceStore(tmp_path / "cloud.db"))
    started.start()
    yield started
    started.stop()


def to_controller(harness: Harness) -> list[Message]:
    return harness.router.take("sync", "controller")


def profile_of(request: Message) -> dict[str, Any]:
    [configmap] = request.content["objects"]
    assert configmap["metadata"]["name"] == "device-profile-config-edge-1"
    return dict(json.loads(configmap["data"]["deviceProfile.json"]))


def test_a_device_with_its_model_becomes_the_node_s_profile_configmap_sent_to_that_node(harness: Harness) -> None:
    results = apply(harness, device(), MODEL)

    [request] = to_controller(harness)
    assert results == [("thermostat", "created"), ("thermostat-1", "created")]
    assert (request.operation, request.content["node"]) == ("apply", "edge-1")
    profile = profile_of(request)
    assert profile["deviceInstances"] == [
        {"id": "thermostat-1", "name": "thermostat-1", "protocol": "modbus-tcp-thermostat-1", "model": "thermostat"}
    ]
    assert [v["propertyName"] for v in profile["propertyVisitors"]] == ["temperature", "target"]


def test_a_device_applied_before_its_model_joins_the_profile_when_the_model_comes(harness: Harness) -> None:
    apply(harness, device())
    [delete] = to_controller(harness)  # nothing to serve yet: no profile
    assert delete.operation == "delete"

    apply(harness, MODEL)

    [request] = to_controller(harness)
    assert [d["id"] for d in profile_of(request)["deviceInstances"]] == ["thermostat-1"]


def test_a_model_change_reaches_the_profile(harness: Harness) -> None:
    apply(harness, device(), MODEL)
    to_controller(harness)

    apply(harness, changed(MODEL, "spec.propertyVisitors.1.modbus.offset", 7))

    [request] = to_controller(harness)
    assert profile_of(request)["propertyVisitors"][1]["visitorConfig"]["offset"] == 7


def test_the_last_device_deleted_deletes_the_profile(harness: Harness) -> None:
    apply(harness, device(), MODEL)
    to_controller(harness)

    reply = api(harness, "delete", {"kind": "device", "namespace": "default", "name": "thermostat-1"})

    [request] = to_controller(harness)
    assert reply.content["results"][0]["action"] == "deleted"
    assert (request.operation, request.content["name"]) == ("delete", "device-profile-config-edge-1")


def test_ctl_lists_show_the_protocol_and_the_models(harness: Harness) -> None:
    apply(harness, device(), MODEL)

    devices = api(harness, "list", {}, "devices").content["items"]
    models = api(harness, "list", {}, "devicemodels").content["items"]

    assert (devices[0]["protocol"], devices[0]["model"]) == ("modbus-tcp", "thermostat")
    assert (models[0]["name"], models[0]["protocols"], models[0]["devices"]) == ("thermostat", ["modbus"], ["thermostat-1"])


def test_a_deleted_model_takes_its_devices_out_of_the_profile_and_they_stay(harness: Harness) -> None:
    apply(harness, device(), MODEL)
    to_controller(harness)

    reply = api(harness, "delete", {"kind": "devicemodel", "namespace": "default", "name": "thermostat"})

    [request] = to_controller(harness)
    assert reply.content["results"][0]["action"] == "deleted"
    assert (request.operation, request.content["name"]) == ("delete", "device-profile-config-edge-1")
    assert [row["name"] for row in api(harness, "list", {}, "devices").content["items"]] == ["thermostat-1"]
    assert api(harness, "list", {}, "devicemodels").content["items"] == []
