"""edged against bare Docker, measured in the same run.

- ``pod_running_p50_ms``: a pod insert handed to edged → the first pod status with phase
  Running arriving at meta (a stand-in answering as meta does), p50 over ``--pods`` pods.
- ``pod_vs_raw_docker_p50``: that p50 divided by the p50 of a bare docker SDK create + start
  of the same container (same image, command, host network). Rounds alternate which side goes
  first, so machine noise hits both alike.
- ``idle_rss_mb_50_pods`` / ``idle_cpu_pct_50_pods``: this process (router, meta stand-in,
  edged) with ``--idle-pods`` pods running, over ``--idle-seconds``: resident memory at the end
  and CPU time used as a percentage of one core.
- ``probe_overhead_cpu_pct_100``: this process's CPU (percent of one core) with ``--probe-pods``
  pods each serving HTTP with a 1 s ``httpGet`` liveness probe, less the same with the same
  pods without probes (the baseline, measured in the same run just before); both quoted.

- ``burst_100_running_p99_s``: meta and edged started (a real SQLite file, a hub stand-in for
  the cloud), ``--burst`` (100) pod inserts from the cloud sent at once: p99 over the pods of
  insert → its first Running status reaching the hub; ``raw_docker_100_s`` is the baseline: the
  same containers created and started by a bare docker SDK loop with edged's parallelism
  (``EdgedActor.module_worker_count`` threads), all of them; ``burst_vs_raw_docker`` the ratio.
- ``restart_100_pods_s``: that edge stopped, its containers removed, started again offline on
  the same database: start → all ``--burst`` pods Running at the hub again (this stage runs first,
  in a child process of its own, so that its edge counts in no other figure);
  ``restart_vs_raw_docker`` is that over ``raw_docker_100_s``.

- ``logs_first_line_ms``: a cloud-side log request (the control API's, as the Kubernetes API's ``/log`` asks it) → its first line,
  through a real cloud hub, edge process and Docker, against ``docker_logs_first_line_ms`` (the
  same container's ``docker logs --tail 1`` next door, same run): ``logs_vs_docker_p50``. The
  measurement is ``benchmarks/streams.py``'s, which has the other stream figures.

Needs a running Docker Engine (``scripts/test`` or ``scripts/edge`` start one as root).
Usage: ``python benchmarks/pods.py [--pods 20] [--idle-pods 50] [--idle-seconds 30] [--probe-pods 100]
[--probe-seconds 20] [--burst 100] [--log-rounds 30]``
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import docker
import docker.errors
import pykka

from actors import builtin_modules
from actors.edged import EdgedActor
from actors.edged.model import NODE_ID_LABEL
from actors.keys import edge_defaults
from actors.protocol import Group, Module
from actors.testing import cloud_message
from benchmarks.processes import proc_rss_mb
from examples.busybox_image import ensure_busybox_image
from kubeedge_actors import Message, ModuleActor, Router, Runtime
from tests.services import BUSYBOX_IMAGE

COMMAND = ["sleep", "3600"]


class RunningWatch(ModuleActor):
    """A stand-in that notes when each pod is first reported Running (``update`` on podstatus)."""

    def __init__(
        self, router: Router, config: Any = None, *, running: dict[str, float], changed: threading.Condition, **kwargs: Any
    ) -> None:
        super().__init__(router, config, **kwargs)
        self.running, self.changed = running, changed

    def handle_message(self, message: Message) -> None:
        if message.operation == "update" and "/podstatus/" in message.resource and isinstance(message.content, dict):
            name = message.resource.rsplit("/", 1)[1]
            if (message.content.get("Status") or {}).get("phase") == "Running" and name not in self.running:
                with self.changed:
                    self.running[name] = time.perf_counter()
                    self.changed.notify_all()


class MetaStandIn(RunningWatch):
    """Answers edged as meta does (docs/architecture.md#4.3) and notes when each pod is first reported Running."""

    module_name = Module.META
    module_group = "meta"

    def handle_message(self, message: Message) -> None:
        super().handle_message(message)
        if message.is_sync:
            self.module_router.send_resp(message.reply([] if message.operation == "query" else "OK"))


def pod(name: str) -> dict[str, Any]:
    container = {"name": "main", "image": BUSYBOX_IMAGE, "command": COMMAND}
    spec = {"containers": [container], "terminationGracePeriodSeconds": 0}
    return {"metadata": {"name": name, "namespace": "default", "uid": str(uuid.uuid4())}, "spec": spec}


def http_pod(name: str, port: int, *, probed: bool) -> dict[str, Any]:
    """A pod serving HTTP on ``port`` (host network); with a 1 s liveness probe of it if ``probed``."""
    serve = f"mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p {port} -h /www"
    container: dict[str, Any] = {"name": "main", "image": BUSYBOX_IMAGE, "command": ["sh", "-c", serve]}
    if probed:
        container["livenessProbe"] = {"httpGet": {"path": "/index.html", "port": port}, "periodSeconds": 1}
    spec = {"containers": [container], "terminationGracePeriodSeconds": 0}
    return {"metadata": {"name": name, "namespace": "default", "uid": str(uuid.uuid4())}, "spec": spec}


def wait_running(running: dict[str, float], changed: threading.Condition, names: list[str], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    with changed:
        while not all(n in running for n in names):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"pods not Running within {timeout_s} s: {[n for n in names if n not in running]}")
            changed.wait(remaining)


class Rounds:
    """One side each: a pod through edged, or the same container straight through the SDK."""

    def __init__(self, router: Router, client: docker.APIClient, running: dict[str, float], changed: threading.Condition) -> None:
        self.router, self.client, self.running, self.changed = router, client, running, changed
        self.raw_label = f"bench-raw-{uuid.uuid4().hex[:8]}"
        self.edged_s: list[float] = []
        self.raw_s: list[float] = []

    def edged(self, name: str) -> None:
        sent_at = time.perf_counter()
        self.router.send(Module.EDGED, cloud_message("insert", f"default/pod/{name}", pod(name)))
        wait_running(self.running, self.changed, [name])
        self.edged_s.append(self.running[name] - sent_at)

    def raw(self) -> None:
        started = time.perf_counter()
        host_config = self.client.create_host_config(network_mode="host")
        labels = {NODE_ID_LABEL: self.raw_label}
        created = self.client.create_container(BUSYBOX_IMAGE, entrypoint=COMMAND, labels=labels, host_config=host_config)
        self.client.start(created["Id"])
        self.raw_s.append(time.perf_counter() - started)
        self.client.remove_container(created["Id"], force=True)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=20)
    parser.add_argument("--idle-pods", type=int, default=50)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--probe-pods", type=int, default=100)
    parser.add_argument("--probe-seconds", type=float, default=20.0)
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--log-rounds", type=int, default=30)
    parser.add_argument("--burst-only", action="store_true", help="the burst and restart figures, nothing else")
    return parser.parse_args()


