"""Tier 2: the mapper's engine against a real Modbus server (pymodbus) and a real broker
(Mosquitto), watched by a device app on the twin topics (docs/protocol.md#11.3, docs/protocol.md#5.4)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from actors.mapper.engine import Engine
from actors.mapper.profile import DevicePlan, Profile
from examples.modbus_simulator import ModbusSimulator
from kubeedge_actors.testing import wait_until
from tests.integration.twin_device_app import DeviceApp
from tests.mapper.conftest import actual, thermostat
from tests.mapper.serial_pair import SerialPair
from tests.services import MosquittoBroker, free_port

UPDATE = "$hw/events/device/{}/twin/update"
STATE = "$hw/events/device/{}/state/update"
DELTA = "$hw/events/device/{}/twin/update/delta"

pytestmark = pytest.mark.mosquitto


def test_every_value_and_the_state_are_reported_on_start(
    modbus: ModbusSimulator, app: DeviceApp, start_engine: Callable[..., Engine]
) -> None:
    start_engine(thermostat("t1", modbus.port))

    state = app.wait_for(STATE.format("t1"))
    report = app.wait_for(UPDATE.format("t1"), lambda p: actual(p, "temperature") is not None)
    assert state["state"] == "online" and isinstance(state["event_id"], str) and isinstance(state["timestamp"], int)
    values = tuple(actual(report, name) for name in ("temperature", "target", "heater", "window-open"))
    assert values == ("20.5", "215", "false", "true")
    assert report["twin"]["temperature"]["metadata"] == {"type": "float"}


def test_a_register_changed_on_the_device_is_reported_once(
    modbus: ModbusSimulator, app: DeviceApp, start_engine: Callable[..., Engine]
) -> None:
    start_engine(thermostat("t1", modbus.port))
    app.wait_for(UPDATE.format("t1"), lambda p: actual(p, "temperature") == "20.5")

    modbus.set("input", 0, [221])
    app.wait_for(UPDATE.format("t1"), lambda p: actual(p, "temperature") == "22.1")
    modbus.set("input", 0, [222])  # a later change: everything before it was polled many times over
    app.wait_for(UPDATE.format("t1"), lambda p: actual(p, "temperature") == "22.2")

    reports = [p for p in app.on_topic(UPDATE.format("t1")) if actual(p, "temperature") == "22.1"]
    assert len(reports) == 1
    assert set(reports[0]["twin"]) == {"temperature"}


def test_a_delta_is_written_to_the_register_and_confirmed_by_reading_back(
    modbus: ModbusSimulator, app: DeviceApp, start_engine: Callable[..., Engine]
) -> None:
    start_engine(thermostat("t1", modbus.port))
    app.wait_for(STATE.format("t1"))

    app.publish(DELTA.format("t1"), {"event_id": "d1", "timestamp": 1, "twin": {}, "delta": {"target": "230", "heater": "true"}})

    wait_until(lambda: modbus.get("holding", 1) == [230] and modbus.get("coil", 0) == [True], 10, 0.02, "the registers written")
    app.wait_for(UPDATE.format("t1"), lambda p: actual(p, "target") == "230")
    app.wait_for(UPDATE.format("t1"), lambda p: actual(p, "heater") == "true")


def test_a_delta_of_a_read_only_property_or_out_of_range_is_not_written(
    modbus: ModbusSimulator, app: DeviceApp, start_engine: Callable[..., Engine]
) -> None:
    start_engine(thermostat("t1", modbus.port))
    app.wait_for(STATE.format("t1"))

    app.publish(DELTA.format("t1"), {"event_id": "d1", "timestamp": 1, "delta": {"temperature": "99", "target": "301"}})
    app.publish(DELTA.format("t1"), {"event_id": "d2", "timestamp": 2, "delta": {"target": "216"}})

    app.wait_for(UPDATE.format("t1"), lambda p: actual(p, "target") == "216")
    assert modbus.get("input", 0) == [205]


def test_a_device_that_stops_answering_goes_offline_and_comes_back_online(
    modbus: ModbusSimulator, app: DeviceApp, start_engine: Callable[..., Engine]
) -> None:
    start_engine(thermostat("t1", modbus.port))
    app.wait_for(STATE.format("t1"), lambda p: p["state"] == "online")

    modbus.stop()
    app.wait_for(STATE.format("t1"), lambda p: p["state"] == "offline")
    with ModbusSimulator(modbus.port) as again:
        again.set("input", 0, [199])
        states = app.wait_for(STATE.format("t1"), lambda p: p["state"] == "online" and len(app.on_topic(STATE.format("t1"))) >= 3)
        app.wait_for(UPDATE.format("t1"), lambda p: actual(p, "temperature") == "19.9")

    assert [p["state"] for p in app.on_topic(STATE.format("t1"))][:3] == ["online", "offline", "online"]
    assert states["state"] == "online"


def test_a_device_that_never_answers_does_not_hold_up_the_others(
    modbus: ModbusSimulator, app: DeviceApp, start_engine: Callable[..., Engine]
) -> None:
    start_engine(thermostat("dead", free_port()), thermostat("alive", modbus.port))

    app.wait_for(STATE.format("dead"), lambda p: p["state"] == "offline")
    modbus.set("input", 0, [300])

    app.wait_for(UPDATE.format("alive"), lambda p: actual(p, "temperature") == "30")


def test_a_profile_change_starts_and_stops_devices(modbus: ModbusSimulator, app: DeviceApp, start_engine: Callable[..., Engine]) -> None:
    engine = start_engine(thermostat("t1", modbus.port))

    engine.apply(Profile((thermostat("t2", modbus.port),)))

    app.wait_for(UPDATE.format("t2"), lambda p: actual(p, "temperature") == "20.5")
    assert engine.device_ids == ["t2"]


def test_a_bluetooth_device_is_said_to_be_unsupported_on_this_node(
    app: DeviceApp, start_engine: Callable[..., Engine], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="actors.mapper.engine")

    engine = start_engine(DevicePlan("lamp", "lamp", "bluetooth", {}, ()))

    assert engine.device_ids == []
    assert "device lamp: this node has no Bluetooth support; the device is not served" in caplog.text


def test_modbus_rtu_over_a_serial_line(app: DeviceApp, start_engine: Callable[..., Engine]) -> None:
    with SerialPair() as line, ModbusSimulator(serial=line.ends[0], baudrate=19200) as device:
        device.set("input", 0, [123])
        config = {"serialPort": line.ends[1], "baudRate": 19200, "dataBits": 8, "parity": "none", "stopBits": 1, "slaveID": 1}
        start_engine(thermostat("rtu", 0, "modbus-rtu", **config))

        app.wait_for(UPDATE.format("rtu"), lambda p: actual(p, "temperature") == "12.3")
        app.publish(DELTA.format("rtu"), {"event_id": "d1", "timestamp": 1, "delta": {"target": "240"}})
        wait_until(lambda: device.get("holding", 1) == [240], 10, 0.02, "the RTU register written")


def test_every_value_is_reported_again_after_the_broker_comes_back(
    modbus: ModbusSimulator, app: DeviceApp, mosquitto: MosquittoBroker, start_engine: Callable[..., Engine]
) -> None:
    start_engine(thermostat("t1", modbus.port))
    app.wait_for(UPDATE.format("t1"), lambda p: actual(p, "target") == "215")

    mosquitto.restart()
    app.wait_connected()

    wait_until(
        lambda: any(actual(p, "target") == "215" for p in app.on_topic(UPDATE.format("t1"))[1:]),
        30,
        0.05,
        "the unchanged target reported again after the reconnect",
    )
