"""Processes the benchmarks start and measure: a cloud hub, an edge, and readings of /proc.

Each process gets its own ``conf/`` folder (written as JSON, which is YAML), its own ports and
its own log file, so several benchmarks (and other people's tests) can run side by side.
"""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: The bearer token of the cloud side's token file (``kube.token-file``), for its control API.
_TOKEN = "bench-token"


def wait_port(port: int, timeout_s: float = 30.0) -> None:
    """Until something listens on 127.0.0.1:``port``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def wait_http(url: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


# --- /proc ----------------------------------------------------------------------------------


def proc_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    return _stat_cpu_s(Path(f"/proc/{pid}/stat"))


def _stat_cpu_s(stat: Path) -> float:
    """utime + stime of a /proc ``stat`` file (a process's or one thread's), in seconds."""
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def proc_rss_mb(pid: int) -> float:
    """Resident memory of a process in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def proc_threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def thread_cpu_s() -> dict[str, float]:
    """CPU seconds (user + system) this process's threads have used so far, by thread name
    without its number (``TwinActor-1`` → ``TwinActor``): where a process's time goes."""
    names = {thread.native_id: re.sub(r"-[0-9a-f]+$", "", thread.name) for thread in threading.enumerate()}
    used: dict[str, float] = {}
    for tid in os.listdir("/proc/self/task"):
        name = names.get(int(tid), "other")
        used[name] = used.get(name, 0.0) + _stat_cpu_s(Path(f"/proc/self/task/{tid}/stat"))
    return used


# --- conf folders ---------------------------------------------------------------------------


def edge_certificates(certs: Path, nodes: list[str], *, one_key: bool = False) -> dict[str, tuple[Path, Path]]:
    """``{node: (cert, key)}`` under ``certs/nodes/``, CN = the node id, as the cloud hub admits an
    edge only as the node its certificate names; ``one_key``: one key pair for all (fast)."""
    from kubeedge_cloud.pki import issue_edge_certificates

    folder = certs / "nodes"
    folder.mkdir(exist_ok=True)
    files = {node: (folder / f"{node}.crt", folder / f"{node}.key") for node in nodes}
    missing = {node: paths for node, paths in files.items() if not paths[0].exists()}
    if missing:
        issue_edge_certificates(certs / "ca.crt", certs / "ca.key", missing, one_key=one_key)
    return files


def write_conf(folder: Path, files: dict[str, dict[str, Any]]) -> Path:
    """``conf/<file>`` for each file, from dotted keys (``{"edge.yaml": {"mqtt.mode": 2}}``)."""
    conf = folder / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    for name, values in files.items():
        nested: dict[str, Any] = {}
        for key, value in values.items():
            *parents, leaf = key.split(".")
            level = nested
            for part in parents:
                level = level.setdefault(part, {})
            level[leaf] = value
        (conf / name).write_text(json.dumps(nested, indent=1) + "\n")
    return conf


class Process:
    """``python -m <program> --config-dir <conf>``, its output in ``<folder>/<name>.log``."""

    def __init__(self, folder: Path, name: str, conf: Path, program: str) -> None:
        self.folder, self.name, self.conf, self.program = folder, name, conf, program
        self.log_path = folder / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} is not running"
        return self.process.pid

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.program, "--config-dir", str(self.conf)],
                env=env,
                stdout=log,
                stderr=log,
                cwd=self.folder,
            )

    def stop(self, timeout_s: float = 30.0) -> int:
        if self.process is None:
            return 0
        self.process.terminate()
        code = self.process.wait(timeout_s)
        self.process = None
        return code

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines() if self.log_path.exists() else []


class CloudHubProcess(Process):
    """This project's cloud hub with its own conf, certificates and database; restartable on
    the same ports. It runs the control API (``cloudapi``) too, which the benchmarks drive the
    controllers through (:attr:`api`, with a bearer token of its token file)."""

    def __init__(self, folder: Path, certs: Path, *, log_level: str = "WARNING", **values: Any) -> None:
        from kubeedge_cloud.keys import CLOUD_MODULES

        folder.mkdir(parents=True, exist_ok=True)
        self.port, self.api_port, self.kube_port = free_port(), free_port(), free_port()
        settings = {
            "cloudhub.port": self.port,
            "cloudhub.api-port": self.api_port,
            "kube.port": self.kube_port,
            "kube.database": str(folder / "cloud.db"),
            "cloudhub.node-limit": 1000,
            "cloudhub.ca": str(certs / "ca.crt"),
            "cloudhub.cert": str(certs / "cloudhub.crt"),
            "cloudhub.key": str(certs / "cloudhub.key"),
            "cloudhub.database": str(folder / "cloud.db"),
            "kube.token-file": str(folder / "tokens.csv"),
            "modules.enabled": [*CLOUD_MODULES, "cloudapi"],
            **values,
        }
        (folder / "tokens.csv").write_text(f"{_TOKEN},bench,1000\n")
        self.ca = certs / "ca.crt"
        conf = write_conf(folder, {"cloudhub.yaml": {**settings, "loggerLevel": log_level}})
        super().__init__(folder, "cloud", conf, "kubeedge_cloud")
        self.start()

    def start(self) -> None:
        super().start()
        wait_port(self.api_port)

    @property
    def api(self) -> Any:
        from kubeedge_cloud.apiclient import ApiClient

        return ApiClient(f"https://127.0.0.1:{self.api_port}", tls=ssl.create_default_context(cafile=str(self.ca)), token=_TOKEN)

    def url(self, node: str) -> str:
        return f"wss://127.0.0.1:{self.port}/bench/{node}/events"


class EdgeProcess(Process):
    """The whole edge (``python -m kubeedge_actors``) connected to ``cloud``, with its own node id,
    database, pod folder, embedded broker port and metrics port."""

    def __init__(self, folder: Path, cloud: CloudHubProcess, certs: Path, node_id: str, *, log_level: str = "INFO", **values: Any) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.node_id = node_id
        self.metrics_port = free_port()
        cert, key = edge_certificates(certs, [node_id])[node_id]
        settings = {
            "edgehub.websocket.url": cloud.url(node_id),
            "edgehub.controller.node-id": node_id,
            "edgehub.controller.project-id": "bench",
            "edgehub.websocket.certfile": str(cert),
            "edgehub.websocket.keyfile": str(key),
            "edgehub.websocket.cafile": str(certs / "ca.crt"),
            "edged.hostname-override": node_id,
            "edged.root-directory": str(folder / "edged"),
            "edged.server-port": 0,
            "database.source": str(folder / "edge.db"),
            "mqtt.internal-server": f"tcp://127.0.0.1:{free_port()}",
            "metrics.enabled": True,
            "metrics.port": self.metrics_port,
            **values,
        }
        conf = write_conf(folder, {"edge.yaml": settings, "logging.yaml": {"loggerLevel": log_level}})
        super().__init__(folder, "edge", conf, "kubeedge_actors")
        self.start()

    def scrape(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
            return str(response.read().decode())

    def figure(self, name: str, **labels: str) -> float | None:
        """One sample of the metrics endpoint, or None when absent (or not serving yet)."""
        from prometheus_client.parser import text_string_to_metric_families

        try:
            text = self.scrape()
        except OSError:
            return None
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    return float(sample.value)
        return None


__all__ = [
    "REPO",
    "CloudHubProcess",
    "EdgeProcess",
    "Process",
    "edge_certificates",
    "free_port",
    "proc_cpu_s",
    "proc_rss_mb",
    "proc_threads",
    "thread_cpu_s",
    "wait_http",
    "write_conf",
]