def main() -> int:
    args = parse_arguments()
    if args.burst_only:
        print(burst_and_restart(docker.APIClient(), args.burst))
        return 0
    burst = burst_in_own_process(args.burst)  # first: its own edge, alone on the machine's Docker

    client = docker.APIClient()
    ensure_busybox_image(client, BUSYBOX_IMAGE)
    node_id = f"bench-{uuid.uuid4().hex[:8]}"
    root = tempfile.mkdtemp(prefix="edged-bench-")
    config = edge_defaults().with_values({"edgehub.controller.node-id": node_id, "edged.root-directory": root, "edged.server-port": 0})
    running: dict[str, float] = {}
    changed = threading.Condition()
    router = Router()
    router.register(Module.META, "meta", MetaStandIn.start(router, config, running=running, changed=changed))
    router.register(Module.EDGED, "edged", EdgedActor.start(router, config))
    rounds = Rounds(router, client, running, changed)
    try:
        rounds.edged("warm-up")  # the first pod also waits for edged's first look at Docker
        for index in range(args.pods):
            sides = [lambda i=index: rounds.edged(f"pod-{i}"), rounds.raw]
            for side in sides if index % 2 == 0 else reversed(sides):
                side()
        names = [f"idle-{i}" for i in range(args.idle_pods - args.pods - 1)]
        for name in names:
            router.send(Module.EDGED, cloud_message("insert", f"default/pod/{name}", pod(name)))
        wait_running(running, changed, names, timeout_s=120)
        cpu_before, wall_before = _cpu_s(), time.monotonic()
        time.sleep(args.idle_seconds)  # the measurement itself: the process idles beside its pods
        cpu_pct = 100 * (_cpu_s() - cpu_before) / (time.monotonic() - wall_before)
        rss = proc_rss_mb(os.getpid())
        gone = [f"pod-{i}" for i in range(args.pods)] + ["warm-up", *names]
        probes = ProbeStage(router, client, node_id, running, changed)
        probes.delete(gone)
        plain_pct = probes.measure("plain", args.probe_pods, args.probe_seconds, probed=False)
        probed_pct = probes.measure("probed", args.probe_pods, args.probe_seconds, probed=True)
    finally:
        pykka.ActorRegistry.stop_all()
        router.close()
        for label in (node_id, rounds.raw_label):
            for row in client.containers(all=True, filters={"label": f"{NODE_ID_LABEL}={label}"}):
                with contextlib.suppress(docker.errors.NotFound):  # edged may be removing it too
                    client.remove_container(row["Id"], force=True)
        shutil.rmtree(root, ignore_errors=True)
    # Last, and imported only now: it runs a cloud hub in this process, whose code and threads
    # would count in the figures above.
    from benchmarks.streams import logs_first_line_figures

    logs = " ".join(f"{name}={value:.2f}" for name, value in logs_first_line_figures(args.log_rounds).items())
    edged_p50, raw_p50 = statistics.median(rounds.edged_s), statistics.median(rounds.raw_s)
    print(f"{args.pods} pods: edged insert→Running p50 {edged_p50 * 1000:.0f} ms; bare create+start p50 {raw_p50 * 1000:.0f} ms")
    print(
        f"pod_running_p50_ms={edged_p50 * 1000:.1f} pod_vs_raw_docker_p50={edged_p50 / raw_p50:.2f} "
        f"idle_rss_mb_{args.idle_pods}_pods={rss:.1f} idle_cpu_pct_{args.idle_pods}_pods={cpu_pct:.2f} "
        f"probe_overhead_cpu_pct_{args.probe_pods}={probed_pct - plain_pct:.2f} "
        f"cpu_pct_{args.probe_pods}_pods_without_probes={plain_pct:.2f} cpu_pct_{args.probe_pods}_pods_with_probes={probed_pct:.2f} "
        f"{burst} {logs}"
    )
    return 0


