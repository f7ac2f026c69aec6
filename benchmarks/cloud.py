"""The cloud side at scale and kubectl as the way in, each figure quoted against a baseline
measured in the same run.

- ``kubectl_apply_to_running_p50_ms``: ``kubectl apply`` of a pod → Running in ``kubectl get``
  (a cloud side with a real edge process and Docker; benchmarks/kubeapi.py's measurement), with
  its baseline ``control_api_apply_to_running_p50_ms`` (the same pod through the control API).
- ``nodes_1000_cpu_pct`` / ``nodes_1000_rss_mb``: the cloud side process (``python -m
  kubeedge_cloud``, every module, TLS) while 1,000 simulated edges are connected: lightweight
  websocket clients in a process of their own, each with its own certificate (CN = its node),
  a keepalive every heartbeat (15 s, spread), its node status every 10 s, and 10 pods the cloud
  holds for it (applied through the control API before they connect; each edge reports them
  Running once). CPU over a ``--seconds`` window once the cloud side settled; baselines
  ``nodes_0_cpu_pct`` / ``nodes_0_rss_mb``: the same process, same pods, no edge.
- ``nodes_1000_settle_s``: from all 1,000 connected to settled: every edge connected and Ready
  at the controller, all 10,000 pods' Running taken, and every Node Ready in the Kubernetes
  API (limit 90 s; the window is measured anyway after it, and the line says what was missing).
- ``devices_1m_rss_mb``: a cloud side whose database holds 1,000,000 devices over 1,000 nodes
  (written in bulk into the device controller's own table: the rows the control API's apply would write,
  without a million HTTP round trips), after it started and listed one node's devices;
  baseline ``devices_0_rss_mb``: the same with none.

Usage: ``python benchmarks/cloud.py [--nodes 1000] [--devices 1000000] [--seconds 20] [--pods 5]``
(``--pods 0`` leaves out the kubectl figure, which needs Docker).
The simulated edges: ``python benchmarks/cloud.py --simulate URL_PREFIX CERTS NODES PODS``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.processes import CloudHubProcess, edge_certificates, proc_cpu_s, proc_rss_mb
from kubeedge_actors.message import Message, encode_message
from kubeedge_cloud.keys import CLOUD_MODULES
from kubeedge_cloud.pki import write_kubeconfig

HEARTBEAT_S = 15.0  # edgehub.controller.heartbeat's default
NODE_STATUS_S = 10.0  # edged's node status period (docs/protocol.md#7.5)
PODS_PER_NODE = 10
#: How long the cloud side may take to settle (see ``Settling``) before the window is measured anyway.
SETTLE_LIMIT_S = 90.0
_APPLY_BATCH = 1_000
_DEVICE_BATCH = 50_000


# --- the simulated edges (their own process) ------------------------------------------------


def _status_message(node: str, resource: str, content: object) -> str:
    return encode_message(Message.new(source="edged", group="meta", operation="update", resource=resource, content=content))


def node_status(node: str) -> str:
    ready = {"conditions": [{"type": "Ready", "status": "True"}], "nodeInfo": {"kubeletVersion": "v1.10.9-kubeedge-v1.0.0"}}
    return _status_message(node, f"default/nodestatus/{node}", {"UID": node, "Status": ready})


def pod_status(node: str, pod: str) -> str:
    running = {"phase": "Running", "containerStatuses": [{"name": "c", "ready": True, "restartCount": 0}]}
    return _status_message(node, f"bench/podstatus/{pod}", {"Name": pod, "Status": running})


def simulate(url_prefix: str, certs: Path, nodes: int, pods: int) -> None:
    """Connect ``nodes`` edges, print ``connected N`` once all are, then run until killed."""
    from websockets.asyncio.client import ClientConnection, connect
    from websockets.exceptions import InvalidHandshake

    from actors.hub.transport import keepalive_text

    files = edge_certificates(certs, [f"sim-{n}" for n in range(nodes)], one_key=True)
    keepalive = keepalive_text()

    async def drain(ws: ClientConnection) -> None:
        async for _ in ws:  # what the cloud sends (the pods) is read and dropped
            pass

    async def every(period_s: float, text: str, ws: ClientConnection) -> None:
        await asyncio.sleep(random.uniform(0, period_s))  # spread over the period
        while True:
            await ws.send(text)
            await asyncio.sleep(period_s)

    async def edge(number: int, connected: list[int], all_in: asyncio.Event) -> None:
        node = f"sim-{number}"
        context = ssl.create_default_context(cafile=str(certs / "ca.crt"))
        context.load_cert_chain(*files[node])
        url = f"{url_prefix}/{node}/events"
        while True:  # as an edge does: dial again after a failed handshake
            try:
                ws = await connect(url, ssl=context, ping_interval=None, compression=None, max_size=None, open_timeout=60)
                break
            except (OSError, TimeoutError, InvalidHandshake):
                await asyncio.sleep(random.uniform(1.0, 3.0))
        async with ws:
            connected[0] += 1
            if connected[0] == nodes:
                all_in.set()
            await ws.send(node_status(node))
            for index in range(pods):
                await ws.send(pod_status(node, f"{node}-pod-{index}"))
            await asyncio.gather(drain(ws), every(HEARTBEAT_S, keepalive, ws), every(NODE_STATUS_S, node_status(node), ws))

    async def main() -> None:
        connected, all_in = [0], asyncio.Event()
        tasks = []
        for number in range(nodes):
            tasks.append(asyncio.create_task(edge(number, connected, all_in)))
            if number % 50 == 49:
                await asyncio.sleep(0.05)  # no thundering herd of TLS handshakes
        await all_in.wait()
        print(f"connected {connected[0]}", flush=True)
        await asyncio.gather(*tasks)

    asyncio.run(main())


# --- the measuring side ---------------------------------------------------------------------


def cpu_pct_over(pid: int, seconds: float) -> float:
    cpu0, t0 = proc_cpu_s(pid), time.monotonic()
    time.sleep(seconds)
    return (proc_cpu_s(pid) - cpu0) / (time.monotonic() - t0) * 100


def apply_pods(cloud: CloudHubProcess, nodes: int, pods: int) -> None:
    manifests = [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"sim-{n}-pod-{i}", "namespace": "bench"},
            "spec": {"nodeName": f"sim-{n}", "containers": [{"name": "c", "image": "busybox:1.36", "command": ["sleep", "3600"]}]},
        }
        for n in range(nodes)
        for i in range(pods)
    ]
    for start in range(0, len(manifests), _APPLY_BATCH):
        status, answer = cloud.api.call("POST", "apply", manifests[start : start + _APPLY_BATCH])
        assert status == 200, answer


def _listed(cloud: CloudHubProcess, what: str, **query: str) -> list[dict[str, Any]] | None:
    """The control API's list, or None while the controller is too busy to answer."""
    status, answer = cloud.api.call("GET", what, query=query)
    if status in (503, 504):  # the burst of 1,000 connections and their pods keeps it busy
        return None
    assert status == 200, answer
    return list(answer["items"])


