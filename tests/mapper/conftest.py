"""Fixtures of the mapper's tests: a real Modbus device, a real broker and a device app on it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from actors.mapper.engine import Engine, EngineSettings
from actors.mapper.mqtt import MqttLink
from actors.mapper.profile import DevicePlan, Profile, PropertyPlan
from examples.modbus_simulator import ModbusSimulator
from kubeedge_actors.testing import wait_until
from tests.integration.twin_device_app import DeviceApp
from tests.services import MosquittoBroker

FAST = EngineSettings(poll_interval_s=0.05, timeout_s=0.5, retry_initial_s=0.05, retry_max_s=0.2)

TEMPERATURE = PropertyPlan("temperature", "float", False, {"register": "InputRegister", "offset": 0, "limit": 1, "scale": 0.1})
TARGET = PropertyPlan("target", "int", True, {"register": "HoldingRegister", "offset": 1, "limit": 1}, 0, 300)
HEATER = PropertyPlan("heater", "boolean", True, {"register": "CoilRegister", "offset": 0, "limit": 1})
WINDOW_OPEN = PropertyPlan("window-open", "boolean", False, {"register": "DiscreteInputRegister", "offset": 3, "limit": 1})


def thermostat(device_id: str, port: int, protocol: str = "modbus-tcp", **config: Any) -> DevicePlan:
    settings = {"ip": "127.0.0.1", "port": port, "slaveID": "1"} if protocol == "modbus-tcp" else config
    return DevicePlan(device_id, "thermostat", protocol, settings, (TEMPERATURE, TARGET, HEATER, WINDOW_OPEN))


@pytest.fixture
def modbus() -> Iterator[ModbusSimulator]:
    with ModbusSimulator(0) as simulator:
        simulator.set("input", 0, [205])
        simulator.set("holding", 1, [215])
        simulator.set("discrete", 3, [True])
        yield simulator


@pytest.fixture
def app(mosquitto: MosquittoBroker) -> Iterator[DeviceApp]:
    device_app = DeviceApp(mosquitto.host, mosquitto.port)
    yield device_app
    device_app.close()


@pytest.fixture
def start_engine(mosquitto: MosquittoBroker) -> Iterator[Callable[..., Engine]]:
    running: list[tuple[Engine, MqttLink]] = []

    def start(*plans: DevicePlan, settings: EngineSettings = FAST) -> Engine:
        link = MqttLink(mosquitto.url, f"mapper-test-{len(running)}")
        engine = Engine(link, settings)
        link.start(engine)
        wait_until(link.connected.is_set, 10, 0.02, "the mapper connected to the broker")
        engine.apply(Profile(tuple(plans)))
        running.append((engine, link))
        return engine

    yield start
    for engine, link in running:
        engine.stop()
        link.stop()


def actual(payload: Any, name: str) -> str | None:
    """The actual value of ``name`` in a twin/update body, if it has one."""
    twin = (payload or {}).get("twin") or {}
    value = ((twin.get(name) or {}).get("actual") or {}).get("value")
    return value if isinstance(value, str) else None
