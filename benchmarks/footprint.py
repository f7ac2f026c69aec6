"""The whole edge at rest: memory and CPU of the edge process, against a bare baseline.

The edge is ``python -m kubeedge_actors`` with the five modules (meta, twin, bus with its
embedded MQTT broker, edged on the real Docker Engine, hub), no pods, connected over TLS to a
cloud hub in its own process, so keepalives flow (``edgehub.controller.heartbeat`` 15 s) and
edged reports node status every 10 s. After a warm-up, both the edge and the baseline are
read from /proc over the same window (``--seconds``, 60 by default).

- ``idle_rss_mb``: the edge process's resident memory at the end of the window (MiB).
- ``idle_cpu_pct``: its CPU time over the window, as a percentage of one core.
- ``baseline_rss_mb`` / ``baseline_cpu_pct``: a bare Python process that imports the edge
  program's entry point (``kubeedge_actors.__main__``: the runtime, its config and logging,
  pykka, ruamel.yaml; the modules and their libraries load only when the runtime builds them)
  and then waits on an event, over the same window.
- ``rss_vs_baseline``: idle_rss_mb / baseline_rss_mb (what the modules, their libraries and
  running cost beyond the entry point). The baseline's CPU is ~0, so a CPU ratio would be meaningless; ``cpu_over_baseline_pct``
  is the difference instead.
- Before the figures, where the memory goes: the edge's resident memory by mapping (``[anon]``
  and ``[heap]`` are its objects, the rest shared libraries), and what each library the idle edge
  loads adds when imported, in the edge's order, in a fresh process (``IMPORT_STEPS``).
- ``rss_vs_original`` / ``cpu_vs_original``: against the original Go edge core measured on
  this kind of machine (ENVIRONMENT.md: 49–51 MiB idle, ~0.6 % CPU), for context only: that
  figure comes from another run.

Needs a running Docker Engine. Usage: ``python benchmarks/footprint.py [--seconds 60] [--warm-up 10]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.processes import REPO, CloudHubProcess, EdgeProcess, proc_cpu_s, proc_rss_mb, proc_threads
from kubeedge_actors.testing import wait_until

ORIGINAL_RSS_MB = 50.0  # ENVIRONMENT.md: 49–51 MiB
ORIGINAL_CPU_PCT = 0.6  # ENVIRONMENT.md: ~0.6 % of a core

BASELINE = """
import sys, threading
import kubeedge_actors.__main__  # the edge program's entry point (modules load when built)
print("ready", flush=True)
threading.Event().wait()
"""


def start_baseline() -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-c", BASELINE], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    if process.stdout.readline().strip() != "ready":
        raise RuntimeError("the baseline process did not start")
    return process


#: What the idle edge imports, in the order it does, each step with what it pulls in: the RSS each
#: adds in a fresh process is where the idle edge's memory goes (a library two steps share counts
#: in the first).
IMPORT_STEPS = (
    # The edge program keeps requests from loading a charset detector (kubeedge_actors/__main__.py).
    ("runtime, config, pykka, ruamel.yaml", "import kubeedge_actors.__main__; kubeedge_actors.__main__.skip_charset_detection()"),
    ("ssl", "import ssl"),
    ("http.client, urllib.request", "import http.client, urllib.request"),
    ("docker SDK, requests, urllib3", "import docker"),
    ("peewee, sqlite3", "import peewee, sqlite3"),
    ("paho-mqtt", "import paho.mqtt.client"),
    ("websocket-client", "import websocket"),
    (
        "our modules (meta, twin, bus and its broker, edged, hub)",
        "import actors.meta.actor, actors.twin.actor, actors.bus.actor, actors.bus.broker.server, actors.edged.actor, actors.hub.actor",
    ),
)

# Its own RSS reader, not processes.proc_rss_mb: importing that module (ssl, urllib) would
# load before the first step what the steps are to measure.
IMPORT_LADDER = """
import gc, json, sys
def rss():
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS:")) / 1024
steps = [("python", rss())]
for label, statement in json.loads(sys.argv[1]):
    exec(statement)
    gc.collect()
    steps.append((label, rss()))