def kube_ready_nodes(kubeconfig: Path) -> int:
    """Nodes ``Ready`` in the Kubernetes API (module kubeapi writes them from the edges' node status)."""
    import kubernetes.client
    import kubernetes.config

    with kubernetes.config.new_client_from_config(config_file=str(kubeconfig)) as client:  # type: ignore[no-untyped-call]
        items = kubernetes.client.CoreV1Api(client).list_node(_request_timeout=30).items
    conditions = [(node.status.conditions if node.status else None) or [] for node in items]
    return sum(1 for listed in conditions if any(c.type == "Ready" and c.status == "True" for c in listed))


class Settling:
    """What has not settled yet, stage by stage (each stays passed once passed): every edge
    connected and Ready at the controller, every pod's Running taken, and (with kubeapi) every
    Node Ready in the Kubernetes API."""

    def __init__(self, cloud: CloudHubProcess, nodes: int, kubeconfig: Path | None) -> None:
        self.cloud, self.nodes, self.kubeconfig = cloud, nodes, kubeconfig
        self.stage = 0

    def waiting_for(self) -> str | None:
        """What it waits for now, or None once settled."""
        stages = [self._nodes_ready, self._pods_running] + ([self._kube_nodes_ready] if self.kubeconfig else [])
        while self.stage < len(stages):
            waiting = stages[self.stage]()
            if waiting:
                return waiting
            self.stage += 1
        return None

    def _nodes_ready(self) -> str | None:
        rows = _listed(self.cloud, "nodes")
        ready = sum(1 for row in rows or [] if row["connection"] == "connected" and row["ready"] == "Ready")
        return f"{ready} of {self.nodes} nodes connected and Ready" if ready < self.nodes else None

    def _pods_running(self) -> str | None:
        pods = _listed(self.cloud, "pods", namespace="bench")
        running = sum(1 for row in pods or [] if row["phase"] == "Running")
        return f"{running} of {self.nodes * PODS_PER_NODE} pods Running" if running < self.nodes * PODS_PER_NODE else None

    def _kube_nodes_ready(self) -> str | None:
        assert self.kubeconfig is not None
        ready = kube_ready_nodes(self.kubeconfig)
        return f"{ready} of {self.nodes} Nodes Ready in the Kubernetes API" if ready < self.nodes else None


