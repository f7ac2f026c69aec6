"""The cloud–edge link: throughput both ways against a bare websocket loop, and what the
cloud hub costs holding 200 edges.

- ``edge_to_cloud_per_s``: messages/s from ``router.send("websocket", ...)`` on the edge to the
  cloud hub's controller (another process), over TLS; timed until the controller answers a
  configmap query sent after them (it handles messages in order).
- ``link_vs_raw_ws``: that rate divided by the bare loop of the issue, in the same run: a
  websocket-client that ``send()``s each of the same envelopes, encoded with ``json.dumps`` at
  send time as any client must, to a websockets server (another process, same TLS) that
  counts frames without decoding them. Rounds of all sides alternate; medians are quoted.
- beside it, two other baselines: ``link_vs_preencoded_ws`` (the frames encoded before the
  clock starts: the wire alone) and ``link_vs_codec_ws`` (the project's codec on both ends:
  ``encode_message`` per send, ``decode_message`` per frame on the server).
- ``batched_vs_public``: the edge→cloud rate of the link's frame writer (frames masked together,
  one socket write per batch: ``BatchedFrameWriter``, behind websocket-client's back) over the
  same edge writing through websocket-client's public ``WebSocket.send`` (``PublicFrameWriter``),
  median of per-round ratios; ``public_edge_to_cloud_per_s`` is the public path's rate.
- ``cloud_to_edge_per_s``: the cloud hub holds N pods for a node; the node's hub connects and
  the rate is N over the time until all N reach the edge's meta stand-in.
- ``hub_200_nodes_rss_mb`` / ``hub_200_nodes_cpu_pct``: a fresh cloud hub process while 200
  simulated edges (TLS websockets) send a keepalive a second for 30 s: its RSS at the end
  (MiB) and its CPU over the window (% of one core).
- ``reconnect_after_outage_s``: the whole edge (``python -m kubeedge_actors``, heartbeat
  ``--heartbeat`` s) reaches its cloud hub through a TCP relay; the relay refuses everything for
  ``--outage`` s (60), then lets it through: the time from then until the cloud has the node
  connected again and a node status stored after it connected.
- ``flapping_reconnect_p50_s``: ``--flaps`` (20) times, ``--flap-up`` s (1, under a heartbeat: a
  streak of failures) after the cloud saw the node connect, the relay drops the link: the
  median time from the drop until the cloud sees the node connected again.
- the baseline of both: the original's fixed wait after a lost link, 2 × heartbeat
  (docs/protocol.md#3.5): ``reconnect_vs_2x_heartbeat`` and ``flapping_vs_2x_heartbeat``.

Usage: ``python benchmarks/link.py [--messages N] [--rounds N] [--pods N] [--nodes N] [--seconds S]
[--heartbeat S] [--outage S] [--flaps N] [--flap-up S] [--reconnect-only]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pykka

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actors.hub import HubActor
from actors.hub.frames import BatchedFrameWriter, FrameWriterFactory, PublicFrameWriter
from actors.hub.transport import LinkSettings, WebsocketDialer, keepalive_text
from actors.keys import edge_defaults
from benchmarks.processes import CloudHubProcess, EdgeProcess, edge_certificates, free_port, proc_cpu_s, proc_rss_mb
from kubeedge_actors import Message, ModuleActor, Router
from kubeedge_actors.message import encode_message, message_to_wire
from kubeedge_actors.testing import wait_until
from kubeedge_cloud.pki import write_certificates
from tests.integration.fault_tools import Uplink

#: The bare loops, by the name of their figure: (encode at send time, the server decodes).
BARE_LOOPS = {"raw_ws": "json", "preencoded_ws": "preencoded", "codec_ws": "codec"}


# --- processes ----------------------------------------------------------------------------


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


def run_raw_server(port: int, certs: Path) -> None:
    from websockets.asyncio.server import serve

    from kubeedge_actors.message import decode_message

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs / "cloudhub.crt", certs / "cloudhub.key")

    async def count(ws: Any) -> None:
        decode = ws.request.path.endswith("/codec/events")
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


def start_edge(
    cloud: CloudHubProcess,
    certs: Path,
    node: str,
    target: list[int],
    done: threading.Event,
    *,
    frame_writer: FrameWriterFactory = BatchedFrameWriter,
) -> tuple[Router, Any]:
    cert, key = edge_certificates(certs, [node])[node]
    config = edge_defaults().with_values(
        {
            "edgehub.websocket.url": cloud.url(node),
            "edgehub.controller.node-id": node,
            "edgehub.websocket.certfile": str(cert),
            "edgehub.websocket.keyfile": str(key),
            "edgehub.websocket.cafile": str(certs / "ca.crt"),
            "edgehub.outbox-size": 1_000_000,
        }
    )
    router = Router()
    for name, group in (("metaManager", "meta"), ("twin", "twin"), ("eventbus", "bus")):
        router.register(name, group, Counter.start(router, name=name, group=group, target=target, done=done))
    hub = HubActor.start(router, config, dialer=WebsocketDialer(LinkSettings.from_config(config), frame_writer))
    router.register("websocket", "hub", hub)
    return router, hub


def bench_messages(count: int) -> list[Message]:
    status = {"UID": "5b0c2d1e", "Name": "web", "Status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
    return [
        Message.new(source="edged", group="meta", operation="update", resource=f"default/benchmark/{n}", content=status)
        for n in range(count)
    ]


@dataclass(frozen=True)
class Sample:
    """One round of one side: messages/s, and CPU µs per message of both ends together."""

    rate: float
    cpu_us: float


def measured(send_all: Callable[[], None], far_end_pid: int, count: int) -> Sample:
    """Time ``send_all`` (which returns once the far end has everything); CPU is this process's
    (the sending side) plus the far end's, from /proc."""
    cpu0, far0, started = time.process_time(), proc_cpu_s(far_end_pid), time.perf_counter()
    send_all()
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu0 + proc_cpu_s(far_end_pid) - far0
    return Sample(count / elapsed, cpu / count * 1e6)


