"""Tier 3: ``python -m kubeedge_actors mapper --profile deviceProfile.json`` as its own process,
as a mapper pod runs it with the configmap mounted: it serves the file's devices and follows
the file when it changes (docs/protocol.md#11.3)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from examples.modbus_simulator import ModbusSimulator
from kubeedge_cloud.devicemodels import ProfileDevice, ProtocolSpec, device_profile, parse_model, profile_text
from tests.integration.sites import REPO
from tests.integration.twin_device_app import DeviceApp
from tests.mapper.conftest import actual
from tests.mapper.test_profile import MODEL
from tests.services import MosquittoBroker

pytestmark = pytest.mark.mosquitto


def profile(port: int, *names: str) -> str:
    devices = [
        ProfileDevice(name, "thermostat", ProtocolSpec("modbus-tcp", {"ip": "127.0.0.1", "port": port, "slaveID": "1"})) for name in names
    ]
    return profile_text(device_profile(devices, {"thermostat": parse_model(MODEL)}))


def test_the_mapper_process_serves_the_profile_file_and_follows_its_changes(
    tmp_path: Path, mosquitto: MosquittoBroker, modbus: ModbusSimulator, app: DeviceApp
) -> None:
    dpl = tmp_path / "dpl"
    dpl.mkdir()
    (dpl / "deviceProfile.json").write_text(profile(modbus.port, "first"))
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "edge.yaml").write_text("mapper:\n  profile-interval: 0.1\n  poll-interval: 0.1\n")
    command = [sys.executable, "-m", "kubeedge_actors", "mapper", "--profile", "dpl/deviceProfile.json", "--broker", mosquitto.url]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with (tmp_path / "mapper.log").open("w") as log:
        process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        report = app.wait_for("$hw/events/device/first/twin/update", lambda p: actual(p, "temperature") is not None, 30)
        replacement = tmp_path / "dpl" / "new.json"  # as a configmap volume is updated: a new file moved in place
        replacement.write_text(profile(modbus.port, "first", "second"))
        replacement.replace(dpl / "deviceProfile.json")
        app.wait_for("$hw/events/device/second/twin/update", lambda p: actual(p, "target") == "215", 30)
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)

    assert actual(report, "temperature") == "20.5"
    assert code == 0, (tmp_path / "mapper.log").read_text()