print(json.dumps(steps))
"""


def import_ladder() -> list[tuple[str, float]]:
    """(step, MiB it adds) for :data:`IMPORT_STEPS` in a fresh process; the first is Python itself."""
    command = [sys.executable, "-c", IMPORT_LADDER, json.dumps(IMPORT_STEPS)]
    steps = json.loads(subprocess.run(command, cwd=REPO, stdout=subprocess.PIPE, text=True, check=True).stdout)
    return [(label, mb - (steps[index - 1][1] if index else 0.0)) for index, (label, mb) in enumerate(steps)]


def rss_by_mapping(pid: int, top: int = 8) -> list[tuple[str, float]]:
    """A process's resident memory by what is mapped (a library, or ``[anon]`` and ``[heap]``:
    the objects), MiB, largest first."""
    by_mapping: dict[str, float] = {}
    mapping = "[anon]"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if fields and "-" in fields[0] and not fields[0].endswith(":"):
            mapping = fields[5] if len(fields) > 5 else "[anon]"
        elif fields and fields[0] == "Rss:":
            by_mapping[mapping] = by_mapping.get(mapping, 0.0) + int(fields[1]) / 1024
    return sorted(by_mapping.items(), key=lambda item: -item[1])[:top]


def node_connected(cloud: CloudHubProcess, node_id: str) -> bool:
    status, answer = cloud.api.call("GET", "nodes")
    return status == 200 and any(row["name"] == node_id and row["connection"] == "connected" for row in answer.get("items", []))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warm-up", type=float, default=10.0)
    args = parser.parse_args()

    from kubeedge_cloud.pki import write_certificates

    with tempfile.TemporaryDirectory(prefix="footprint-bench-") as tmp:
        folder = Path(tmp)
        certs = folder / "certs"
        node_id = f"footprint-{uuid.uuid4().hex[:8]}"
        write_certificates(certs, node_id, [])
        cloud = CloudHubProcess(folder / "cloud", certs)
        # The shipped defaults but for paths and ports: mqtt.mode 0 (embedded broker), metrics off.
        edge = EdgeProcess(folder / "edge", cloud, certs, node_id, log_level="WARNING", **{"metrics.enabled": False})
        baseline = start_baseline()
        try:
            wait_until(lambda: node_connected(cloud, node_id), 60, 0.2, "the edge connected to the cloud hub")
            time.sleep(args.warm_up)  # start-up work (first listing, first node status) is over
            pids = {"edge": edge.pid, "baseline": baseline.pid}
            cpu0 = {name: proc_cpu_s(pid) for name, pid in pids.items()}
            started = time.monotonic()
            time.sleep(args.seconds)  # the measurement: both processes idle side by side
            elapsed = time.monotonic() - started
            cpu = {name: 100 * (proc_cpu_s(pid) - cpu0[name]) / elapsed for name, pid in pids.items()}
            rss = {name: proc_rss_mb(pid) for name, pid in pids.items()}
            threads = proc_threads(edge.pid)
            mappings = rss_by_mapping(edge.pid)
            still_connected = node_connected(cloud, node_id)
        finally:
            baseline.terminate()
            baseline.wait(10)
            exit_code = edge.stop()
            cloud.stop()
        problems = [line for line in edge.log_lines() if " ERROR " in line or "Traceback" in line]

    print(
        f"edge: {rss['edge']:.1f} MiB, {cpu['edge']:.2f} % CPU, {threads} threads over {elapsed:.0f} s "
        f"(connected throughout: {still_connected}; exit code {exit_code}; {len(problems)} error lines)"
    )
    print(f"baseline (same imports, idle): {rss['baseline']:.1f} MiB, {cpu['baseline']:.2f} % CPU")
    print("the edge's memory by mapping: " + ", ".join(f"{Path(name).name} {mb:.1f}" for name, mb in mappings))
    print("what each import adds, in a fresh process: " + ", ".join(f"{label} {mb:+.1f}" for label, mb in import_ladder()))
    print(
        f"idle_rss_mb={rss['edge']:.1f} idle_cpu_pct={cpu['edge']:.2f} baseline_rss_mb={rss['baseline']:.1f} "
        f"baseline_cpu_pct={cpu['baseline']:.2f} rss_vs_baseline={rss['edge'] / rss['baseline']:.2f} "
        f"cpu_over_baseline_pct={cpu['edge'] - cpu['baseline']:.2f} rss_vs_original={rss['edge'] / ORIGINAL_RSS_MB:.2f} "
        f"cpu_vs_original={cpu['edge'] / ORIGINAL_CPU_PCT:.2f}"
    )
    return 0 if still_connected and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
