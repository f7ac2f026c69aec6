"""How long the whole edge takes from SIGTERM to process exit, in three states.

The edge is ``python -m kubeedge_actors`` (five modules, the embedded broker, real Docker and
SQLite) connected to a cloud hub in a process of its own (the scenario harness of the tests).
Round after round, each edge is stopped, then started again and brought back to its state:

- ``stop_idle_s``: no pods (the baseline);
- ``stop_50_pods_s``: 50 pods running (each restart adopts their containers);
- ``stop_while_pulling_s``: 8 pods waiting for an image that trickles in from a registry
  behind a 20 KB/s link (dockerd drops a pull whose client has gone, so every restart pulls
  again, and the stop always lands in the middle of the pulls).

Medians over ``--rounds``; the order of the three states rotates from round to round, so
machine noise hits each alike. ``stop_50_pods_vs_idle`` and ``stop_while_pulling_vs_idle``
are the ratios to the baseline of the same run. The issue's target: under 3 s each.

Needs a running Docker Engine and Debian's docker-registry.
Usage: ``python benchmarks/stop.py [--rounds 5] [--pods 50]``
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import docker

from examples.busybox_image import ensure_busybox_image
from kubeedge_actors.testing import wait_until
from tests.edged.docker_support import Registry, remove_image
from tests.integration.scenario import Scenario
from tests.integration.stop_support import ThrottledRelay, pod_object, pull_secret_object, push_unique_image, sigterm_and_wait
from tests.services import BUSYBOX_IMAGE

PULLING_PODS = 8


class Edge:
    """One scenario (a cloud hub and an edge) brought to a state by ``prepare`` after each start."""

    def __init__(self, name: str, scenario: Scenario, prepare: Callable[[], None]) -> None:
        self.name, self.scenario, self.prepare = name, scenario, prepare
        self.stops_s: list[float] = []

    def start(self) -> None:
        self.scenario.edge.start()
        self.scenario.edge.wait_for_log("hub: connected to the cloud")
        self.prepare()

    def stop(self) -> None:
        edge = self.scenario.edge
        assert edge.process is not None
        code, took = sigterm_and_wait(edge.process, 60)
        if code != 0:
            raise RuntimeError(f"{self.name}: the edge exited with {code} (None: still running after 60 s):\n{edge.tail()}")
        self.stops_s.append(took)


def apply(scenario: Scenario, objects: list[dict[str, Any]]) -> None:
    status, answer = scenario.cloud.api.call("POST", "apply", objects)
    if status != 200:
        raise RuntimeError(f"apply failed: {answer}")


def running_at_the_edge(scenario: Scenario, names: list[str]) -> Callable[[], None]:
    def wait() -> None:
        def running() -> bool:
            pods = scenario.edge.pods()
            return all(name in pods and pods[name]["status"]["phase"] == "Running" for name in names)

        wait_until(running, 300, 0.2, f"{len(names)} pods Running")

    return wait


def pulling_again(relay: ThrottledRelay) -> Callable[[], None]:
    def wait() -> None:
        mark = relay.bytes_down
        wait_until(lambda: relay.bytes_down > mark + 10_000, 120, 0.1, "the image being pulled")

    return wait


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pods", type=int, default=50)
    args = parser.parse_args()

    client = docker.from_env(timeout=120)
    ensure_busybox_image(client.api, BUSYBOX_IMAGE)
    with tempfile.TemporaryDirectory(prefix="stop-bench-") as folder, contextlib.ExitStack() as stack:
        root = Path(folder)
        idle, full, pulling = (stack.enter_context(Scenario(root / name, client)) for name in ("idle", "full", "pulling"))
        for scenario in (idle, full, pulling):
            scenario.cloud.start()

        names = [f"pod-{n}" for n in range(args.pods)]
        apply(full, [pod_object(full.node_id, name, BUSYBOX_IMAGE) for name in names])

        registry = Registry(root / "registry", "robot", "pw")
        stack.callback(registry.stop)
        relay = ThrottledRelay(registry.port, bytes_per_s=20_000)
        stack.callback(relay.close)
        auth = {"username": "robot", "password": "pw"}
        image = f"{relay.host}/" + push_unique_image(client, registry.host, "kubeedge-actors/stop-bench", pulling.node_id, auth)
        stack.callback(remove_image, client, image)
        secret = pull_secret_object("regcred", relay.host, "robot", "pw")
        pulled = [f"pulled-{n}" for n in range(PULLING_PODS)]
        apply(pulling, [secret] + [pod_object(pulling.node_id, name, image, pull_secret="regcred") for name in pulled])

        edges = [
            Edge("idle", idle, lambda: None),
            Edge(f"{args.pods} pods", full, running_at_the_edge(full, names)),
            Edge("pulling", pulling, pulling_again(relay)),
        ]
        for edge in edges:
            edge.start()
        for round_ in range(args.rounds):
            for edge in edges[round_ % 3 :] + edges[: round_ % 3]:
                edge.stop()
                if round_ < args.rounds - 1:
                    edge.start()
            print(f"round {round_ + 1}: " + ", ".join(f"{edge.name} {edge.stops_s[-1]:.2f} s" for edge in edges), flush=True)

    idle_s, full_s, pulling_s = (statistics.median(edge.stops_s) for edge in edges)
    print(
        f"stop_idle_s={idle_s:.2f} stop_{args.pods}_pods_s={full_s:.2f} stop_while_pulling_s={pulling_s:.2f} "
        f"stop_{args.pods}_pods_vs_idle={full_s / idle_s:.2f} stop_while_pulling_vs_idle={pulling_s / idle_s:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
