"""Tier 1: the mapper module finds its profile in meta (the cloud's configmap) and hands it to
the engine; device I/O is a fake behind the client adapter (docs/architecture.md#6.2)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from actors.keys import edge_defaults
from actors.mapper import MapperActor
from actors.mapper.errors import DeviceIoError
from actors.mapper.profile import DevicePlan, PropertyPlan
from kubeedge_actors.testing import ActorHarness
from kubeedge_cloud.devicemodels import ProfileDevice, ProtocolSpec, device_profile, parse_model, profile_configmap
from tests.mapper.test_profile import MODEL
from tests.services import free_port

Harness = ActorHarness[MapperActor]


class Unreachable:
    """A device that never answers."""

    def __init__(self, plan: DevicePlan, timeout_s: float) -> None:
        self.plan = plan

    def connect(self) -> None:
        raise DeviceIoError(f"device {self.plan.id}: cannot connect")

    def read(self, prop: PropertyPlan) -> str:
        raise DeviceIoError("not connected")

    def write(self, prop: PropertyPlan, text: str) -> None:
        raise DeviceIoError("not connected")

    def close(self) -> None:
        pass


@pytest.fixture
def harness() -> Iterator[Harness]:
    config = edge_defaults().with_values({"edgehub.controller.node-id": "edge-1", "mapper.mqtt-server": f"tcp://127.0.0.1:{free_port()}"})
    started = ActorHarness(MapperActor, config, client_factory=Unreachable)
    started.start()
    yield started
    started.stop()


def stored_configmap(node: str, *names: str, namespace: str = "default") -> str:
    devices = [
        ProfileDevice(name, "thermostat", ProtocolSpec("modbus-tcp", {"ip": "127.0.0.1", "port": 1, "slaveID": "1"})) for name in names
    ]
    return json.dumps(profile_configmap(namespace, node, device_profile(devices, {"thermostat": parse_model(MODEL)})))


def answer(harness: Harness, values: list[Any]) -> None:
    [query] = harness.router.take("sync", "metaManager")
    assert (query.operation, query.resource) == ("query", "default/configmap")
    harness.router.reply_to(query, values)
    harness.run_pending()


def test_the_profile_configmap_of_this_node_is_asked_of_meta_and_served(harness: Harness) -> None:
    other_node = stored_configmap("edge-2", "elsewhere")
    other_namespace = stored_configmap("edge-1", "hidden", namespace="lab")

    answer(harness, [other_node, other_namespace, stored_configmap("edge-1", "t1", "t2")])

    assert harness.actor.engine.device_ids == ["t1", "t2"]


def test_meta_is_asked_again_at_each_interval_and_a_changed_profile_applied(harness: Harness) -> None:
    answer(harness, [stored_configmap("edge-1", "t1")])

    harness.advance(2.0)
    answer(harness, [stored_configmap("edge-1", "t2")])

    assert harness.actor.engine.device_ids == ["t2"]


def test_a_profile_gone_from_meta_stops_every_device(harness: Harness) -> None:
    answer(harness, [stored_configmap("edge-1", "t1")])

    harness.advance(2.0)
    answer(harness, [])

    assert harness.actor.engine.device_ids == []
