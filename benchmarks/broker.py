"""The embedded MQTT broker against amqtt (the broker it replaced) and Mosquitto.

Every broker runs as the edge runs one: ours and amqtt on their own thread and event loop in
this process, Mosquitto as its own process. A paho client publishes to its own subscription
and waits for the message to come back; rounds over the brokers alternate so machine noise
hits all alike, and each p50 is the median of the rounds' p50s. amqtt is measured only when
it is importable (it is no longer a dependency: ``pip install 'amqtt==0.12.*'`` for a run).

- ``roundtrip_p50_ms`` (ours), ``amqtt_roundtrip_p50_ms``, ``mosquitto_roundtrip_p50_ms``:
  publish → own subscription, QoS ``--qos``, ``--messages`` per round.
- ``roundtrip_vs_amqtt_p50``, ``roundtrip_vs_mosquitto_p50``: ours over the baseline (< 1 is faster).
- ``msgs_per_s`` (and ``amqtt_``/``mosquitto_``): QoS 1 messages from one client to another
  with ``--window`` on their way, median of three runs.
- ``import_rss_mb`` / ``amqtt_import_rss_mb``: resident memory that importing our broker's
  server / amqtt's broker adds to a fresh interpreter that already imported what the bus loads
  besides (paho, the config), medians of three processes each; ``import_rss_vs_amqtt``. Not
  asyncio: ours does without it, amqtt's figure includes it.

Usage: ``python benchmarks/broker.py [--messages 1000] [--rounds 5] [--qos 0] [--window 50]``
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actors.bus.broker import BrokerSettings
from actors.bus.broker.server import EmbeddedMqttBroker
from benchmarks.processes import free_port
from tests.services import MosquittoBroker

REPO = Path(__file__).resolve().parents[1]
TOPIC = "bench/echo"
# The parent packages as empty stand-ins, so importing the broker loads the broker only
# (actors/__init__ imports every module of the edge).
STAND_INS = (
    "import sys, types\n"
    "for name in ('actors', 'actors.bus'):\n"
    "    sys.modules[name] = types.ModuleType(name)\n"
    "    sys.modules[name].__path__ = [name.replace('.', '/')]\n"
)
PREAMBLE = STAND_INS + "import threading, actors.bus.mqtt, kubeedge_actors.config, kubeedge_actors.errors"
RSS = "print(int(open('/proc/self/status').read().split('VmRSS:')[1].split()[0]))"


class AmqttThread:
    """amqtt 0.12 on its own loop and thread, as the bus ran it before."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.loop = asyncio.new_event_loop()
        self.broker: Any = None
        started = threading.Event()
        threading.Thread(target=self._run, args=(started,), daemon=True).start()
        if not started.wait(10):
            raise SystemExit("benchmark: amqtt did not start")

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        started.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        from amqtt.broker import Broker  # amqtt wants a running loop when it is built

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        self.broker = Broker(config)
        await self.broker.start()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.broker.shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)


class Echo:
    """A paho client subscribed to its own topic; ``round_trips`` times publish → message."""

    def __init__(self, port: int, qos: int) -> None:
        self.qos = qos
        self.arrived: dict[bytes, float] = {}
        self.condition = threading.Condition()
        ready = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-{time.time_ns()}")
        self.client.on_connect = lambda c, *_: c.subscribe(TOPIC, qos)
        self.client.on_subscribe = lambda *_: ready.set()
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not ready.wait(10):
            raise SystemExit(f"benchmark: could not subscribe on port {port}")

    def _message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        now = time.perf_counter()
        with self.condition:
            self.arrived[bytes(message.payload)] = now
            self.condition.notify_all()

    def wait(self, key: bytes, timeout_s: float = 10.0) -> float:
        with self.condition:
            if not self.condition.wait_for(lambda: key in self.arrived, timeout_s):
                raise SystemExit(f"benchmark: {key!r} did not come back within {timeout_s} s")
            return self.arrived.pop(key)

    def round_trips(self, count: int, prefix: str) -> list[float]:
        samples = []
        for n in range(count):
            key = f"{prefix}-{n}".encode()
            started = time.perf_counter()
            self.client.publish(TOPIC, key, qos=self.qos)
            samples.append(self.wait(key) - started)
        return samples

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def messages_per_s(port: int, count: int, window: int) -> float:
    """QoS 1 from one client to another, at most ``window`` on their way end to end (a
    publisher faster than its subscriber would only measure the broker's queue limit)."""
    subscriber = Echo(port, 1)
    publisher = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{time.time_ns()}")
    publisher.connect("127.0.0.1", port)
    publisher.loop_start()
    try:
        started = time.perf_counter()
        for n in range(count):
            if n >= window:
                subscriber.wait(b"%d" % (n - window))
            publisher.publish(TOPIC, b"%d" % n, qos=1)
        for n in range(max(0, count - window), count):
            subscriber.wait(b"%d" % n)
        return count / (time.perf_counter() - started)
    finally:
        publisher.disconnect()
        publisher.loop_stop()
        subscriber.close()


