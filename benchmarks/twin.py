"""Twin update round trip through a real Mosquitto and our started bus + twin.

A device app publishes ``$hw/events/device/<id>/twin/update`` and waits for
``…/twin/update/result`` (the original: p50 2.3-3.1 ms, p99 ~6 ms at QoS 0, ENVIRONMENT.md).
The baseline is a bare paho publish → own subscription round trip on the same broker, in the
same run. Rounds of the two alternate so machine noise hits both alike; p50s are the median
of the rounds' p50s, p99 is over every twin sample.

The device apps (and the baseline's client) run in a process of their own, as real device apps
do: in the edge's process their paho threads would take the edge's interpreter lock and count
their own work as the edge's. The edge (bus + twin, the cloud a stand-in) runs in this process;
the two talk over the child's stdin/stdout, a command a line.

- ``twin_update_p50_ms`` / ``twin_update_p99_ms``: the device app's round trip, 1,000 times.
- ``twin_vs_raw_mqtt_p50``: that p50 divided by the baseline's p50 (how much the edge adds).
- ``twin_updates_per_s``: updates answered per second with up to ``--window`` in flight.
- ``edge_cpu_us_per_update``: CPU (user + system) the edge's process spent per update during the
  round trips, from /proc per thread; ``edge_cpu_vs_round_trip`` that over the p50 round trip
  (about 1: the edge is busy the whole round trip). Each thread's share goes to stderr.

- ``devices_10k_rss_mb``: an edge (``wal``) with ``--devices`` (10,000) member devices of 5 twins
  each, added in one membership update, over the same edge with 10 members: what the edge's
  process holds more, MiB; ``devices_10k_load_s`` the time to take them.
- ``twin_updates_per_s_10k``: the throughput figure spread round-robin over all those devices,
  against ``twin_updates_per_s_10`` (the same over the first 10, measured before the others
  joined): ``updates_10k_vs_10``.

Each figure is measured in both journal modes (``database.journal-mode``), each mode with its
own broker and edge, rounds alternating: unsuffixed for the default ``wal``, suffixed
``_delete`` for ``delete``; ``delete_vs_wal_p50`` and ``delete_vs_wal_updates_per_s`` are the
ratios. ``--journal-mode`` measures one only.

Usage: ``python benchmarks/twin.py [--updates 1000] [--rounds 5] [--qos 0] [--window 50] [--journal-mode wal|delete|both]
[--devices 10000] [--devices-only]``
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actors import builtin_modules
from actors.keys import edge_defaults
from actors.protocol import DURABLE_SENDERS, DeliveryReport, Group, Module, cloud_connection_view
from actors.testing import connection_event
from benchmarks.processes import proc_rss_mb, thread_cpu_s
from kubeedge_actors import Message, ModuleActor, Router, Runtime
from kubeedge_actors.sqlite import DELETE, JOURNAL_MODES, WAL
from tests.services import MosquittoBroker

NODE = "bench-node"
DEVICE = "bench-device"
UPDATE = f"$hw/events/device/{DEVICE}/twin/update"
RESULTS = "$hw/events/device/+/twin/update/result"
RAW = "bench/raw/echo"


class CloudStandIn(ModuleActor):
    """The hub and the cloud: takes every message for the cloud and tells the twin each of its
    reports is written, as the hub does once its link has written them."""

    module_name = Module.HUB
    module_group = Group.HUB

    def handle_message(self, message: Message) -> None:
        group = DURABLE_SENDERS.get(message.source)
        if group is not None:
            self.module_router.send(message.source, DeliveryReport(written=(message.id,), connection=1).to_message(group))


# --- the device apps' process ---------------------------------------------------------------------


class App:
    """A paho client that records when each awaited event id (or raw payload) comes back."""

    def __init__(self, port: int, topics: list[str], qos: int) -> None:
        self.qos = qos
        self.arrived: dict[str, float] = {}
        self.condition = threading.Condition()
        ready = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-{time.time_ns()}")
        self.client.on_connect = lambda c, *_: (
            c.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),
            c.subscribe([(t, qos) for t in topics]),
        )
        self.client.on_subscribe = lambda *_: ready.set()
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not ready.wait(10):
            raise SystemExit("benchmark: the device app could not subscribe")

    def _message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        now = time.perf_counter()
        if message.topic == RAW:
            key = message.payload.decode()
        else:
            document = json.loads(message.payload)
            key = document.get("event_id", "") + (f"!{document['code']}" if "code" in document else "")  # an error result
        with self.condition:
            self.arrived[key] = now
            self.condition.notify_all()

    def wait(self, key: str, timeout_s: float = 10.0) -> float:
        deadline = time.monotonic() + timeout_s
        with self.condition:
            while key not in self.arrived:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise SystemExit(f"benchmark: no answer to {key} within {timeout_s} s")
                self.condition.wait(remaining)
            return self.arrived.pop(key)

    def round_trips(self, count: int, topic: str, payload_for: Any) -> list[float]:
        samples = []
        for i in range(count):
            key, payload = payload_for(i)
            started = time.perf_counter()
            self.client.publish(topic, payload, qos=self.qos)
            samples.append(self.wait(key) - started)
        return samples

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def twin_payload(prefix: str) -> Any:
    def build(i: int) -> tuple[str, str]:
        event_id = f"{prefix}-{i}"
        return event_id, json.dumps({"event_id": event_id, "timestamp": 0, "twin": {"temp": {"actual": {"value": str(i % 100)}}}})

    return build


def raw_payload(prefix: str) -> Any:
    def build(i: int) -> tuple[str, str]:
        key = f"{prefix}-{i}"
        return key, key

    return build


def throughput_over(app: App, devices: list[str], count: int, window: int, prefix: str, *, twin: str) -> float:
    """Updates answered per second, round-robin over ``devices``, up to ``window`` in flight."""

    def publish(i: int) -> None:
        payload = {"event_id": f"{prefix}-{i}", "timestamp": 0, "twin": {twin: {"actual": {"value": str(i % 100)}}}}
        app.client.publish(f"$hw/events/device/{devices[i % len(devices)]}/twin/update", json.dumps(payload), qos=app.qos)

    started = time.perf_counter()
    for i in range(count):
        if i >= window:
            app.wait(f"{prefix}-{i - window}", timeout_s=60)
        publish(i)
    for i in range(max(0, count - window), count):
        app.wait(f"{prefix}-{i}", timeout_s=60)
    return count / (time.perf_counter() - started)


def wait_taken(app: App, device_id: str, twin: str, timeout_s: float = 240.0) -> None:
    """Until the twin answers an update of ``device_id`` without an error: it has taken the
    membership (while it is taking it, the device is not a member yet: 404, asked again 0.1 s on)."""
    deadline = time.monotonic() + timeout_s
    for attempt in itertools.count():
        key = f"taken-{device_id}-{attempt}"
        payload = {"event_id": key, "timestamp": 0, "twin": {twin: {"actual": {"value": "1"}}}}
        app.client.publish(f"$hw/events/device/{device_id}/twin/update", json.dumps(payload), qos=app.qos)
        with app.condition:
            if app.condition.wait_for(lambda k=key: k in app.arrived or f"{k}!404" in app.arrived, timeout=2.0) and key in app.arrived:
                return
            if f"{key}!404" in app.arrived:
                app.condition.wait(0.1)
        if time.monotonic() > deadline:
            raise SystemExit(f"benchmark: the twin did not take {device_id} within {timeout_s} s")


def member_ids(count: int) -> list[str]:
    return [f"dev-{n:05d}" for n in range(count)]


def serve_device_apps(port: int, qos: int) -> None:
    """The child: one line in (a command), one JSON line out (its answer), until stdin ends."""
    device, raw = App(port, [RESULTS], qos), App(port, [RAW], qos)
    commands: dict[str, Callable[..., Any]] = {
        "taken": lambda device_id, twin: wait_taken(device, device_id, twin),
        "twin": lambda count, prefix: device.round_trips(int(count), UPDATE, twin_payload(prefix)),
        "raw": lambda count, prefix: raw.round_trips(int(count), RAW, raw_payload(prefix)),
        "throughput": lambda count, window, prefix, members, twin: throughput_over(
            device, [DEVICE] if members == "0" else member_ids(int(members)), int(count), int(window), prefix, twin=twin
        ),
    }
    try:
        for line in sys.stdin:
            name, *words = line.split()
            print(json.dumps(commands[name](*words)), flush=True)
    finally:
        device.close()
        raw.close()


class DeviceApps:
    """The device apps' process, seen from the edge's: each call a command and its answer."""

    def __init__(self, port: int, qos: int) -> None:
        command = [sys.executable, __file__, "--device-apps", str(port), "--qos", str(qos)]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def call(self, *words: object) -> Any:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(" ".join(str(word) for word in words) + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        if not answer:
            raise SystemExit(f"benchmark: the device apps' process ended at {words[0]!r} (exit code {self.process.wait()})")
        return json.loads(answer)

    def round_trips(self, kind: str, count: int, prefix: str) -> list[float]:
        return [float(sample) for sample in self.call(kind, count, prefix)]

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=30)


# --- the edge's process ---------------------------------------------------------------------------


def start_edge(broker: MosquittoBroker, folder: Path, journal_mode: str) -> tuple[Runtime, Router]:
    config = edge_defaults().with_values(
        {
            "mqtt.mode": 2,
            "mqtt.server": broker.url,
            "database.source": str(folder / "edge.db"),
            "database.journal-mode": journal_mode,
            "edgehub.controller.node-id": NODE,
            "modules.enabled": ["twin", "eventbus"],
        }
    )
    router = Router()
    router.register(Module.HUB, Group.HUB, CloudStandIn.start(router))  # the cloud: takes every edge_updated
    runtime = Runtime(config, builtin_modules(), router=router)
    runtime.start()
    cloud_connection_view(router).publish(True)  # as the hub does, before it tells the twin
    router.send_to_group(Group.TWIN, connection_event(True, Group.TWIN))
    device = {"id": DEVICE, "name": DEVICE, "twin": {"temp": {"expected": {"value": "20"}, "expected_version": {"cloud": 1, "edge": 0}}}}
    members = Message.new(
        source="devicecontroller", group="twin", operation="update", resource="membership", content={"added_devices": [device]}
    )
    router.send_to_group(Group.TWIN, members)
    return runtime, router


@dataclass
class Setup:
    """One journal mode's broker, edge and device apps, and its samples."""

    mode: str
    broker: MosquittoBroker
    runtime: Runtime
    router: Router
    apps: DeviceApps
    twin_p50s: list[float] = field(default_factory=list)
    raw_p50s: list[float] = field(default_factory=list)
    twin_all: list[float] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)
    updates: int = 0
    thread_cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds during the twin rounds

    @classmethod
    def start(cls, mode: str, folder: Path, qos: int) -> Setup:
        folder.mkdir()
        broker = MosquittoBroker(folder)
        broker.start()
        runtime, router = start_edge(broker, folder, mode)
        setup = cls(mode, broker, runtime, router, DeviceApps(broker.port, qos))
        setup.apps.call("taken", DEVICE, "temp")  # the bus subscribed (an update before that is lost at QoS 0)
        # Warm up both paths (imports, SQLite pages, TCP).
        setup.apps.round_trips("twin", 50, "warm")
        setup.apps.round_trips("raw", 50, "warm")
        return setup

    def round(self, number: int, count: int) -> None:
        before = thread_cpu_s()
        twin = self.apps.round_trips("twin", count, f"r{number}")
        for name, seconds in thread_cpu_s().items():
            self.thread_cpu[name] = self.thread_cpu.get(name, 0.0) + seconds - before.get(name, 0.0)
        self.updates += count
        baseline = self.apps.round_trips("raw", count, f"r{number}")
        self.twin_all += twin
        self.twin_p50s.append(statistics.median(twin))
        self.raw_p50s.append(statistics.median(baseline))
        print(
            f"round {number} {self.mode}: twin p50 {self.twin_p50s[-1] * 1e3:.3f} ms, raw p50 {self.raw_p50s[-1] * 1e3:.3f} ms",
            file=sys.stderr,
        )

    def throughput(self, number: int, count: int, window: int) -> None:
        self.rates.append(self.apps.call("throughput", count, window, f"tp{number}", 0, "temp"))

    def figures(self, suffix: str) -> dict[str, str]:
        twin_p50, raw_p50 = statistics.median(self.twin_p50s), statistics.median(self.raw_p50s)
        figures = {
            "twin_update_p50_ms": f"{twin_p50 * 1e3:.3f}",
            "twin_update_p99_ms": f"{statistics.quantiles(self.twin_all, n=100)[98] * 1e3:.3f}",
            "twin_vs_raw_mqtt_p50": f"{twin_p50 / raw_p50:.2f}",
            "twin_updates_per_s": f"{statistics.median(self.rates):.0f}",
            "edge_cpu_us_per_update": f"{self.cpu_per_update_s() * 1e6:.0f}",
            "edge_cpu_vs_round_trip": f"{self.cpu_per_update_s() / twin_p50:.2f}",
        }
        return {f"{key}{suffix}": value for key, value in figures.items()}

    def cpu_per_update_s(self) -> float:
        return sum(self.thread_cpu.values()) / self.updates

    def cpu_split(self) -> str:
        """Each thread's share of the edge's CPU during the twin rounds, largest first."""
        total = sum(self.thread_cpu.values()) or 1.0
        shares = sorted(self.thread_cpu.items(), key=lambda item: -item[1])
        return ", ".join(f"{name} {100 * seconds / total:.0f} %" for name, seconds in shares if seconds)

    def close(self) -> None:
        self.apps.close()
        self.runtime.stop()
        self.router.close()
        self.broker.stop()