class ProbeStage:
    """The same number of HTTP-serving pods without probes, then with a 1 s liveness probe each."""

    def __init__(
        self, router: Router, client: docker.APIClient, node_id: str, running: dict[str, float], changed: threading.Condition
    ) -> None:
        self.router, self.client, self.node_id, self.running, self.changed = router, client, node_id, running, changed

    def delete(self, names: list[str]) -> None:
        for name in names:
            # The spec's grace period (0) makes the stop immediate; the uid is the one edged runs.
            gone = {
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"terminationGracePeriodSeconds": 0, "containers": [{"name": "main", "image": BUSYBOX_IMAGE}]},
            }
            self.router.send(Module.EDGED, cloud_message("delete", f"default/pod/{name}", gone))
        self._wait_containers(0)

    def measure(self, prefix: str, count: int, seconds: float, *, probed: bool) -> float:
        """Run ``count`` pods, idle ``seconds`` beside them; returns the CPU % of one core. The pods go after."""
        ports = _free_ports(count)
        names = [f"{prefix}-{i}" for i in range(count)]
        for name, port in zip(names, ports, strict=True):
            self.router.send(Module.EDGED, cloud_message("insert", f"default/pod/{name}", http_pod(name, port, probed=probed)))
        wait_running(self.running, self.changed, names, timeout_s=180)
        time.sleep(3)  # the starts' own work settles (and the first probes run) before measuring
        cpu_before, wall_before = _cpu_s(), time.monotonic()
        time.sleep(seconds)
        cpu_pct = 100 * (_cpu_s() - cpu_before) / (time.monotonic() - wall_before)
        rows = self.client.containers(all=True, filters={"label": f"{NODE_ID_LABEL}={self.node_id}"})
        if len(rows) != count or any(row.get("State") != "running" for row in rows):
            raise RuntimeError(f"{prefix}: expected {count} running containers (no restart), found {len(rows)}")
        self.delete(names)
        print(f"{count} pods {'with' if probed else 'without'} 1 s HTTP liveness probes: {cpu_pct:.2f} % of a core over {seconds:g} s")
        return cpu_pct

    def _wait_containers(self, count: int, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.client.containers(all=True, filters={"label": f"{NODE_ID_LABEL}={self.node_id}"})) != count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the node's containers did not reach {count}")
            time.sleep(0.2)


def _free_ports(count: int) -> list[int]:
    """``count`` different ports free now (held together while chosen, so none comes twice)."""
    held = [socket.socket() for _ in range(count)]
    try:
        for probe in held:
            probe.bind(("0.0.0.0", 0))
        return [int(probe.getsockname()[1]) for probe in held]
    finally:
        for probe in held:
            probe.close()


