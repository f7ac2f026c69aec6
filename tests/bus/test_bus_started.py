"""Tier 2: the bus started for real with a fake broker client, probes for the twin and the hub."""

from __future__ import annotations

from actors.bus.actor import BusActor
from actors.keys import edge_defaults
from actors.protocol import Group, Module
from kubeedge_actors import Router
from kubeedge_actors.testing import make_message, start_probe, wait_until
from tests.bus.fakes import FakeMqttClient


def test_device_topics_reach_the_twin_group_and_publishes_reach_the_broker() -> None:
    router = Router()
    twin = start_probe(router, Module.TWIN, Group.TWIN)
    hub = start_probe(router, Module.HUB, Group.HUB)
    client = FakeMqttClient()
    config = edge_defaults().with_values({"mqtt.mode": 2})
    router.register(Module.BUS, Group.BUS, BusActor.start(router, config, clients=[client]))
    wait_until(lambda: client.connect_calls == 1, what="the bus dialled its broker")
    client.fire_connected()
    wait_until(lambda: client.subscribed, what="the bus subscribed")

    client.fire_message("$hw/events/device/d1/twin/get", b'{"event_id":"g"}')
    client.fire_message("$hw/events/upload/data", b"reading")
    router.send(Module.BUS, make_message("publish", "$hw/events/device/d1/twin/get/result", b"{}", source="twin", group="bus"))

    assert twin.wait_for().content == '{"event_id":"g"}'
    assert hub.wait_for().content == "reading"
    wait_until(lambda: client.published == [("$hw/events/device/d1/twin/get/result", b"{}", 1, False)], what="published")
    router.close()
