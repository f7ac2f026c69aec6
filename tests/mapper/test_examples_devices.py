"""The device examples as the README shows them: the manifests are valid and make a profile
the mapper serves whole; the simulators answer as the manifests expect."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from actors.mapper.profile import read_profile
from kubeedge_actors.testing import wait_until
from kubeedge_cloud.devicemodels import ProfileDevice, device_profile, parse_model, profile_text
from kubeedge_cloud.devices import parse_device
from tests.services import free_port

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def documents(name: str) -> list[Any]:
    return list(YAML(typ="safe", pure=True).load_all((EXAMPLES / "manifests" / name).read_text()))


@pytest.mark.parametrize(
    ("name", "protocol", "properties"), [("modbus-thermostat.yaml", "modbus-tcp", 3), ("opcua-valve.yaml", "opcua", 2)]
)
def test_an_example_device_and_its_model_make_a_profile_the_mapper_serves_whole(name: str, protocol: str, properties: int) -> None:
    model_manifest, device_manifest = documents(name)
    model, spec = parse_model(model_manifest), parse_device(device_manifest, None)

    profile = read_profile(profile_text(device_profile([ProfileDevice(spec.name, spec.model, spec.protocol)], {model.name: model})))

    assert profile.problems == ()
    [plan] = profile.devices
    assert (plan.protocol, len(plan.properties), spec.node) == (protocol, properties, "edge-node")


def test_the_modbus_simulator_serves_the_thermostat_the_manifest_describes() -> None:
    from pymodbus.client import ModbusTcpClient

    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(EXAMPLES.parent)}
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "modbus_simulator.py"), "--port", str(port)], env=env, stdout=subprocess.PIPE, text=True
    )
    client = ModbusTcpClient("127.0.0.1", port=port, timeout=1, retries=0)
    try:
        assert process.stdout is not None and "thermostat on tcp 127.0.0.1" in process.stdout.readline()
        wait_until(client.connect, 10, 0.1, "the simulator listening")
        temperature = client.read_input_registers(0, count=1, device_id=1).registers
        target = client.read_holding_registers(1, count=1, device_id=1).registers
    finally:
        client.close()
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)

    assert (temperature, target) == ([205], [215])
