"""Tier 3: a flapping link to this project's cloud hub is redialled within 2 × heartbeat
(docs/protocol.md#3.5). The waits are the hub's own computed ones, not measured times."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cloud.running import RunningCloudHub, edge_config
from tests.hub.edge import RunningEdge, start_edge
from tests.integration.fault_tools import Uplink
from tests.services import TlsFiles

HEARTBEAT_S = 0.5
DROPS = 6


@pytest.fixture
def uplink(cloud: RunningCloudHub) -> Iterator[Uplink]:
    relay = Uplink(lambda: cloud.port)
    yield relay
    relay.close()


@pytest.fixture
def flapping_edge(cloud: RunningCloudHub, tls_files: TlsFiles, uplink: Uplink) -> Iterator[RunningEdge]:
    values = {
        "edgehub.websocket.url": f"wss://127.0.0.1:{uplink.port}/project-1/edge-flap/events",
        "edgehub.controller.heartbeat": HEARTBEAT_S,
        "edgehub.reconnect.initial-interval": 0.05,
        "edgehub.reconnect.max-interval": 30.0,  # the original's file has no such key: the heartbeat caps it
    }
    edge = start_edge(edge_config(cloud, tls_files, "edge-flap", **values))
    yield edge
    edge.stop()
    edge.router.close()


def test_a_link_dropped_again_and_again_is_redialled_each_time_within_two_heartbeats(
    cloud: RunningCloudHub, uplink: Uplink, flapping_edge: RunningEdge
) -> None:
    for drop in range(DROPS):
        flapping_edge.wait_connected(times=drop + 1)
        assert uplink.drop() == 1
    flapping_edge.wait_connected(times=DROPS + 1)
    cloud.wait_node_connected("edge-flap")

    waits = list(flapping_edge.proxy().redial_delays.get())
    assert len(waits) == DROPS, waits
    assert all(0 < wait <= 2 * HEARTBEAT_S for wait in waits), waits
