"""Tier 1: the mapper reads the profile the cloud writes (actors/mapper/profile.py against
kubeedge_cloud/devicemodels.py), with v1.0's misreadings fixed (docs/protocol.md#11.3)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from actors.mapper.errors import ProfileError
from actors.mapper.profile import read_profile
from kubeedge_cloud.devicemodels import ProfileDevice, ProtocolSpec, device_profile, parse_model, profile_text

MODEL = {
    "apiVersion": "devices.kubeedge.io/v1alpha1",
    "kind": "DeviceModel",
    "metadata": {"name": "thermostat"},
    "spec": {
        "properties": [
            {"name": "temperature", "type": {"float": {"accessMode": "ReadOnly", "minimum": -40, "maximum": 125}}},
            {"name": "target", "type": {"int": {"accessMode": "ReadWrite"}}},
        ],
        "propertyVisitors": [
            {"propertyName": "temperature", "modbus": {"register": "InputRegister", "offset": 0, "limit": 1, "scale": 0.1}},
            {"propertyName": "target", "modbus": {"register": "HoldingRegister", "offset": 1, "limit": 1}},
        ],
    },
}


def cloud_profile(*devices: ProfileDevice) -> str:
    return profile_text(device_profile(list(devices), {"thermostat": parse_model(MODEL)}))


def test_the_cloud_s_profile_gives_each_device_its_own_protocol_and_visitors() -> None:
    first = ProfileDevice("b-thermostat", "thermostat", ProtocolSpec("modbus-tcp", {"ip": "127.0.0.1", "port": 5020, "slaveID": "1"}))
    second = ProfileDevice(
        "a-thermostat", "thermostat", ProtocolSpec("modbus-rtu", {"serialPort": "/dev/ttyS1", "baudRate": 9600, "slaveID": 0})
    )

    profile = read_profile(cloud_profile(first, second))

    assert profile.problems == ()
    plans = {plan.id: plan for plan in profile.devices}
    assert plans["b-thermostat"].config["port"] == 5020
    assert plans["a-thermostat"].protocol == "modbus-rtu"
    assert plans["a-thermostat"].config["slaveID"] == 0  # v1.0's profile dropped a zero
    target = plans["b-thermostat"].property("target")
    assert target is not None and target.writable and target.visitor["offset"] == 1 and target.visitor["limit"] == 1
    temperature = plans["b-thermostat"].property("temperature")
    assert temperature is not None and (temperature.minimum, temperature.maximum) == (-40, 125)


def test_the_profile_keeps_v1_s_format() -> None:
    document: dict[str, Any] = json.loads(
        cloud_profile(ProfileDevice("t", "thermostat", ProtocolSpec("modbus-tcp", {"ip": "h", "port": 1, "slaveID": "1"})))
    )

    assert sorted(document) == ["deviceInstances", "deviceModels", "propertyVisitors", "protocols"]
    assert document["deviceInstances"] == [{"id": "t", "name": "t", "protocol": "modbus-tcp-t", "model": "thermostat"}]
    assert document["protocols"][0] == {
        "name": "modbus-tcp-t",
        "protocol": "modbus-tcp",
        "protocol_config": {"ip": "h", "port": 1, "slaveID": "1"},
    }
    assert document["propertyVisitors"][0]["protocol"] == "modbus"
    assert document["propertyVisitors"][0]["visitorConfig"]["scale"] == 0.1


def test_a_device_whose_model_is_missing_waits_out_of_the_profile() -> None:
    assert device_profile([ProfileDevice("t", "other", None)], {"thermostat": parse_model(MODEL)}) == {}


def test_bad_entries_are_named_and_the_good_ones_still_served() -> None:
    document = json.loads(
        cloud_profile(ProfileDevice("good", "thermostat", ProtocolSpec("modbus-tcp", {"ip": "h", "port": 1, "slaveID": "1"})))
    )
    document["deviceInstances"].append({"id": "lost", "name": "lost", "protocol": "nowhere", "model": "thermostat"})

    profile = read_profile(json.dumps(document))

    assert [plan.id for plan in profile.devices] == ["good"]
    assert any("device lost" in problem and "nowhere" in problem for problem in profile.problems)


def test_a_profile_that_is_not_json_is_an_error_naming_the_file() -> None:
    with pytest.raises(ProfileError, match=r"deviceProfile\.json is not JSON"):
        read_profile("{nope")
