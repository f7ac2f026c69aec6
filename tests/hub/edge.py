"""A started hub actor in a real router, with probes standing in for meta, twin and bus:
the edge end of the tier-2 link tests and the tier-3 cloud hub tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pykka

from actors.hub import HubActor
from actors.hub.transport import CloudDialer
from kubeedge_actors import Config, Router
from kubeedge_actors.testing import Probe, start_probe


@dataclass
class RunningEdge:
    """A hub actor in a real router, with probes standing in for meta, twin and bus."""

    node_id: str
    router: Router
    meta: Probe
    twin: Probe
    bus: Probe
    hub: pykka.ActorRef[Any]

    def proxy(self) -> Any:
        return self.hub.proxy()

    def connection_events(self, probe: Probe | None = None) -> list[str]:
        """The ``node/connection`` contents ``probe`` (the twin unless named) was told so far."""
        return [m.content for m in (probe or self.twin).messages if m.resource == "node/connection"]

    def wait_connected(self, times: int = 1) -> None:
        self.twin.wait_for(lambda m: self.connection_events().count("cloud_connected") >= times, timeout_s=10)

    def stop(self) -> None:
        if self.hub.is_alive():
            self.hub.stop()


def start_edge(config: Config, dialer: CloudDialer | None = None) -> RunningEdge:
    router = Router()
    meta = start_probe(router, "metaManager", "meta")
    twin = start_probe(router, "twin", "twin")
    bus = start_probe(router, "eventbus", "bus")
    hub = HubActor.start(router, config, dialer=dialer)
    router.register("websocket", "hub", hub)
    return RunningEdge(config["edgehub.controller.node-id"], router, meta, twin, bus, hub)