def nodes_figures(folder: Path, certs: Path, nodes: int, seconds: float, *, kubeapi: bool = True) -> dict[str, float]:
    values: dict[str, Any] = {"cloudhub.node-limit": nodes + 10}
    if not kubeapi:
        values["modules.enabled"] = [*(module for module in CLOUD_MODULES if module != "kubeapi"), "cloudapi"]
    cloud = CloudHubProcess(folder, certs, **values)
    kubeconfig: Path | None = None
    if kubeapi:
        write_kubeconfig(certs, f"https://127.0.0.1:{cloud.kube_port}", force=True)  # the admin's, as `certs` writes it
        kubeconfig = certs / "kubeconfig"
    simulator: subprocess.Popen[str] | None = None
    waiting: str | None = None
    try:
        apply_pods(cloud, nodes, PODS_PER_NODE)
        time.sleep(2.0)  # the pods' writes settle
        idle_cpu = cpu_pct_over(cloud.pid, seconds)
        idle_rss = proc_rss_mb(cloud.pid)
        url_prefix = cloud.url("x").removesuffix("/x/events")
        simulator = subprocess.Popen(
            [sys.executable, __file__, "--simulate", url_prefix, str(certs), str(nodes), str(PODS_PER_NODE)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert simulator.stdout is not None
        line = simulator.stdout.readline()
        assert line.startswith("connected"), f"the simulated edges did not connect: {line!r}"
        connected_at = time.monotonic()
        settling, shown = Settling(cloud, nodes, kubeconfig), -1
        while (settled_s := time.monotonic() - connected_at) < SETTLE_LIMIT_S and (waiting := settling.waiting_for()):
            if settling.stage != shown:  # each stage once, with what it waits for when it began
                shown = settling.stage
                print(f"  {settled_s:5.1f} s: {waiting}", flush=True)
            time.sleep(0.5)  # until the cloud side has taken every edge, its status and its pods' (or the limit)
        state = f"not settled: {waiting}" if waiting else "settled"
        print(f"cloud side {state} after {settled_s:.1f} s (limit {SETTLE_LIMIT_S:g}) with {nodes} edges", flush=True)
        busy_cpu = cpu_pct_over(cloud.pid, seconds)
        busy_rss = proc_rss_mb(cloud.pid)
        print(f"cloud side: idle {idle_rss:.1f} MiB {idle_cpu:.1f} % CPU; with {nodes} edges {busy_rss:.1f} MiB {busy_cpu:.1f} % CPU")
    finally:
        if simulator is not None:
            simulator.kill()
            simulator.wait()
        cloud.stop()
    return {
        "nodes_1000_cpu_pct": busy_cpu,
        "nodes_0_cpu_pct": idle_cpu,
        "nodes_1000_rss_mb": busy_rss,
        "nodes_0_rss_mb": idle_rss,
        "nodes_1000_settle_s": settled_s,
    }


def write_devices(database: Path, devices: int, nodes: int) -> None:
    """``devices`` rows in the device controller's table, as ``DeviceStore.put`` writes them."""
    from kubeedge_cloud.devicestore import DeviceStore

    store = DeviceStore(database)
    store.open()  # the tables, as the device controller creates them
    store.close()
    now = time.time()

    def rows(start: int, stop: int) -> list[tuple[object, ...]]:
        batch: list[tuple[object, ...]] = []
        for number in range(start, stop):
            node, name = f"sim-{number % nodes}", f"device-{number}"
            body = {
                "apiVersion": "devices.kubeedge.io/v1alpha1",
                "kind": "Device",
                "metadata": {"name": name, "namespace": node},
                "spec": {
                    "deviceModelRef": {"name": "thermometer"},
                    "nodeSelector": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "", "operator": "In", "values": [node]}]}]},
                },
            }
            batch.append((node, name, node, number + 1, json.dumps(body), "{}", "{}", "", "", 0, now))
        return batch

    with sqlite3.connect(database) as connection:
        for start in range(0, devices, _DEVICE_BATCH):
            connection.executemany(
                "INSERT INTO cloud_device (namespace, name, node, version, body, reported, reported_versions, state, last_online,"
                " state_timestamp_ms, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows(start, min(devices, start + _DEVICE_BATCH)),
            )
        connection.execute("INSERT OR REPLACE INTO cloud_device_sequence (name, value) VALUES ('resourceVersion', ?)", (devices,))