def edge_to_cloud(router: Router, cloud: CloudHubProcess, messages: list[Message]) -> Sample:
    query = Message.new(source="metaManager", group="meta", operation="query", resource="default/configmap/bench")

    def send_all() -> None:
        send = router.send
        for message in messages:
            send("websocket", message)
        router.send_sync("websocket", query, timeout_s=300).result(300)

    return measured(send_all, cloud.pid, len(messages))


def bare_loop(server: RawServerProcess, certs: Path, messages: list[Message], loop: str) -> Sample:
    """A bare websocket-client loop sending ``messages`` to the counting server.

    ``json``: each envelope (a plain dict, as a bare client holds it) is ``json.dumps``-ed at
    send time and the server only counts: the issue's bare loop. ``preencoded``: the frames
    are encoded before the clock starts. ``codec``: ``encode_message`` here, ``decode_message``
    on the server.
    """
    import websocket

    sslopt = {"ca_certs": str(certs / "ca.crt"), "certfile": str(certs / "edge.crt"), "keyfile": str(certs / "edge.key")}
    path = "/bench/codec/events" if loop == "codec" else "/bench/count/events"
    ws = websocket.create_connection(f"wss://127.0.0.1:{server.port}{path}", sslopt=sslopt, skip_utf8_validation=True)
    envelopes = [message_to_wire(m) for m in messages]
    texts = [json.dumps(e) for e in envelopes]

    def send_all() -> None:
        send = ws.send
        if loop == "json":
            dumps = json.dumps
            for envelope in envelopes:
                send(dumps(envelope))
        elif loop == "codec":
            for message in messages:
                send(encode_message(message))
        else:
            for text in texts:
                send(text)
        send("END")
        received = int(ws.recv())
        assert received == len(messages), received

    sample = measured(send_all, server.process.pid, len(messages))
    ws.close()
    return sample


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


def many_edges(cloud: CloudHubProcess, certs: Path, nodes: int, seconds: int) -> tuple[float, float]:
    from websockets.asyncio.client import connect

    files = edge_certificates(certs, [f"sim-{n}" for n in range(nodes)], one_key=True)
    contexts = []
    for number in range(nodes):  # the cloud hub admits an edge as the node its certificate names
        context = ssl.create_default_context(cafile=str(certs / "ca.crt"))
        context.load_cert_chain(*files[f"sim-{number}"])
        contexts.append(context)
    pid = cloud.pid
    window: dict[str, float] = {}

    async def edge(number: int, all_connected: asyncio.Barrier) -> None:
        url, context = cloud.url(f"sim-{number}"), contexts[number]
        async with connect(url, ssl=context, ping_interval=None, compression=None, max_size=None) as ws:
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


# --- reconnects ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reconnects:
    """Seconds until the cloud has the node back: after one long outage, and after each flap."""

    after_outage_s: float
    flaps_s: list[float]


def node_row(cloud: CloudHubProcess, node: str) -> dict[str, Any]:
    status, answer = cloud.api.call("GET", "nodes")
    assert status == 200, answer
    return next((row for row in answer.get("items") or [] if row["name"] == node), {})


