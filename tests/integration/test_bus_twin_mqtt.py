"""Tier 3: a device app on a real broker (Mosquitto, and the embedded one) talks to bus + twin.

The payloads checked here are those of docs/protocol.md#5.4; the cloud is a probe registered as
``websocket`` and cloud messages are injected as the hub would (``send_to_group("twin", ...)``).
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from actors import builtin_modules
from actors.keys import edge_defaults
from actors.protocol import Group, Module
from kubeedge_actors import Router, Runtime
from kubeedge_actors.testing import Probe, make_message, start_probe
from tests.bus.raw_mqtt import RawClient, packet, publish_packet, varint
from tests.integration.twin_device_app import DeviceApp
from tests.protocol.connection import hub_says
from tests.services import MosquittoBroker, free_port

NODE = "node-it"
LAMP = {
    "id": "lamp",
    "name": "lamp",
    "attributes": {"vendor": {"value": "acme", "optional": False, "metadata": {"type": "string"}}},
    "twin": {
        "power": {
            "expected": {"value": "on", "metadata": {"timestamp": 1}},
            "optional": False,
            "metadata": {"type": "string"},
            "expected_version": {"cloud": 5, "edge": 0},
        },
        "level": {"optional": True, "metadata": {"type": "int"}, "expected_version": {"cloud": 5, "edge": 0}, "expected": {"value": "3"}},
    },
}
TOPIC = "$hw/events/device/lamp/"


@dataclass
class Edge:
    runtime: Runtime
    router: Router
    cloud: Probe
    app: DeviceApp
    broker: MosquittoBroker | None

    def from_cloud(self, operation: str, resource: str, content: Any) -> None:
        self.router.send_to_group(Group.TWIN, make_message(operation, resource, content, source="devicecontroller", group="twin"))

    def add_lamp(self) -> None:
        self.from_cloud("update", "membership", {"event_id": "c1", "timestamp": 1, "added_devices": [LAMP]})
        self.app.wait_for(f"$hw/events/node/{NODE}/membership/updated")


@contextmanager
def running_edge(tmp_path: Path, port: int, broker: MosquittoBroker | None, **values: Any) -> Iterator[Edge]:
    """bus + twin started by the runtime as ``python -m kubeedge_actors`` would, a cloud probe,
    and a device app connected to the broker on ``port`` once the bus has subscribed."""
    values |= {
        "database.source": str(tmp_path / "edge.db"),
        "edgehub.controller.node-id": NODE,
        "mqtt.reconnect-max-interval": 1.0,
        "modules.enabled": ["twin", "eventbus"],
    }
    router = Router()
    cloud = start_probe(router, Module.HUB, Group.HUB)
    runtime = Runtime(edge_defaults().with_values(values), builtin_modules(), router=router)
    runtime.start()  # returns once each on_start has run: the embedded broker listens
    app = DeviceApp("127.0.0.1", port)
    try:
        app.request(f"$hw/events/node/{NODE}/membership/get", f"$hw/events/node/{NODE}/membership/get/result", {"event_id": "ready"})
        yield Edge(runtime, router, cloud, app, broker)
    finally:
        app.close()
        runtime.stop()
        router.close()


@pytest.fixture
def mosquitto_edge(mosquitto: MosquittoBroker, tmp_path: Path) -> Iterator[Edge]:
    with running_edge(tmp_path, mosquitto.port, mosquitto, **{"mqtt.mode": 2, "mqtt.server": mosquitto.url}) as edge:
        yield edge


@pytest.fixture
def embedded_edge(tmp_path: Path) -> Iterator[Edge]:
    port = free_port()
    with running_edge(tmp_path, port, None, **{"mqtt.mode": 0, "mqtt.internal-server": f"tcp://127.0.0.1:{port}"}) as edge:
        yield edge


@pytest.fixture(params=["mosquitto", "embedded"])
def edge(request: pytest.FixtureRequest) -> Edge:
    """The same tests on Mosquitto (mqtt.mode 2) and on the bus's embedded broker (mode 0)."""
    return request.getfixturevalue(f"{request.param}_edge")


