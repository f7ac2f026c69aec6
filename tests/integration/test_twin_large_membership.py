"""Tier 3: a membership of thousands of devices through Mosquitto loses no publish, and a device
app is answered while it is applied (docs/architecture.md#4.4).

The membership's publishes (a ``membership/updated``, a document and a delta per device) are
several times the bus's publish queue (``mqtt.inbound-queue-size``, small here): the twin takes
it in slices, each after the bus said its queue has room.
"""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from actors import builtin_modules
from actors.keys import edge_defaults
from actors.protocol import Group, Module
from kubeedge_actors import Router, Runtime
from kubeedge_actors.testing import make_message, start_probe, wait_until
from tests.integration.twin_device_app import DeviceApp
from tests.services import MosquittoBroker

NODE = "node-big"
DEVICES = 3_000
QUEUE = 1_000  # mqtt.inbound-queue-size: the membership's 9,000 publishes are nine times it


class Counter:
    """An MQTT client counting what arrives per topic suffix (and which devices joined)."""

    def __init__(self, port: int) -> None:
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.joined: list[str] = []
        self._subscribed = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"counter-{uuid.uuid4().hex[:8]}")
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe([("$hw/events/device/+/twin/update/document", 1), (f"$hw/events/node/{NODE}/membership/updated", 1)])
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise AssertionError("the counter could not subscribe")

    def _message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        suffix = "document" if message.topic.endswith("/document") else "membership"
        added = json.loads(message.payload)["added_devices"] if suffix == "membership" else None
        with self.lock:
            self.counts[suffix] = self.counts.get(suffix, 0) + 1
            if added:
                self.joined.extend(device["id"] for device in added)

    def count(self, suffix: str) -> int:
        with self.lock:
            return self.counts.get(suffix, 0)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def device(n: int) -> dict[str, Any]:
    twin = {"temp": {"expected": {"value": "20"}, "expected_version": {"cloud": 1, "edge": 0}}}
    return {"id": f"dev-{n:05d}", "name": f"dev-{n:05d}", "twin": twin}


def test_a_membership_of_thousands_of_devices_is_published_whole_and_device_apps_are_answered_meanwhile(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    values = {
        "mqtt.mode": 2,
        "mqtt.server": mosquitto.url,
        "mqtt.inbound-queue-size": QUEUE,
        "database.source": str(tmp_path / "edge.db"),
        "edgehub.controller.node-id": NODE,
        "modules.enabled": ["twin", "eventbus"],
    }
    router = Router()
    start_probe(router, Module.HUB, Group.HUB)
    runtime = Runtime(edge_defaults().with_values(values), builtin_modules(), router=router)
    runtime.start()
    app = DeviceApp("127.0.0.1", mosquitto.port)
    counter = Counter(mosquitto.port)
    try:
        app.request(f"$hw/events/node/{NODE}/membership/get", f"$hw/events/node/{NODE}/membership/get/result", {"event_id": "ready"})
        membership = {"added_devices": [device(n) for n in range(DEVICES)]}
        router.send_to_group(Group.TWIN, make_message("update", "membership", membership, source="devicecontroller", group="twin"))

        wait_until(lambda: counter.count("membership") > 0, timeout_s=30, what="the first slice's membership/updated")
        with counter.lock:
            first = counter.joined[0]
        result = app.twin_update(first, {"temp": "21"}, timeout_s=30)
        with counter.lock:
            joined_when_answered = len(counter.joined)

        wait_until(lambda: counter.count("membership") == DEVICES, timeout_s=120, what=f"{DEVICES} membership/updated")
        wait_until(lambda: counter.count("document") >= DEVICES, timeout_s=30, what=f"{DEVICES} documents")
        bus = runtime.actor_ref(Module.BUS)
        assert bus is not None
        figures: dict[str, float] = bus.proxy().module_metrics().get(timeout=10)
    finally:
        counter.close()
        app.close()
        runtime.stop()
        router.close()

    assert "code" not in result and result["twin"]["temp"]["actual"]["value"] == "21"
    assert joined_when_answered < DEVICES  # answered while the membership was being applied
    with counter.lock:
        assert sorted(counter.joined) == [f"dev-{n:05d}" for n in range(DEVICES)]
    refused = {name: value for name, value in figures.items() if "publishes_refused" in name or "inbound_dropped" in name}
    assert refused and not any(refused.values()), refused
