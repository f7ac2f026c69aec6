"""The cloud–edge link: throughput both ways against a bare websocket loop, and what the
cloud hub costs holding 200 edges.

- ``edge_to_cloud_per_s``: messages/s from ``router.send("websocket", ...)`` on the edge to the
  cloud hub's controller (another process), over TLS; timed until the controller answers a
  configmap query sent after them (it handles messages in order).
- ``link_vs_raw_ws``: that rate divided by a bare loop in the same run doing the same wire
  work without the hub and the actors: websocket-client ``send()`` of each envelope encoded
  with the project's codec, to a websockets server (another process) that decodes each with
  it and counts. Rounds of the two alternate; medians are quoted. A stricter figure (frames
  pre-encoded, the server only counts) is printed on the line before, for reference.
- ``cloud_to_edge_per_s``: the cloud hub holds N pods for a node; the node's hub connects and
  the rate is N over the time until all N reach the edge's meta stand-in.
- ``hub_200_nodes_rss_mb`` / ``hub_200_nodes_cpu_pct``: a fresh cloud hub process while 200
  simulated edges (TLS websockets) send a keepalive every second for 30 s: its RSS at the
  end (MiB) and its CPU over the window (% of one core).

Usage: ``python benchmarks/link.py [--messages N] [--rounds N] [--pods N] [--nodes N] [--seconds S]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pykka

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actors.cloudhub.ctl import ApiClient
from actors.cloudhub.pki import write_certificates
from actors.hub import HubActor
from actors.hub.transport import keepalive_text
from kubeedge_actors import Config, Message, ModuleActor, Router
from kubeedge_actors.message import encode_message

REPO = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- processes ----------------------------------------------------------------------------


class CloudHubProcess:
    """``python -m kubeedge_actors cloud`` with its own conf, certificates and database."""

    def __init__(self, folder: Path, certs: Path) -> None:
        self.folder = folder
        self.port, self.api_port = free_port(), free_port()
        conf = folder / "conf"
        conf.mkdir(parents=True, exist_ok=True)
        (conf / "cloudhub.yaml").write_text(
            f"cloudhub:\n  port: {self.port}\n  api-port: {self.api_port}\n  node-limit: 1000\n"
            f"  ca: {certs / 'ca.crt'}\n  cert: {certs / 'cloudhub.crt'}\n  key: {certs / 'cloudhub.key'}\n"
            f"  database: {folder / 'cloud.db'}\nloggerLevel: WARNING\n"
        )
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.log = (folder / "cloud.log").open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kubeedge_actors", "--config-dir", str(conf), "cloud"], env=env, stdout=self.log, stderr=self.log
        )
        self.api = ApiClient(f"http://127.0.0.1:{self.api_port}")
        _wait_http(f"http://127.0.0.1:{self.api_port}/healthz")

    def url(self, node: str) -> str:
        return f"wss://127.0.0.1:{self.port}/bench/{node}/events"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)
        self.log.close()


class RawServerProcess:
    """This script with ``--raw-server``: a websockets server that counts frames."""

    def __init__(self, certs: Path) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--raw-server", str(self.port), str(certs)], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "ready"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def _wait_http(url: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def run_raw_server(port: int, certs: Path) -> None:
    from websockets.asyncio.server import serve

    from kubeedge_actors.message import decode_message

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs / "cloudhub.crt", certs / "cloudhub.key")

    async def count(ws: Any) -> None:
        decode = ws.request.path.endswith("/decode/events")
        received = 0
        async for frame in ws:
            if frame == "END":
                await ws.send(str(received))
                received = 0
            else:
                if decode:
                    decode_message(frame)
                received += 1

    async def main() -> None:
        async with serve(count, "127.0.0.1", port, ssl=context, ping_interval=None, compression=None):
            print("ready", flush=True)
            await asyncio.Future()

    asyncio.run(main())


# --- the edge side --------------------------------------------------------------------------


class Counter(ModuleActor):
    """Stands in for meta, twin or bus: counts what arrives, signals at a target."""

    module_name = "counter"
    module_group = "bench"

    def __init__(self, router: Router, config: Any = None, *, target: list[int], done: threading.Event, **kwargs: Any) -> None:
        super().__init__(router, config, **kwargs)
        self.target, self.done, self.count = target, done, 0

    def handle_message(self, message: Message) -> None:
        if message.resource == "node/connection":
            return
        self.count += 1
        if self.count >= self.target[0]:
            self.done.set()


def start_edge(cloud: CloudHubProcess, certs: Path, node: str, target: list[int], done: threading.Event) -> tuple[Router, Any]:
    config = Config.defaults().with_values(
        {
            "edgehub.websocket.url": cloud.url(node),
            "edgehub.controller.node-id": node,
            "edgehub.websocket.certfile": str(certs / "edge.crt"),
            "edgehub.websocket.keyfile": str(certs / "edge.key"),
            "edgehub.websocket.cafile": str(certs / "ca.crt"),
            "edgehub.outbox-size": 1_000_000,
        }
    )
    router = Router()
    for name, group in (("metaManager", "meta"), ("twin", "twin"), ("eventbus", "bus")):
        router.register(name, group, Counter.start(router, name=name, group=group, target=target, done=done))
    hub = HubActor.start(router, config)
    router.register("websocket", "hub", hub)
    return router, hub


def bench_messages(count: int) -> list[Message]:
    status = {"UID": "5b0c2d1e", "Name": "web", "Status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
    return [
        Message.new(source="edged", group="meta", operation="update", resource=f"default/benchmark/{n}", content=status)
        for n in range(count)
    ]


def edge_to_cloud_rate(router: Router, messages: list[Message]) -> float:
    query = Message.new(source="metaManager", group="meta", operation="query", resource="default/configmap/bench")
    started = time.perf_counter()
    send = router.send
    for message in messages:
        send("websocket", message)
    router.send_sync("websocket", query, timeout_s=300).result(300)
    return len(messages) / (time.perf_counter() - started)


def raw_rate(server: RawServerProcess, certs: Path, messages: list[Message], *, codec: bool) -> float:
    """The bare loop: with ``codec``, encode each message here and decode it there (the same
    wire work as the link); without, send pre-encoded frames to a server that only counts."""
    import websocket

    sslopt = {"ca_certs": str(certs / "ca.crt"), "certfile": str(certs / "edge.crt"), "keyfile": str(certs / "edge.key")}
    path = "/bench/decode/events" if codec else "/bench/count/events"
    ws = websocket.create_connection(f"wss://127.0.0.1:{server.port}{path}", sslopt=sslopt, skip_utf8_validation=True)
    texts = None if codec else [encode_message(m) for m in messages]
    started = time.perf_counter()
    if texts is None:
        for message in messages:
            ws.send(encode_message(message))
    else:
        for text in texts:
            ws.send(text)
    ws.send("END")
    received = int(ws.recv())
    elapsed = time.perf_counter() - started
    ws.close()
    assert received == len(messages), received
    return len(messages) / elapsed


def cloud_to_edge_rate(cloud: CloudHubProcess, certs: Path, node: str, pods: int) -> float:
    done = threading.Event()
    router, _hub = None, None
    started = time.perf_counter()
    router, _hub = start_edge(cloud, certs, node, [pods], done)
    assert done.wait(300), "the pods did not all arrive"
    elapsed = time.perf_counter() - started
    pykka.ActorRegistry.stop_all()
    router.close()
    return pods / elapsed


def apply_pods(cloud: CloudHubProcess, node: str, count: int) -> None:
    pods = [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"pod-{n}", "namespace": "bench"},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox:1.36", "command": ["sleep", "3600"]}]},
        }
        for n in range(count)
    ]
    status, answer = cloud.api.call("POST", "apply", pods)
    assert status == 200, answer


# --- 200 simulated edges ----------------------------------------------------------------------


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def many_edges(cloud: CloudHubProcess, certs: Path, nodes: int, seconds: int) -> tuple[float, float]:
    from websockets.asyncio.client import connect

    context = ssl.create_default_context(cafile=str(certs / "ca.crt"))
    context.load_cert_chain(certs / "edge.crt", certs / "edge.key")
    pid = cloud.process.pid
    window: dict[str, float] = {}

    async def edge(number: int, all_connected: asyncio.Barrier) -> None:
        async with connect(cloud.url(f"sim-{number}"), ssl=context, ping_interval=None, compression=None, max_size=None) as ws:
            await all_connected.wait()
            await asyncio.sleep(number / nodes)  # spread the keepalives over the second
            for _ in range(seconds):
                await ws.send(keepalive_text())
                await asyncio.sleep(1.0)

    async def measure(all_connected: asyncio.Barrier) -> None:
        await all_connected.wait()
        window["cpu0"], window["t0"] = proc_cpu_s(pid), time.monotonic()
        await asyncio.sleep(seconds)
        window["cpu1"], window["t1"], window["rss"] = proc_cpu_s(pid), time.monotonic(), proc_rss_mb(pid)

    async def main() -> None:
        all_connected = asyncio.Barrier(nodes + 1)
        await asyncio.gather(measure(all_connected), *(edge(n, all_connected) for n in range(nodes)))

    asyncio.run(main())
    cpu_pct = (window["cpu1"] - window["cpu0"]) / (window["t1"] - window["t0"]) * 100
    return window["rss"], cpu_pct


# --- main -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pods", type=int, default=5_000)
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--raw-server", nargs=2, metavar=("PORT", "CERTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.raw_server:
        run_raw_server(int(args.raw_server[0]), Path(args.raw_server[1]))
        return

    with tempfile.TemporaryDirectory(prefix="link-bench-") as tmp:
        folder = Path(tmp)
        certs = folder / "certs"
        write_certificates(certs, "bench-edge", [])

        cloud = CloudHubProcess(folder / "throughput", certs)
        raw = RawServerProcess(certs)
        try:
            status, answer = cloud.api.call("POST", "apply", {"kind": "ConfigMap", "metadata": {"name": "bench"}, "data": {"a": "b"}})
            assert status == 200, answer
            connected = threading.Event()
            router, hub = start_edge(cloud, certs, "bench-edge", [1], connected)
            _wait(lambda: hub.proxy().connected.get(), "the edge connected")  # noqa: PLW0108 - a fresh ask each time
            messages = bench_messages(args.messages)
            ours, raws, stricts = [], [], []
            for round_number in range(1, args.rounds + 1):
                ours.append(edge_to_cloud_rate(router, messages))
                raws.append(raw_rate(raw, certs, messages, codec=True))
                stricts.append(raw_rate(raw, certs, messages, codec=False))
                print(
                    f"round {round_number}: edge→cloud {ours[-1]:,.0f}/s, bare websocket loop {raws[-1]:,.0f}/s "
                    f"(pre-encoded, not decoded: {stricts[-1]:,.0f}/s)",
                    flush=True,
                )
            pykka.ActorRegistry.stop_all()
            router.close()

            apply_pods(cloud, "pods-edge", args.pods)
            downs = []
            for round_number in range(1, max(3, args.rounds - 2) + 1):
                downs.append(cloud_to_edge_rate(cloud, certs, "pods-edge", args.pods))
                print(f"round {round_number}: cloud→edge {downs[-1]:,.0f}/s ({args.pods} pods on connect)", flush=True)
        finally:
            raw.stop()
            cloud.stop()

        fresh = CloudHubProcess(folder / "nodes", certs)
        try:
            idle_rss = proc_rss_mb(fresh.process.pid)
            rss, cpu = many_edges(fresh, certs, args.nodes, args.seconds)
            print(f"cloud hub: idle {idle_rss:.1f} MiB; with {args.nodes} edges {rss:.1f} MiB, {cpu:.1f} % CPU over {args.seconds} s")
        finally:
            fresh.stop()

    up, raw_up, down = statistics.median(ours), statistics.median(raws), statistics.median(downs)
    print(f"for reference: edge→cloud / bare loop with pre-encoded frames and no decoding = {up / statistics.median(stricts):.2f}")
    print(
        f"edge_to_cloud_per_s={up:.0f} cloud_to_edge_per_s={down:.0f} link_vs_raw_ws={up / raw_up:.2f} "
        f"hub_200_nodes_rss_mb={rss:.1f} hub_200_nodes_cpu_pct={cpu:.1f}"
    )


def _wait(condition: Any, what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.02)


if __name__ == "__main__":
    main()