def import_rss_kib(module: str) -> float:
    """Median RSS of three fresh interpreters after the preamble and ``import module``."""
    code = f"{PREAMBLE}\n{'import ' + module if module else ''}\n{RSS}"
    readings = [int(subprocess.check_output([sys.executable, "-c", code], cwd=REPO, text=True)) for _ in range(3)]
    return statistics.median(readings)


def start_brokers(folder: Path) -> tuple[dict[str, int], list[Callable[[], None]]]:
    ours = EmbeddedMqttBroker(BrokerSettings("127.0.0.1", free_port()))
    ours.start()
    ports, stops = {"ours": ours.settings.port}, [ours.stop]
    if importlib.util.find_spec("amqtt") is not None:
        amqtt = AmqttThread(free_port())
        ports["amqtt"] = amqtt.port
        stops.append(amqtt.stop)
    else:
        print("amqtt is not installed: no amqtt baseline in this run", file=sys.stderr)
    if shutil.which("mosquitto") is not None:
        mosquitto = MosquittoBroker(folder)
        mosquitto.start()
        ports["mosquitto"] = mosquitto.port
        stops.append(mosquitto.stop)
    return ports, stops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000, help="round trips per broker per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--qos", type=int, default=0, choices=(0, 1, 2))
    parser.add_argument("--throughput", type=int, default=5000, help="QoS 1 messages for msgs_per_s (three times)")
    parser.add_argument("--window", type=int, default=50, help="messages on their way for msgs_per_s")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-broker-") as tmp:
        ports, stops = start_brokers(Path(tmp))
        echoes = {name: Echo(port, args.qos) for name, port in ports.items()}
        try:
            for name, echo in echoes.items():
                echo.round_trips(100, f"warm-{name}")
            p50s: dict[str, list[float]] = {name: [] for name in ports}
            for round_number in range(args.rounds):
                for name, echo in echoes.items():
                    p50s[name].append(statistics.median(echo.round_trips(args.messages, f"r{round_number}")))
                shown = ", ".join(f"{name} {values[-1] * 1e3:.3f} ms" for name, values in p50s.items())
                print(f"round {round_number}: p50 {shown}", file=sys.stderr)
            rates = {
                name: statistics.median(messages_per_s(port, args.throughput, args.window) for _ in range(3))
                for name, port in ports.items()
            }
        finally:
            for echo in echoes.values():
                echo.close()
            for stop in stops:
                stop()

    figures = figures_of(p50s, rates)
    print(" ".join(f"{key}={value}" for key, value in figures.items()))


def figures_of(p50s: dict[str, list[float]], rates: dict[str, float]) -> dict[str, str]:
    p50 = {name: statistics.median(values) for name, values in p50s.items()}
    figures = {"roundtrip_p50_ms": f"{p50['ours'] * 1e3:.3f}"}
    for name in ("amqtt", "mosquitto"):
        if name in p50:
            figures[f"{name}_roundtrip_p50_ms"] = f"{p50[name] * 1e3:.3f}"
            figures[f"roundtrip_vs_{name}_p50"] = f"{p50['ours'] / p50[name]:.2f}"
    figures["msgs_per_s"] = f"{rates['ours']:.0f}"
    figures |= {f"{name}_msgs_per_s": f"{rate:.0f}" for name, rate in rates.items() if name != "ours"}
    base = import_rss_kib("")
    ours_kib = import_rss_kib("actors.bus.broker.server") - base
    figures["import_rss_mb"] = f"{ours_kib / 1024:.2f}"
    if "amqtt" in p50:
        amqtt_kib = import_rss_kib("amqtt.broker") - base
        figures["amqtt_import_rss_mb"] = f"{amqtt_kib / 1024:.2f}"
        figures["import_rss_vs_amqtt"] = f"{ours_kib / amqtt_kib:.2f}"
    return figures


if __name__ == "__main__":
    main()
