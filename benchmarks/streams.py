"""Logs and exec from the cloud side (docs/protocol.md#9.5), against Docker measured in the same run.

A real cloud hub (in this process, so the benchmark sees what it sends and receives) and a real
edge process on real Docker, as the integration tests run them (``tests/integration/scenario.py``).

- ``logs_first_line_ms``: the control API's log request (``GET …/pods/NAME/log?tailLines=1``,
  what ``kubectl logs`` becomes inside the cloud side) → the first line of the body at the cloud side; p50 over ``--rounds``.
- ``docker_logs_first_line_ms``: the baseline: the same container's ``docker logs --tail 1``
  through the docker SDK from this process (request → first line), p50, rounds alternating
  with the above; ``logs_vs_docker_p50`` is the ratio (what the cloud → edge → Docker → edge →
  cloud way costs over asking Docker next door).
- ``exec_p50_ms``: ``POST …/exec`` of ``true`` → its exit code at the cloud side, p50;
  ``docker_exec_p50_ms`` the baseline: exec create, start, inspect through the SDK, from this
  process; ``exec_vs_docker_p50`` the ratio.
- ``insert_ack_p50_ms_idle`` / ``insert_ack_p50_ms_streaming``: a configmap insert sent by the
  cloud hub → meta's "OK" back at the cloud hub, p50 over ``--acks``, first with no stream, then
  while a ``-f`` log of a container printing ~40 000 lines a second is being read as fast as
  possible; ``ack_streaming_vs_idle`` is the ratio (the window keeps it small).
- ``stream_mb_per_s``: how fast that followed log flows to the cloud side over ``--seconds``;
  ``docker_follow_mb_per_s`` the baseline: ``docker logs -f`` of the same container through the
  SDK, from this process, right after; ``stream_vs_docker_follow`` the ratio. Both read the
  backlog first, so they measure how fast Docker and the way can deliver, not how fast the
  container prints.

Usage: ``python benchmarks/streams.py [--rounds 30] [--acks 100]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import docker

from examples.busybox_image import ensure_busybox_image
from kubeedge_actors import Message
from kubeedge_cloud.apiclient import ApiClient
from kubeedge_cloud.names import CLOUDHUB_MODULE
from tests.cloud.running import RunningCloudHub
from tests.integration.scenario import Scenario
from tests.services import BUSYBOX_IMAGE

PODS = """\
apiVersion: v1
kind: Pod
metadata: {{name: quiet}}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
  - name: quiet
    image: {image}
    command: ["sh", "-c", "echo ready; trap 'exit 0' TERM; while true; do sleep 1; done"]
---
apiVersion: v1
kind: Pod
metadata: {{name: chatty}}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
  - name: chatty
    image: {image}
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do seq 1 2000; sleep 0.05; done"]
"""


class AckClock:
    """When the cloud hub sent each configmap insert, and when meta's "OK" for it came back."""

    def __init__(self, cloud: RunningCloudHub) -> None:
        assert cloud.runtime is not None
        router = cloud.runtime.router
        self.sent: dict[str, float] = {}
        self.acked: dict[str, float] = {}
        self.changed = threading.Condition()
        send, send_batch = router.send, router.send_batch

        def note(module: str, messages: Any) -> None:
            now = time.perf_counter()
            with self.changed:
                for message in messages:
                    if module == CLOUDHUB_MODULE and message.operation == "insert" and "/configmap/" in message.resource:
                        self.sent[message.id] = now
                    elif message.operation == "response" and message.parent_id in self.sent:
                        self.acked[message.parent_id] = now
                self.changed.notify_all()

        def timed_send(module: str, message: Message) -> bool:
            note(module, [message])
            return send(module, message)

        def timed_send_batch(module: str, messages: Any) -> bool:
            note(module, messages)
            return send_batch(module, messages)

        router.send = timed_send  # type: ignore[method-assign]
        router.send_batch = timed_send_batch  # type: ignore[method-assign]

    def round_trips_ms(self, cloud: RunningCloudHub, node: str, count: int, tag: str) -> list[float]:
        times: list[float] = []
        for index in range(count):
            before = set(self.sent)
            manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{tag}-{index}"}, "data": {"k": "v"}}
            status, answer = cloud.api.call("POST", "apply", [manifest], {"node": node})
            assert status == 200, answer
            with self.changed:
                [insert] = set(self.sent) - before
                if not self.changed.wait_for(lambda insert=insert: insert in self.acked, 30):  # type: ignore[misc]
                    raise RuntimeError(f"no ack for configmap {tag}-{index}")
            times.append((self.acked[insert] - self.sent[insert]) * 1000)
        return times


def first_line_ms(api: ApiClient, path: str, data: bytes | None = None) -> float:
    """A request to the control API (``path`` under /api/v1/) until its first line is read."""
    request = api.request("POST" if data else "GET", path)
    request.data = data
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30, context=api.tls) as response:
        line = response.readline()
        elapsed = (time.perf_counter() - started) * 1000
        response.read()
    assert line, path
    return elapsed


def docker_first_line_ms(client: Any, container_id: str) -> float:
    started = time.perf_counter()
    stream = client.api.logs(container_id, stream=True, tail=1)
    first = next(iter(stream))
    elapsed = (time.perf_counter() - started) * 1000
    stream.close()
    assert first
    return elapsed


def docker_exec_ms(client: Any, container_id: str) -> float:
    """The baseline of exec: create, start (reading its output), inspect for the exit code."""
    started = time.perf_counter()
    exec_id = client.api.exec_create(container_id, ["true"])["Id"]
    client.api.exec_start(exec_id)
    code = client.api.exec_inspect(exec_id)["ExitCode"]
    elapsed = (time.perf_counter() - started) * 1000
    assert code == 0
    return elapsed