def test_twin_update_get_and_state_update_return_the_spec_payloads(edge: Edge) -> None:
    edge.add_lamp()

    edge.app.publish(TOPIC + "twin/update", {"event_id": "u1", "timestamp": 1, "twin": {"power": {"actual": {"value": "off"}}}})
    result = edge.app.wait_for(TOPIC + "twin/update/result")
    document = edge.app.wait_for(TOPIC + "twin/update/document", lambda p: p["event_id"] == "u1")
    delta = edge.app.wait_for(TOPIC + "twin/update/delta", lambda p: "actual" in p["twin"]["power"])
    edge.app.publish(TOPIC + "twin/get", {"event_id": "g1"})
    got = edge.app.wait_for(TOPIC + "twin/get/result")
    edge.app.publish(TOPIC + "state/update", {"event_id": "s1", "timestamp": 1, "state": "online"})
    state = edge.app.wait_for(TOPIC + "state/update/result")

    power_ts = result["twin"]["power"]["actual"]["metadata"]["timestamp"]
    power = {
        "expected": {"value": "on", "metadata": {"timestamp": result["twin"]["power"]["expected"]["metadata"]["timestamp"]}},
        "actual": {"value": "off", "metadata": {"timestamp": power_ts}},
        "optional": False,
        "metadata": {"type": "string"},
    }
    assert result == {"event_id": "u1", "timestamp": result["timestamp"], "twin": {"power": power}}
    assert document["event_id"] == "u1" and document["twin"]["power"]["current"] == power
    assert "actual" not in document["twin"]["power"]["last"]
    assert delta["delta"] == {"level": "3", "power": "on"} and delta["twin"]["power"] == power
    assert got["event_id"] == "g1" and got["twin"]["power"] == power and got["twin"]["level"]["metadata"] == {"type": "int"}
    assert set(state) == {"event_id", "timestamp", "device"}
    assert state["device"]["name"] == "lamp" and state["device"]["state"] == "online" and state["device"]["last_online"]


def test_an_invalid_payload_gets_400_and_the_twin_keeps_working(edge: Edge) -> None:
    edge.add_lamp()

    edge.app.publish(TOPIC + "twin/update", "{this is not json")
    bad = edge.app.wait_for(TOPIC + "twin/update/result")
    edge.app.publish(TOPIC + "twin/update", {"event_id": "t2", "twin": {"level": {"actual": {"value": "not-an-int"}}}})
    typed = edge.app.wait_for(TOPIC + "twin/update/result", lambda p: p.get("event_id") == "t2")
    edge.app.publish(TOPIC + "twin/update", {"event_id": "ok", "twin": {"level": {"actual": {"value": "3"}}}})
    good = edge.app.wait_for(TOPIC + "twin/update/result", lambda p: p.get("event_id") == "ok")

    assert bad["code"] == 400 and bad["event_id"] == "" and "not valid JSON" in bad["reason"]
    assert typed["code"] == 400 and "int" in typed["reason"]
    assert "code" not in good and good["twin"]["level"]["actual"]["value"] == "3"


def test_membership_from_the_cloud_is_announced_on_membership_updated(edge: Edge) -> None:
    edge.from_cloud("update", "membership", {"event_id": "c1", "timestamp": 1, "added_devices": [LAMP]})
    added = edge.app.wait_for(f"$hw/events/node/{NODE}/membership/updated")
    edge.from_cloud("update", "membership", {"event_id": "c2", "timestamp": 2, "removed_devices": [{"id": "lamp"}]})
    removed = edge.app.wait_for(f"$hw/events/node/{NODE}/membership/updated", lambda p: p["removed_devices"] is not None)

    assert added["removed_devices"] is None
    [lamp] = added["added_devices"]
    assert lamp["id"] == "lamp" and lamp["attributes"]["vendor"]["value"] == "acme"
    assert lamp["twin"]["power"]["expected"]["value"] == "on" and "expected_version" not in lamp["twin"]["power"]
    assert removed["added_devices"] is None and removed["removed_devices"] == [{"id": "lamp"}]


