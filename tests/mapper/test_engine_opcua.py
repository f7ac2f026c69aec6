"""Tier 2: the mapper's engine against a real OPC-UA server (asyncua) and a real broker:
read and write by node id, a subscription instead of polling, username/password
(docs/protocol.md#11.3)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from actors.mapper.engine import Engine, EngineSettings
from actors.mapper.profile import DevicePlan, PropertyPlan
from examples.opcua_simulator import OpcuaSimulator
from kubeedge_actors.testing import wait_until
from tests.integration.twin_device_app import DeviceApp
from tests.mapper.conftest import FAST, actual

UPDATE = "$hw/events/device/{}/twin/update"
STATE = "$hw/events/device/{}/state/update"
DELTA = "$hw/events/device/{}/twin/update/delta"

FLOW = PropertyPlan("flow", "float", False, {"nodeID": "ns=2;s=valve.flow"})
OPENING = PropertyPlan("opening", "int", True, {"nodeID": "ns=2,s=valve.opening"}, 0, 100)  # KubeEdge's comma form
LABEL = PropertyPlan("label", "string", True, {"nodeID": "ns=2;s=valve.label"})

pytestmark = pytest.mark.mosquitto


def valve(url: str, **config: Any) -> DevicePlan:
    return DevicePlan("valve", "valve", "opcua", {"url": url, **config}, (FLOW, OPENING, LABEL))


@pytest.fixture
def opcua() -> Iterator[OpcuaSimulator]:
    with OpcuaSimulator(0) as simulator:
        yield simulator


def test_values_are_read_by_node_id_and_a_delta_written_to_its_node(
    opcua: OpcuaSimulator, app: DeviceApp, start_engine: Callable[..., Engine]
) -> None:
    opcua.set("valve.flow", 1.5)
    start_engine(valve(opcua.url))

    report = app.wait_for(UPDATE.format("valve"), lambda p: actual(p, "flow") is not None)
    app.publish(DELTA.format("valve"), {"event_id": "d1", "timestamp": 1, "delta": {"opening": "40", "label": "half-open"}})

    assert (actual(report, "flow"), actual(report, "opening"), actual(report, "label")) == ("1.5", "0", "closed")
    wait_until(lambda: opcua.get("valve.opening") == 40 and opcua.get("valve.label") == "half-open", 10, 0.02, "the nodes written")
    app.wait_for(UPDATE.format("valve"), lambda p: actual(p, "opening") == "40")


def test_a_subscription_reports_changes_without_polling(opcua: OpcuaSimulator, app: DeviceApp, start_engine: Callable[..., Engine]) -> None:
    slow = EngineSettings(poll_interval_s=0.05, timeout_s=2.0, retry_initial_s=0.05, retry_max_s=0.2)
    engine = start_engine(valve(opcua.url, subscription=True), settings=slow)
    app.wait_for(UPDATE.format("valve"), lambda p: actual(p, "flow") == "0")

    opcua.set("valve.flow", 2.25)

    app.wait_for(UPDATE.format("valve"), lambda p: actual(p, "flow") == "2.25")
    assert engine.polls == 0


def test_username_and_password_are_presented_and_a_wrong_one_keeps_the_device_offline(
    app: DeviceApp, start_engine: Callable[..., Engine]
) -> None:
    with OpcuaSimulator(0, users={"operator": "s3cr3t"}) as secured:
        plan = valve(secured.url, userName="operator", password="s3cr3t")
        wrong = DevicePlan("intruder", "valve", "opcua", {"url": secured.url, "userName": "operator", "password": "guess"}, (FLOW,))
        start_engine(plan, wrong)

        app.wait_for(UPDATE.format("valve"), lambda p: actual(p, "label") == "closed")
        app.wait_for(STATE.format("intruder"), lambda p: p["state"] == "offline")


@pytest.mark.parametrize("subscription", [False, True], ids=["polled", "subscribed"])
def test_an_opcua_server_restarted_shows_the_device_offline_then_online(
    app: DeviceApp, start_engine: Callable[..., Engine], subscription: bool
) -> None:
    first = OpcuaSimulator(0).start()
    port = first.port
    start_engine(valve(first.url, subscription=subscription), settings=FAST)
    app.wait_for(STATE.format("valve"), lambda p: p["state"] == "online")

    first.stop()
    app.wait_for(STATE.format("valve"), lambda p: p["state"] == "offline")
    with OpcuaSimulator(port) as again:
        again.set("valve.label", "back")
        app.wait_for(UPDATE.format("valve"), lambda p: actual(p, "label") == "back")

    assert [p["state"] for p in app.on_topic(STATE.format("valve"))][:3] == ["online", "offline", "online"]