def devices_rss(folder: Path, certs: Path, devices: int, nodes: int) -> float:
    folder.mkdir(parents=True)
    if devices:
        write_devices(folder / "cloud.db", devices, nodes)
    cloud = CloudHubProcess(folder, certs)
    try:
        status, answer = cloud.api.call("GET", "devices", query={"namespace": "sim-0"})
        assert status == 200, answer
        assert len(answer["items"]) == (devices // nodes if devices else 0), len(answer["items"])
        time.sleep(2.0)
        return proc_rss_mb(cloud.pid)
    finally:
        cloud.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--devices", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--pods", type=int, default=5, help="kubectl apply rounds (0: none, no Docker needed)")
    parser.add_argument("--without-kubeapi", action="store_true", help="the nodes figures without the Kubernetes API server")
    parser.add_argument("--simulate", nargs=4, metavar=("URL_PREFIX", "CERTS", "NODES", "PODS"))
    args = parser.parse_args()
    if args.simulate:
        url_prefix, certs, nodes, pods = args.simulate
        simulate(url_prefix, Path(certs), int(nodes), int(pods))
        return 0

    from kubeedge_cloud.pki import write_certificates

    folder = Path(tempfile.mkdtemp(prefix="cloud-bench-"))
    try:
        certs = folder / "certs"
        write_certificates(certs, "bench-edge", [])
        figures: dict[str, float] = {}
        if args.pods:
            from benchmarks.kubeapi import pod_figures

            pods = pod_figures(folder / "pods", args.pods)
            figures |= {key: pods[key] for key in ("kubectl_apply_to_running_p50_ms", "control_api_apply_to_running_p50_ms")}
        figures |= nodes_figures(folder / "nodes", certs, args.nodes, args.seconds, kubeapi=not args.without_kubeapi)
        started = time.monotonic()
        figures["devices_0_rss_mb"] = devices_rss(folder / "devices-0", certs, 0, args.nodes)
        figures["devices_1m_rss_mb"] = devices_rss(folder / "devices-1m", certs, args.devices, args.nodes)
        print(f"devices: {args.devices} over {args.nodes} nodes written and measured in {time.monotonic() - started:.0f} s")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(" ".join(f"{key}={value:.1f}" for key, value in figures.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
