"""Tier 2: meta and the twin restarted by the runtime while the hub's link flaps
(docs/architecture.md#4.1, docs/architecture.md#5.2).

The real hub, twin and meta in one runtime (SQLite files, real threads and mailboxes); the
link is the fake of tests/hub, dropped from the test's thread while the twin reports and
while meta or the twin crashes. What must hold: no module believes another state than the
hub's, and every report the twin answered reaches the cloud, first arrivals in order.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from actors import builtin_modules
from actors.keys import edge_defaults
from actors.protocol import Group, Module, cloud_connection_view
from kubeedge_actors import Runtime
from kubeedge_actors.actor import _Deliver
from kubeedge_actors.message import decode_message
from kubeedge_actors.testing import Probe, start_probe, wait_until
from tests.hub.fakes import FakeDialer
from tests.twin.helpers import bus_message, from_cloud

NODE = "race-node"
LAMP = {"id": "lamp", "name": "lamp", "twin": {"count": {"expected": {"value": "0"}, "expected_version": {"cloud": 1, "edge": 0}}}}
ROUNDS = 40


@dataclasses.dataclass
class Edge:
    runtime: Runtime
    dialer: FakeDialer
    bus: Probe

    def crash(self, module: str) -> None:
        def boom() -> None:
            raise RuntimeError(f"{module} crashes on purpose")

        restarts = self.runtime.restart_count(module)
        ref = self.runtime.actor_ref(module)
        assert ref is not None
        ref.tell(_Deliver(boom))
        wait_until(lambda: self.runtime.restart_count(module) > restarts and self.runtime.router.is_alive(module), 10, what="restarted")

    def report(self, value: str) -> None:
        """The device reports ``value`` and the twin answers it (so it is stored)."""
        update = {"event_id": value, "twin": {"count": {"actual": {"value": value}}}}
        self.runtime.router.send_to_group(Group.TWIN, bus_message("$hw/events/device/lamp/twin/update", update))
        self.bus.wait_for(lambda m: m.resource.endswith("/twin/update/result") and value.encode() in m.content, timeout_s=10)

    def reported_at_the_cloud(self) -> list[str]:
        """Each report's value, in the order of first arrival over every link."""
        first_arrivals: dict[str, str] = {}
        for link in list(self.dialer.links):
            for frame in list(link.sent):
                message = decode_message(frame)
                if message.resource.endswith("/twin/edge_updated"):
                    first_arrivals.setdefault(message.id, message.content["twin"]["count"]["actual"]["value"])
        return list(first_arrivals.values())

    def connected(self, module: str) -> bool:
        ref = self.runtime.actor_ref(module)
        assert ref is not None
        return bool(ref.proxy().connected.get())


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[Edge]:
    dialer = FakeDialer().accept(10_000)
    specs = builtin_modules()
    specs[Module.HUB] = dataclasses.replace(specs[Module.HUB], make_kwargs=lambda _config: {"dialer": dialer})
    config = edge_defaults().with_values(
        {
            "database.source": str(tmp_path / "edge.db"),
            "edgehub.controller.node-id": NODE,
            "modules.enabled": [Module.META, Module.TWIN, Module.HUB],
            "modules.restart.retries": 0,
            "modules.restart.interval": 0.01,
            "modules.restart.grow-rate": 1.0,
            "edgehub.reconnect.initial-interval": 0.001,
            "edgehub.reconnect.max-interval": 0.005,
        }
    )
    runtime = Runtime(config, specs)
    bus = start_probe(runtime.router, Module.BUS, Group.BUS)  # in place of MQTT
    runtime.start()
    runtime.router.send_to_group(Group.TWIN, from_cloud("update", "membership", {"event_id": "m", "added_devices": [LAMP]}))
    bus.wait_for(lambda m: m.resource.endswith("/membership/updated"), timeout_s=10)
    wait_until(lambda: cloud_connection_view(runtime.router).connected, 10, what="the hub connected")
    yield Edge(runtime, dialer, bus)
    runtime.stop()
    runtime.router.close()


@pytest.mark.crashes_on_purpose
def test_modules_restarted_while_the_link_flaps_follow_the_hub_and_every_report_reaches_the_cloud(edge: Edge) -> None:
    values = [f"v{n:02d}" for n in range(ROUNDS)]
    crashes = itertools.cycle([None, Module.TWIN, None, Module.META])

    for value, crashed in zip(values, crashes, strict=False):
        edge.report(value)
        edge.dialer.link.lose("dropped by the test")  # the newest link (lost already, when a redial is under way)
        if crashed is not None:
            edge.crash(crashed)

    wait_until(lambda: len(edge.reported_at_the_cloud()) == ROUNDS, 20, what="every report at the cloud")
    assert edge.reported_at_the_cloud() == values
    wait_until(lambda: edge.connected(Module.HUB), 10, what="the hub connected again")
    view = cloud_connection_view(edge.runtime.router)
    assert (edge.connected(Module.META), edge.connected(Module.TWIN), view.connected) == (True, True, True)