class Follower(threading.Thread):
    """Reads a followed log as fast as it can, counting bytes."""

    def __init__(self, api: ApiClient, path: str) -> None:
        super().__init__(daemon=True)
        self.api = api
        self.path = path
        self.bytes = 0
        self.stop = threading.Event()
        self.response: Any = None

    def run(self) -> None:
        request = self.api.request("GET", self.path)
        with urllib.request.urlopen(request, timeout=60, context=self.api.tls) as response:
            self.response = response
            while not self.stop.is_set():
                chunk = response.read1(65536)
                if not chunk:
                    return
                self.bytes += len(chunk)


def mb_per_s(count: Any, seconds: float) -> float:
    """How fast ``count()`` (bytes) grows over ``seconds``."""
    before, started = count(), time.perf_counter()
    time.sleep(seconds)
    return (count() - before) / 1e6 / (time.perf_counter() - started)


def docker_follow_mb_per_s(client: Any, container_id: str, seconds: float) -> float:
    """The baseline: ``docker logs -f`` of the same container through the SDK, from its start."""
    stream = client.api.logs(container_id, stream=True, follow=True)
    received, started = 0, time.perf_counter()
    for frame in stream:
        received += len(frame)
        if time.perf_counter() - started >= seconds:
            break
    stream.close()
    return received / 1e6 / (time.perf_counter() - started)


def p50(values: list[float]) -> float:
    return statistics.median(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--acks", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=5.0, help="how long each log rate is measured")
    args = parser.parse_args()
    figures = measure(args.rounds, args.acks, args.seconds)
    print(" ".join(f"{name}={value:.2f}" for name, value in figures.items()))
    return 0


def logs_first_line_figures(rounds: int = 30) -> dict[str, float]:
    """Only the first-line figures (``benchmarks/pods.py`` quotes them beside its own)."""
    figures = measure(rounds, acks=0, seconds=0.0)
    return {name: figures[name] for name in ("logs_first_line_ms", "docker_logs_first_line_ms", "logs_vs_docker_p50")}


def measure(rounds: int, acks: int, seconds: float) -> dict[str, float]:
    """Every figure of this benchmark; with ``acks`` 0 the ack and rate figures are left out."""
    client = docker.from_env(timeout=60)
    ensure_busybox_image(client.api, BUSYBOX_IMAGE)
    with tempfile.TemporaryDirectory() as folder, Scenario(Path(folder), client, in_process_cloud=True) as scenario:
        cloud = scenario.cloud
        assert isinstance(cloud, RunningCloudHub)
        cloud.start()
        scenario.edge.start()
        scenario.wait_node("connected")
        clock = AckClock(cloud)
        manifest = Path(folder) / "pods.yaml"
        manifest.write_text(PODS.format(node=scenario.node_id, image=BUSYBOX_IMAGE))
        code, _, err = cloud.control("apply", "-f", str(manifest))
        assert code == 0, err
        scenario.wait_pod("quiet", "Running")
        scenario.wait_pod("chatty", "Running")
        [quiet] = scenario.running_containers("quiet")
        api, pods = cloud.api, "namespaces/default/pods"

        ours: list[float] = []
        baseline: list[float] = []
        execs: list[float] = []
        docker_execs: list[float] = []
        for index in range(rounds):
            measures = [
                lambda: ours.append(first_line_ms(api, f"{pods}/quiet/log?tailLines=1")),
                lambda: baseline.append(docker_first_line_ms(client, quiet.id)),
                lambda: execs.append(first_line_ms(api, f"{pods}/quiet/exec", b'{"command": ["true"]}')),
                lambda: docker_execs.append(docker_exec_ms(client, quiet.id)),
            ]
            for measure in measures if index % 2 == 0 else reversed(measures):
                measure()

        if acks == 0:
            return {
                "logs_first_line_ms": p50(ours),
                "docker_logs_first_line_ms": p50(baseline),
                "logs_vs_docker_p50": p50(ours) / p50(baseline),
            }
        idle = clock.round_trips_ms(cloud, scenario.node_id, acks, "idle")
        follower = Follower(api, f"{pods}/chatty/log?follow=true")
        follower.start()
        deadline = time.monotonic() + 30
        while follower.bytes < 200_000 and time.monotonic() < deadline:  # flowing before the clock starts
            time.sleep(0.05)
        streaming = clock.round_trips_ms(cloud, scenario.node_id, acks, "busy")
        ours_rate = mb_per_s(lambda: follower.bytes, seconds)
        follower.stop.set()
        if follower.response is not None:
            follower.response.close()
        [chatty] = scenario.running_containers("chatty")
        docker_rate = docker_follow_mb_per_s(client, chatty.id, seconds)

    return {
        "logs_first_line_ms": p50(ours),
        "docker_logs_first_line_ms": p50(baseline),
        "logs_vs_docker_p50": p50(ours) / p50(baseline),
        "exec_p50_ms": p50(execs),
        "docker_exec_p50_ms": p50(docker_execs),
        "exec_vs_docker_p50": p50(execs) / p50(docker_execs),
        "insert_ack_p50_ms_idle": p50(idle),
        "insert_ack_p50_ms_streaming": p50(streaming),
        "ack_streaming_vs_idle": p50(streaming) / p50(idle),
        "stream_mb_per_s": ours_rate,
        "docker_follow_mb_per_s": docker_rate,
        "stream_vs_docker_follow": ours_rate / docker_rate,
    }


if __name__ == "__main__":
    sys.exit(main())