# --- many devices ---------------------------------------------------------------------------------

TWINS_PER_DEVICE = 5


def member(device_id: str) -> dict[str, Any]:
    twins = {f"t{n}": {"expected": {"value": "20"}, "expected_version": {"cloud": 1, "edge": 0}} for n in range(TWINS_PER_DEVICE)}
    return {"id": device_id, "name": device_id, "twin": twins}


def add_members(router: Router, ids: list[str]) -> None:
    content = {"added_devices": [member(i) for i in ids]}
    router.send_to_group(
        Group.TWIN, Message.new(source="devicecontroller", group="twin", operation="update", resource="membership", content=content)
    )


def many_devices(folder: Path, devices: int, count: int, window: int, qos: int) -> dict[str, str]:
    """One ``wal`` edge: throughput over 10 members, then over ``devices`` members, and the RSS between."""
    folder.mkdir()
    broker = MosquittoBroker(folder)
    broker.start()
    runtime, router = start_edge(broker, folder, WAL)
    apps = DeviceApps(broker.port, qos)
    ids = member_ids(devices)
    try:
        add_members(router, ids[:10])
        apps.call("taken", ids[9], "t0")  # the bus subscribed and the twin took the members
        apps.call("throughput", 200, window, "warm10", 10, "t0")
        few = [apps.call("throughput", count, window, f"few{r}", 10, "t0") for r in range(3)]
        gc.collect()
        rss_before = proc_rss_mb(os.getpid())
        started = time.perf_counter()
        add_members(router, ids[10:])
        apps.call("taken", ids[-1], "t0")
        load_s = time.perf_counter() - started
        many = [apps.call("throughput", count, window, f"many{r}", devices, "t0") for r in range(3)]
        gc.collect()
        rss_after = proc_rss_mb(os.getpid())
    finally:
        apps.close()
        runtime.stop()
        router.close()
        broker.stop()
    few_rate, many_rate = statistics.median(few), statistics.median(many)
    print(
        f"{devices} devices: taken in {load_s:.1f} s, +{rss_after - rss_before:.1f} MiB; {many_rate:.0f}/s vs {few_rate:.0f}/s over 10",
        file=sys.stderr,
    )
    label = f"{devices // 1000}k" if devices % 1000 == 0 else str(devices)
    return {
        f"devices_{label}_rss_mb": f"{rss_after - rss_before:.1f}",
        f"devices_{label}_load_s": f"{load_s:.2f}",
        f"twin_updates_per_s_{label}": f"{many_rate:.0f}",
        "twin_updates_per_s_10": f"{few_rate:.0f}",
        f"updates_{label}_vs_10": f"{many_rate / few_rate:.2f}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--updates", type=int, default=1000, help="twin round trips (and as many raw ones)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--qos", type=int, default=0, choices=(0, 1), help="QoS of the device app (the original was measured at 0)")
    parser.add_argument("--window", type=int, default=50, help="updates in flight for the throughput figure")
    parser.add_argument("--journal-mode", choices=[*JOURNAL_MODES, "both"], default="both")
    parser.add_argument("--devices", type=int, default=10_000, help="member devices for the devices_10k figures")
    parser.add_argument("--devices-only", action="store_true", help="the many-devices figures, nothing else")
    parser.add_argument("--device-apps", type=int, metavar="PORT", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.device_apps is not None:
        serve_device_apps(args.device_apps, args.qos)
        return
    if args.devices_only:
        with tempfile.TemporaryDirectory(prefix="bench-twin-") as tmp:
            print(
                " ".join(f"{k}={v}" for k, v in many_devices(Path(tmp) / "many", args.devices, args.updates, args.window, args.qos).items())
            )
        return
    modes = list(JOURNAL_MODES) if args.journal_mode == "both" else [args.journal_mode]

    setups: dict[str, Setup] = {}
    with tempfile.TemporaryDirectory(prefix="bench-twin-") as tmp:
        try:
            for mode in modes:
                setups[mode] = Setup.start(mode, Path(tmp) / mode, args.qos)
            per_round = max(1, args.updates // args.rounds)
            for number in range(args.rounds):
                for mode in modes if number % 2 == 0 else reversed(modes):  # alternate which mode goes first
                    setups[mode].round(number, per_round)
            for number in range(3):
                for mode in modes if number % 2 == 0 else reversed(modes):
                    setups[mode].throughput(number, args.updates, args.window)
        finally:
            for setup in setups.values():
                setup.close()

    for mode in modes:
        setup = setups[mode]
        print(f"{mode}: the edge's CPU per update {setup.cpu_per_update_s() * 1e6:.0f} µs: {setup.cpu_split()}", file=sys.stderr)
    line = {key: value for mode in modes for key, value in setups[mode].figures("" if mode == WAL else f"_{mode}").items()}
    if len(modes) == 2:
        wal, delete = setups[WAL], setups[DELETE]
        line["delete_vs_wal_p50"] = f"{statistics.median(delete.twin_p50s) / statistics.median(wal.twin_p50s):.2f}"
        line["delete_vs_wal_updates_per_s"] = f"{statistics.median(delete.rates) / statistics.median(wal.rates):.2f}"
    with tempfile.TemporaryDirectory(prefix="bench-twin-") as tmp:
        line.update(many_devices(Path(tmp) / "many", args.devices, args.updates, args.window, args.qos))
    print(" ".join(f"{key}={value}" for key, value in line.items()))


if __name__ == "__main__":
    main()