def wait_node(cloud: CloudHubProcess, node: str, ready: Callable[[dict[str, Any]], bool], timeout_s: float = 120.0) -> dict[str, Any]:
    """Poll the cloud's node list (every 20 ms) until ``ready`` holds for the node's row."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        row = node_row(cloud, node)
        if row and ready(row):
            return row
        time.sleep(0.02)
    raise SystemExit(f"benchmark: node {node} not back at the cloud within {timeout_s} s: {node_row(cloud, node)}")


def connected_since(since: float, *, with_status: bool = False) -> Callable[[dict[str, Any]], bool]:
    def ready(row: dict[str, Any]) -> bool:
        connected_at = row.get("connected_at") or 0.0
        fresh = not with_status or (row.get("status_at") or 0.0) >= connected_at
        return row["connection"] == "connected" and connected_at > since and fresh

    return ready


def reconnects(folder: Path, certs: Path, args: argparse.Namespace) -> Reconnects:
    """The whole edge behind a relay that can be cut: one long outage, then a flapping link."""
    node = "bench-flap"
    cloud = CloudHubProcess(folder / "reconnect-cloud", certs)
    uplink = Uplink(lambda: cloud.port)
    edge = None
    try:
        url = f"wss://127.0.0.1:{uplink.port}/bench/{node}/events"
        values = {"edgehub.websocket.url": url, "edgehub.controller.heartbeat": args.heartbeat, "metrics.enabled": False}
        edge = EdgeProcess(folder / "reconnect-edge", cloud, certs, node, log_level="WARNING", **values)
        wait_node(cloud, node, connected_since(0.0, with_status=True))
        uplink.cut()
        time.sleep(args.outage)  # the outage itself: the edge redials a relay that refuses
        back = time.time()
        uplink.restore()
        row = wait_node(cloud, node, connected_since(back, with_status=True))
        after_outage = max(row["connected_at"], row["status_at"]) - back
        print(
            f"after a {args.outage:.0f} s outage: connected {row['connected_at'] - back:.2f} s, node status {after_outage:.2f} s",
            flush=True,
        )
        flaps = []
        for number in range(args.flaps):
            time.sleep(args.flap_up)  # up for less than a heartbeat: the flaps are one streak
            dropped = time.time()
            uplink.drop()
            row = wait_node(cloud, node, connected_since(dropped))
            flaps.append(row["connected_at"] - dropped)
            print(f"flap {number + 1}: back after {flaps[-1]:.2f} s", flush=True)
        return Reconnects(after_outage, flaps)
    finally:
        if edge is not None:
            edge.stop()
        uplink.close()
        cloud.stop()


def reconnect_line(result: Reconnects, heartbeat_s: float) -> str:
    flapping = statistics.median(result.flaps_s)
    return (
        f"reconnect_after_outage_s={result.after_outage_s:.2f} flapping_reconnect_p50_s={flapping:.2f} "
        f"flapping_reconnect_max_s={max(result.flaps_s):.2f} heartbeat_s={heartbeat_s:g} "
        f"reconnect_vs_2x_heartbeat={result.after_outage_s / (2 * heartbeat_s):.2f} "
        f"flapping_vs_2x_heartbeat={flapping / (2 * heartbeat_s):.2f}"
    )


# --- main -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pods", type=int, default=5_000)
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--heartbeat", type=float, default=2.0, help="the edge's heartbeat for the reconnect figures")
    parser.add_argument("--outage", type=float, default=60.0, help="seconds the cloud is unreachable")
    parser.add_argument("--flaps", type=int, default=20)
    parser.add_argument("--flap-up", type=float, default=1.0, help="seconds up before each drop (under a heartbeat)")
    parser.add_argument("--throughput-only", action="store_true", help="edge→cloud against the bare loops, nothing else")
    parser.add_argument("--reconnect-only", action="store_true", help="the reconnect figures, nothing else")
    parser.add_argument("--raw-server", nargs=2, metavar=("PORT", "CERTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.raw_server:
        run_raw_server(int(args.raw_server[0]), Path(args.raw_server[1]))
        return

    with tempfile.TemporaryDirectory(prefix="link-bench-") as tmp:
        folder = Path(tmp)
        certs = folder / "certs"
        write_certificates(certs, "bench-edge", [])
        if args.reconnect_only:
            print(reconnect_line(reconnects(folder, certs, args), args.heartbeat))
            return
        reconnected = None if args.throughput_only else reconnects(folder, certs, args)
        rounds, downs = edge_to_cloud_rounds(folder, certs, args)
        rss = hub_cpu = float("nan")
        if not args.throughput_only:
            fresh = CloudHubProcess(folder / "nodes", certs)
            try:
                idle_rss = proc_rss_mb(fresh.pid)
                rss, hub_cpu = many_edges(fresh, certs, args.nodes, args.seconds)
                print(
                    f"cloud hub: idle {idle_rss:.1f} MiB; with {args.nodes} edges {rss:.1f} MiB, {hub_cpu:.1f} % CPU over {args.seconds} s"
                )
            finally:
                fresh.stop()

    # Each round pairs the sides close in time: the ratio of a round is less noisy than the
    # ratio of medians taken over a drifting machine.
    up = statistics.median(sample.rate for sample in rounds["ours"])
    ratios = {
        figure: statistics.median(o.rate / b.rate for o, b in zip(rounds["ours"], rounds[figure], strict=True)) for figure in BARE_LOOPS
    }
    batched_vs_public = statistics.median(o.rate / p.rate for o, p in zip(rounds["ours"], rounds["public"], strict=True))
    cpu = {side: statistics.median(sample.cpu_us for sample in samples) for side, samples in rounds.items()}
    down = statistics.median(downs) if downs else float("nan")
    print(
        f"CPU per message, both ends: edge→cloud {cpu['ours']:.1f} µs; bare loops: json.dumps + count {cpu['raw_ws']:.1f} µs, "
        f"pre-encoded {cpu['preencoded_ws']:.1f} µs, the project's codec {cpu['codec_ws']:.1f} µs"
    )
    print(
        f"edge_to_cloud_per_s={up:.0f} cloud_to_edge_per_s={down:.0f} "
        + " ".join(f"link_vs_{figure}={ratio:.2f}" for figure, ratio in ratios.items())
        + f" batched_vs_public={batched_vs_public:.2f} public_edge_to_cloud_per_s={statistics.median(s.rate for s in rounds['public']):.0f}"
        + f" raw_ws_per_s={statistics.median(s.rate for s in rounds['raw_ws']):.0f} link_cpu_us_per_msg={cpu['ours']:.1f}"
        f" raw_ws_cpu_us_per_msg={cpu['raw_ws']:.1f} hub_200_nodes_rss_mb={rss:.1f} hub_200_nodes_cpu_pct={hub_cpu:.1f}"
        + ("" if reconnected is None else " " + reconnect_line(reconnected, args.heartbeat))
    )


def edge_to_cloud_rounds(folder: Path, certs: Path, args: argparse.Namespace) -> tuple[dict[str, list[Sample]], list[float]]:
    """Rounds of edge→cloud and of each bare loop, alternating; then cloud→edge rounds."""
    cloud = CloudHubProcess(folder / "throughput", certs)
    raw = RawServerProcess(certs)
    try:
        status, answer = cloud.api.call("POST", "apply", {"kind": "ConfigMap", "metadata": {"name": "bench"}, "data": {"a": "b"}})
        assert status == 200, answer
        router, hub = start_edge(cloud, certs, "bench-edge", [1], threading.Event())
        public_router, public_hub = start_edge(cloud, certs, "bench-public", [1], threading.Event(), frame_writer=PublicFrameWriter)
        for edge_hub in (hub, public_hub):
            wait_until(lambda h=edge_hub: h.proxy().connected.get(), 30, 0.05, "the edge connected")
        messages = bench_messages(args.messages)
        rounds: dict[str, list[Sample]] = {"ours": [], "public": [], **{figure: [] for figure in BARE_LOOPS}}
        sides = ["ours", "public", *BARE_LOOPS]
        for round_number in range(1, args.rounds + 1):
            shift = round_number % len(sides)  # each side goes first in turn
            for side in sides[shift:] + sides[:shift]:
                if side in ("ours", "public"):
                    sample = edge_to_cloud(router if side == "ours" else public_router, cloud, messages)
                else:
                    sample = bare_loop(raw, certs, messages, BARE_LOOPS[side])
                rounds[side].append(sample)
            print(
                f"round {round_number}: edge→cloud {rounds['ours'][-1].rate:,.0f}/s (public send {rounds['public'][-1].rate:,.0f}/s);"
                " bare loops: json.dumps + count "
                f"{rounds['raw_ws'][-1].rate:,.0f}/s, pre-encoded {rounds['preencoded_ws'][-1].rate:,.0f}/s, "
                f"the project's codec on both ends {rounds['codec_ws'][-1].rate:,.0f}/s",
                flush=True,
            )
        pykka.ActorRegistry.stop_all()
        router.close()
        public_router.close()
        downs = []
        if not args.throughput_only:
            apply_pods(cloud, "pods-edge", args.pods)
            for round_number in range(1, max(3, args.rounds - 2) + 1):
                downs.append(cloud_to_edge_rate(cloud, certs, "pods-edge", args.pods))
                print(f"round {round_number}: cloud→edge {downs[-1]:,.0f}/s ({args.pods} pods on connect)", flush=True)
    finally:
        raw.stop()
        cloud.stop()
    return rounds, downs


if __name__ == "__main__":
    main()
