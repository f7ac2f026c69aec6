"""Shared builders for the twin's tests."""

from __future__ import annotations

import base64
import json
from typing import Any

from actors.keys import edge_defaults
from actors.protocol import Module
from actors.twin.actor import TwinActor
from actors.twin.model import Device, Twin, Value, Version
from kubeedge_actors import Message
from kubeedge_actors.testing import ActorHarness, make_message
from tests.protocol.connection import hub_wrote
from tests.twin.fakes import FakeTwinStore

NODE = "node-1"


def bus_message(topic: str, payload: Any) -> Message:
    """An MQTT message as the bus hands it to the twin (the contract in docs/architecture.md#4.4)."""
    text = payload if isinstance(payload, str) else json.dumps(payload)
    resource = base64.urlsafe_b64encode(topic.encode()).decode()
    return make_message("response", resource, text, source="bus", group="user")


def from_cloud(operation: str, resource: str, content: Any, *, parent_id: str = "") -> Message:
    """A twin message from the v1.0.0 cloud (the contract in docs/architecture.md#4.5)."""
    return make_message(operation, resource, content, source="devicecontroller", group="twin", parent_id=parent_id)


def sensor(**twins: Twin) -> Device:
    return Device(
        "sensor-1", name="sensor-1", twins=twins or {"temp": Twin("temp", expected=Value("20", 1), expected_version=Version(0, 1))}
    )


def twin_harness(*devices: Device, store: FakeTwinStore | None = None, **kwargs: Any) -> tuple[ActorHarness[TwinActor], FakeTwinStore]:
    store = store or FakeTwinStore({device.id: device for device in devices})
    config = edge_defaults().with_values({"edgehub.controller.node-id": NODE})
    harness = ActorHarness(TwinActor, config, store=store, **kwargs)
    harness.start()
    return harness, store


def published(harness: ActorHarness[TwinActor]) -> list[tuple[str, Any]]:
    """(topic, parsed JSON payload) of everything sent to the eventbus, taken."""
    out = []
    for message in harness.router.take("send", Module.BUS):
        assert (message.source, message.group, message.operation) == ("twin", "bus", "publish")
        assert isinstance(message.content, bytes)
        out.append((message.resource, json.loads(message.content)))
    return out


def payloads_on(harness: ActorHarness[TwinActor], suffix: str) -> list[Any]:
    return [payload for topic, payload in published(harness) if topic.endswith(suffix)]


def to_cloud(harness: ActorHarness[TwinActor]) -> list[Message]:
    """What the twin handed the hub, taken, each then reported written by the hub (as the hub
    does once its link wrote it); the batches that report lets go are taken too."""
    sent: list[Message] = []
    while batch := harness.router.take("send", Module.HUB):
        sent += batch
        harness.deliver(hub_wrote(harness.router, batch))
    return sent


def handed_to_hub(harness: ActorHarness[TwinActor]) -> list[Message]:
    """What the twin handed the hub, taken, with no word from the hub yet."""
    return harness.router.take("send", Module.HUB)
