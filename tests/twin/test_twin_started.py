"""Tier 2: the twin started for real on a SQLite file, with probes for the bus and the hub."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pykka
import pytest

from actors.keys import edge_defaults
from actors.protocol import Group, Module, cloud_connection_view
from actors.twin.actor import TwinActor
from kubeedge_actors import Router
from kubeedge_actors.testing import Probe, start_probe
from tests.protocol.connection import hub_says
from tests.twin.helpers import bus_message, from_cloud

LAMP = {"id": "lamp", "name": "lamp", "twin": {"power": {"expected": {"value": "on"}, "expected_version": {"cloud": 1, "edge": 0}}}}


@pytest.fixture
def router() -> Iterator[Router]:
    router = Router()
    yield router
    router.close()


def start_twin(router: Router, tmp_path: Path) -> pykka.ActorRef[TwinActor]:
    config = edge_defaults().with_values({"database.source": str(tmp_path / "edge.db"), "edgehub.controller.node-id": "node-1"})
    ref = TwinActor.start(router, config)
    router.register(Module.TWIN, Group.TWIN, ref)
    return ref


def on_topic(bus: Probe, topic: str) -> dict:
    message = bus.wait_for(lambda m: m.resource == topic)
    return json.loads(message.content)


def test_a_device_from_the_cloud_answers_twin_updates_through_the_bus(router: Router, tmp_path: Path) -> None:
    bus = start_probe(router, Module.BUS, Group.BUS)
    start_twin(router, tmp_path)
    router.send_to_group(Group.TWIN, from_cloud("update", "membership", {"event_id": "c", "added_devices": [LAMP]}))

    router.send_to_group(
        Group.TWIN, bus_message("$hw/events/device/lamp/twin/update", {"event_id": "u", "twin": {"power": {"actual": {"value": "on"}}}})
    )

    result = on_topic(bus, "$hw/events/device/lamp/twin/update/result")
    assert result["event_id"] == "u" and result["twin"]["power"]["actual"]["value"] == "on"
    assert on_topic(bus, "$hw/events/node/node-1/membership/updated")["added_devices"][0]["id"] == "lamp"


def test_devices_and_waiting_messages_survive_a_restart(router: Router, tmp_path: Path) -> None:
    bus = start_probe(router, Module.BUS, Group.BUS)
    hub = start_probe(router, Module.HUB, Group.HUB)
    twin = start_twin(router, tmp_path)
    router.send_to_group(Group.TWIN, from_cloud("update", "membership", {"event_id": "c", "added_devices": [LAMP]}))
    for value in ("a", "b"):
        router.send_to_group(
            Group.TWIN,
            bus_message("$hw/events/device/lamp/twin/update", {"event_id": value, "twin": {"power": {"actual": {"value": value}}}}),
        )
    bus.wait_for(lambda m: m.resource.endswith("/twin/update/result") and b'"b"' in m.content)
    twin.stop()
    router.unregister(Module.TWIN)

    start_twin(router, tmp_path)
    router.send_to_group(Group.TWIN, bus_message("$hw/events/device/lamp/twin/get", {"event_id": "g"}))
    router.send_to_group(Group.TWIN, hub_says(router, True, Group.TWIN))

    got = on_topic(bus, "$hw/events/device/lamp/twin/get/result")
    assert got["twin"]["power"]["actual"]["value"] == "b"
    hub.wait_for(lambda m: m.resource == "membership/detail")
    sent = hub.messages
    values = [m.content["twin"]["power"]["actual"]["value"] for m in sent if m.resource.endswith("edge_updated")]
    assert values == ["a", "b"]
    assert sent[-1].resource == "membership/detail"


def test_a_twin_started_while_the_hub_is_connected_knows_it_at_once_and_sends_what_waits(router: Router, tmp_path: Path) -> None:
    hub = start_probe(router, Module.HUB, Group.HUB)
    cloud_connection_view(router).publish(True)  # as a hub that connected before the twin (re)started

    start_twin(router, tmp_path)

    assert hub.wait_for(lambda m: m.resource == "membership/detail").operation == "get"
    assert [m.resource for m in hub.messages] == ["membership/detail"]  # and asked nothing