# --- a burst of pods, and the restart of a node that holds them ------------------------------


class HubStandIn(RunningWatch):
    """The hub, cloud away: notes when each pod is first reported Running on its way to the cloud."""

    module_name = Module.HUB
    module_group = Group.HUB


def start_node(config: Any, running: dict[str, float], changed: threading.Condition) -> Runtime:
    """meta and edged on ``config``'s database, a hub stand-in in front of them."""
    router = Router()
    router.register(Module.HUB, Group.HUB, HubStandIn.start(router, running=running, changed=changed))
    runtime = Runtime(config, builtin_modules(), router=router)
    runtime.start()
    return runtime


def stop_node(runtime: Runtime) -> None:
    runtime.stop()
    pykka.ActorRegistry.stop_all()  # the hub stand-in
    runtime.router.close()


def remove_labelled(client: docker.APIClient, label: str) -> None:
    with ThreadPoolExecutor(EdgedActor.module_worker_count) as pool:
        rows = client.containers(all=True, filters={"label": f"{NODE_ID_LABEL}={label}"})
        list(pool.map(lambda row: client.remove_container(row["Id"], force=True), rows))


def raw_docker_burst(client: docker.APIClient, count: int) -> float:
    """Seconds for a bare SDK loop to create and start ``count`` containers, edged's parallelism."""
    label = f"bench-raw-{uuid.uuid4().hex[:8]}"

    def create_and_start(_index: int) -> None:
        host_config = client.create_host_config(network_mode="host")
        created = client.create_container(BUSYBOX_IMAGE, entrypoint=COMMAND, labels={NODE_ID_LABEL: label}, host_config=host_config)
        client.start(created["Id"])

    started = time.perf_counter()
    try:
        with ThreadPoolExecutor(EdgedActor.module_worker_count) as pool:
            list(pool.map(create_and_start, range(count)))
        return time.perf_counter() - started
    finally:
        remove_labelled(client, label)


def burst_in_own_process(count: int) -> str:
    """:func:`burst_and_restart` in a child process: its 100-pod edge leaves memory behind in the
    process that ran it, which would count in this process's ``idle_rss_mb_50_pods``."""
    command = [sys.executable, __file__, "--burst-only", "--burst", str(count)]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
    return done.stdout.strip().splitlines()[-1]


def burst_and_restart(client: docker.APIClient, count: int) -> str:
    """``burst_…`` and ``restart_…`` figures against the bare loop, as ``key=value`` words."""
    ensure_busybox_image(client, BUSYBOX_IMAGE)
    node_id = f"bench-burst-{uuid.uuid4().hex[:8]}"
    root = tempfile.mkdtemp(prefix="edged-burst-")
    config = edge_defaults().with_values(
        {
            "edgehub.controller.node-id": node_id,
            "edged.hostname-override": node_id,
            "edged.root-directory": root,
            "edged.server-port": 0,
            "database.source": str(Path(root) / "edge.db"),
            "modules.enabled": [Module.META, Module.EDGED],
        }
    )
    running: dict[str, float] = {}
    changed = threading.Condition()
    names = [f"burst-{i}" for i in range(count)]
    try:
        raw_s = raw_docker_burst(client, count)
        runtime = start_node(config, running, changed)
        sent_at = {}
        for name in names:
            sent_at[name] = time.perf_counter()
            runtime.router.send_to_group(Group.META, cloud_message("insert", f"default/pod/{name}", pod(name)))
        wait_running(running, changed, names, timeout_s=300)
        burst = [running[name] - sent_at[name] for name in names]
        stop_node(runtime)
        remove_labelled(client, node_id)
        running.clear()
        started = time.perf_counter()
        runtime = start_node(config, running, changed)
        wait_running(running, changed, names, timeout_s=300)
        restart_s = max(running.values()) - started
        stop_node(runtime)
    finally:
        remove_labelled(client, node_id)
        shutil.rmtree(root, ignore_errors=True)
    p99 = statistics.quantiles(burst, n=100)[98] if count > 1 else burst[0]
    print(f"{count} pods at once: Running p99 {p99:.2f} s, after a restart {restart_s:.2f} s; bare loop {raw_s:.2f} s", flush=True)
    return (
        f"burst_{count}_running_p99_s={p99:.2f} raw_docker_{count}_s={raw_s:.2f} burst_vs_raw_docker={p99 / raw_s:.2f} "
        f"restart_{count}_pods_s={restart_s:.2f} restart_vs_raw_docker={restart_s / raw_s:.2f}"
    )


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    sys.exit(main())
