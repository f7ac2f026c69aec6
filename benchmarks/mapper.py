"""The mapper against pymodbus's server: how fast a register change reaches the cloud, and how
many registers one core polls, each against a bare pymodbus read loop on the same server.

- ``modbus_value_to_cloud_p50_ms``: a register changed on the server → its value as the twin's
  actual in the cloud hub's store (``cloud.db``), through the mapper (a module of an edge
  runtime in this process), the embedded broker, the twin, the hub and a real TLS cloud hub
  with the device applied through its control API. Baseline, on the same changes at the same
  moments: ``bare_read_loop_p50_ms``, a plain pymodbus loop polling the register at the same
  interval (``--interval``): what polling alone costs. ``value_to_cloud_minus_bare_p50_ms`` is
  what the edge and the cloud link add.
- ``modbus_polls_per_s``: registers read per second by the mapper's engine serving 100
  devices × 10 holding registers (one TCP connection each), the process pinned to one core,
  the server in another process. Baseline: ``bare_polls_per_s``, one pymodbus client reading
  the same registers in a tight loop in the same pinned process; ``mapper_vs_bare_polls`` the
  ratio.

Usage: ``python benchmarks/mapper.py [--changes 40] [--interval 0.05] [--devices 100] [--registers 10] [--seconds 5]``
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pymodbus.client import ModbusTcpClient

from actors import builtin_modules
from actors.mapper.engine import Engine, EngineSettings, Publisher
from actors.mapper.profile import DevicePlan, Profile, PropertyPlan
from examples.modbus_simulator import ModbusSimulator
from kubeedge_actors import Runtime
from kubeedge_actors.testing import wait_until
from tests.cloud.running import RunningCloudHub, edge_config
from tests.services import free_port, make_tls_files

NODE = "bench-node"
REPO = Path(__file__).resolve().parents[1]

MODEL = {
    "apiVersion": "devices.kubeedge.io/v1alpha1",
    "kind": "DeviceModel",
    "metadata": {"name": "probe"},
    "spec": {
        "properties": [{"name": "level", "type": {"int": {"accessMode": "ReadOnly"}}}],
        "propertyVisitors": [{"propertyName": "level", "modbus": {"register": "InputRegister", "offset": 5, "limit": 1}}],
    },
}


def device(port: int) -> dict[str, Any]:
    expression = {"key": "", "operator": "In", "values": [NODE]}
    return {
        "apiVersion": "devices.kubeedge.io/v1alpha1",
        "kind": "Device",
        "metadata": {"name": "probe-1"},
        "spec": {
            "deviceModelRef": {"name": "probe"},
            "protocol": {"modbus": {"tcp": {"ip": "127.0.0.1", "port": port, "slaveID": "1"}}},
            "nodeSelector": {"nodeSelectorTerms": [{"matchExpressions": [expression]}]},
        },
    }


# --- value to cloud --------------------------------------------------------------------------


def reported_level(database: Path) -> str | None:
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1)) as connection:
        row = connection.execute("SELECT reported FROM cloud_device WHERE name = 'probe-1'").fetchone()
    value = (json.loads(row[0]).get("level") or {}).get("value") if row else None
    return value if isinstance(value, str) else None


class BareLoop:
    """A plain pymodbus client polling the register at an interval; notes when it sees each value."""

    def __init__(self, port: int, interval_s: float) -> None:
        self.client = ModbusTcpClient("127.0.0.1", port=port, timeout=1, retries=0)
        self.client.connect()
        self.interval_s = interval_s
        self.seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            value = self.client.read_input_registers(5, count=1, device_id=1).registers[0]
            self.seen.setdefault(value, time.monotonic())

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.client.close()


def value_to_cloud(folder: Path, changes: int, interval_s: float) -> dict[str, str]:
    tls = make_tls_files(folder / "certs")
    cloud = RunningCloudHub(folder, tls).start()
    simulator = ModbusSimulator(0).start()
    values = {
        "modules.enabled": ["eventbus", "websocket", "metaManager", "twin", "mapper"],
        "database.source": str(folder / "edge.db"),
        "mqtt.internal-server": f"tcp://127.0.0.1:{free_port()}",
        "mapper.poll-interval": interval_s,
        "mapper.profile-interval": 0.2,
    }
    edge = Runtime(edge_config(cloud, tls, NODE, **values), builtin_modules())
    edge.start()
    bare = BareLoop(simulator.port, interval_s)
    try:
        cloud.wait_node_connected(NODE)
        status, answer = cloud.api.call("POST", "apply", [MODEL, device(simulator.port)])
        assert status == 200, answer
        database = folder / "cloud.db"
        wait_until(lambda: reported_level(database) == "0", 60, 0.05, "the first report at the cloud")
        through, direct = [], []
        for number in range(1, changes + 1):
            time.sleep(random.uniform(0, interval_s))  # changes at any point of both poll periods
            start = time.monotonic()
            simulator.set("input", 5, [number])
            arrived = wait_until(
                lambda n=number: reported_level(database) == str(n) and time.monotonic(), 30, 0.0005, "the value at the cloud"
            )
            wait_until(lambda n=number: n in bare.seen, 30, 0.0005, "the bare loop seeing it")
            through.append(arrived - start)
            direct.append(bare.seen[number] - start)
    finally:
        bare.close()
        edge.stop()
        edge.router.close()
        cloud.stop()
        simulator.stop()
    cloud_p50, bare_p50 = statistics.median(through) * 1e3, statistics.median(direct) * 1e3
    print(f"value to cloud p50 {cloud_p50:.1f} ms, bare loop p50 {bare_p50:.1f} ms ({changes} changes)", file=sys.stderr)
    return {
        "modbus_value_to_cloud_p50_ms": f"{cloud_p50:.1f}",
        "bare_read_loop_p50_ms": f"{bare_p50:.1f}",
        "value_to_cloud_minus_bare_p50_ms": f"{cloud_p50 - bare_p50:.1f}",
    }


# --- polls per second ------------------------------------------------------------------------


class NoPublisher(Publisher):
    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        pass


def polls_per_second(port: int, devices: int, registers: int, seconds: float) -> dict[str, str]:
    props = tuple(
        PropertyPlan(f"r{i}", "int", False, {"register": "HoldingRegister", "offset": 10 + i, "limit": 1}) for i in range(registers)
    )
    plans = tuple(DevicePlan(f"d{n}", "m", "modbus-tcp", {"ip": "127.0.0.1", "port": port, "slaveID": "1"}, props) for n in range(devices))
    engine = Engine(NoPublisher(), EngineSettings(poll_interval_s=0.0001, timeout_s=2.0))
    engine.apply(Profile(plans))
    time.sleep(1.0)  # every device connected and polling
    before, start = engine.polls, time.monotonic()
    time.sleep(seconds)
    mapper_rate = (engine.polls - before) / (time.monotonic() - start)
    engine.stop()

    client = ModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
    client.connect()
    reads, start = 0, time.monotonic()
    while time.monotonic() - start < seconds:
        for i in range(registers):
            client.read_holding_registers(10 + i, count=1, device_id=1)
            reads += 1
    bare_rate = reads / (time.monotonic() - start)
    client.close()
    print(f"polls/s: mapper {mapper_rate:.0f} ({devices} devices x {registers} registers), bare loop {bare_rate:.0f}", file=sys.stderr)
    return {
        "modbus_polls_per_s": f"{mapper_rate:.0f}",
        "bare_polls_per_s": f"{bare_rate:.0f}",
        "mapper_vs_bare_polls": f"{mapper_rate / bare_rate:.2f}",
    }


def pinned_server(port: int) -> subprocess.Popen[bytes]:
    """The simulator in its own process, on another core than this one when there is one."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    server = subprocess.Popen(
        [sys.executable, str(REPO / "examples" / "modbus_simulator.py"), "--port", str(port)], env=env, stdout=subprocess.DEVNULL
    )
    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cores[0]})
    if len(cores) > 1:
        os.sched_setaffinity(server.pid, {cores[1]})
    probe = ModbusTcpClient("127.0.0.1", port=port, timeout=1, retries=0)
    wait_until(probe.connect, 10, 0.05, "the simulator listening")
    probe.close()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=40, help="register changes timed to the cloud")
    parser.add_argument("--interval", type=float, default=0.05, help="poll interval of the mapper and of the bare loop, in seconds")
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--registers", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each throughput run")
    args = parser.parse_args()
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # a refused connect while waiting is expected
    with tempfile.TemporaryDirectory(prefix="bench-mapper-") as tmp:
        line = value_to_cloud(Path(tmp), args.changes, args.interval)
    port = free_port()
    server = pinned_server(port)
    try:
        line |= polls_per_second(port, args.devices, args.registers, args.seconds)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(10)
    print(" ".join(f"{key}={value}" for key, value in line.items()))


if __name__ == "__main__":
    main()