def test_changes_made_while_the_cloud_is_away_reach_it_once_each_in_order_after_it_connects(edge: Edge) -> None:
    edge.add_lamp()
    for value in ("1", "2", "3"):
        edge.app.publish(TOPIC + "twin/update", {"event_id": value, "twin": {"level": {"actual": {"value": value}}}})
        edge.app.wait_for(TOPIC + "twin/update/result", lambda p, v=value: p.get("event_id") == v)
    assert edge.cloud.messages == []  # the cloud is away: the twin keeps them, and asks nothing

    for group in (Group.TWIN, Group.BUS):
        edge.router.send_to_group(group, hub_says(edge.router, True, group))

    edge.cloud.wait_for(lambda m: m.resource == "membership/detail")
    edge_updates = [m for m in edge.cloud.messages if m.resource == "device/lamp/twin/edge_updated"]
    assert [m.content["twin"]["level"]["actual"]["value"] for m in edge_updates] == ["1", "2", "3"]
    assert edge_updates[0].content["twin"]["level"]["actual_version"] == {"cloud": 0, "edge": 1}
    assert edge.app.wait_for("node/connection") == b"cloud_connected"  # docs/protocol.md#3.9, wire-visible


def test_a_broker_restart_is_survived_with_subscriptions_restored(mosquitto_edge: Edge) -> None:
    edge = mosquitto_edge
    assert edge.broker is not None
    edge.add_lamp()

    edge.broker.restart()
    got = edge.app.twin_get("lamp", timeout_s=15)

    assert got["twin"]["power"]["expected"]["value"] == "on"


def bus_figures(runtime: Runtime) -> dict[str, float]:
    """The eventbus module's figures as scraped from the metrics endpoint, by sample name."""
    assert runtime.metrics is not None
    with urllib.request.urlopen(f"http://127.0.0.1:{runtime.metrics.port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        sample.name + "".join(f"{{{k}={v}}}" for k, v in sorted(sample.labels.items()) if k != "module"): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.labels.get("module") == Module.BUS
    }


def test_bad_clients_on_the_embedded_broker_lose_their_own_connection_and_the_bus_and_device_app_go_on(tmp_path: Path) -> None:
    port = free_port()
    values = {"mqtt.mode": 0, "mqtt.internal-server": f"tcp://127.0.0.1:{port}", "metrics.enabled": True, "metrics.port": 0}
    smuggled = publish_packet(TOPIC + "twin/get", b'{"event_id":"smuggled"}')
    bad_packets = (
        publish_packet("$hw/events/device/+/twin/update", smuggled),  # a wildcard topic name
        packet(0x00, b""),  # a reserved packet type
        b"\x30" + varint(64 << 20) + b"\x00\x01t",  # 64 MiB announced, over mqtt.max-packet-size
    )
    with running_edge(tmp_path, port, None, **values) as edge:
        edge.add_lamp()
        for data in bad_packets:
            bad = RawClient(port)
            bad.connect("bad-device-app")
            bad.send(data)
            assert bad.closed_by_broker()
        got = edge.app.twin_get("lamp")
        figures = bus_figures(edge.runtime)

    assert got["twin"]["power"]["expected"]["value"] == "on"
    assert [p for p in edge.app.on_topic(TOPIC + "twin/get/result") if p.get("event_id") == "smuggled"] == []
    assert figures["kubeedge_mqtt_broker_protocol_errors_total"] == 3
    assert figures["kubeedge_mqtt_connected{broker=internal}"] == 1
    assert figures["kubeedge_mqtt_connection_losses_total{broker=internal}"] == 0
