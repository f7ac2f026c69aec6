"""Sites and their processes, as a user runs them: ``python -m kubeedge_actors`` (the edge) or
``python -m kubeedge_cloud`` in a
folder holding a copy of the shipped ``conf/`` with only what a test must change written into
it (ports, node id, folders, and what the test asks for), and what a running process holds,
read from ``/proc/<pid>``.

::

    site = new_site(tmp_path / "edge", {"edgehub.controller.node-id": "n1", ...})
    edge = EdgeProcess(site).start()          # waits until the modules run and the bus is connected
    edge.wait_for_log("hub: connected to the cloud", count=2)
    edge.holdings()                           # threads by name, descriptors by kind
    edge.stop()                               # SIGTERM: the exit code; kill() is SIGKILL

The scenario harness (scenario.py) builds a cloud site and an edge site this way.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from actors.keys import EDGE_KEYS
from kubeedge_actors.config import Key
from kubeedge_actors.testing import wait_until
from kubeedge_cloud.apiclient import ApiClient
from kubeedge_cloud.keys import CLOUD_KEYS
from tests.cloud.control_cli import Controlled, control, control_client, write_token_file

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


# --- conf -------------------------------------------------------------------------------------


def new_site(site: Path, values: dict[str, Any]) -> Path:
    """``site/conf`` copied from the shipped ``conf/`` with ``values`` (dotted keys) written in,
    and an empty ``site/certs``."""
    (site / "certs").mkdir(parents=True)
    shutil.copytree(REPO / "conf", site / "conf")
    write_conf(site / "conf", values)
    return site


def key_spec(key: str, *, cloud: bool = False) -> Key:
    """The key of the cloud side (``cloudhub.*``, ``kube.*`` or every key with ``cloud``, in its
    one file) or of the edge."""
    return CLOUD_KEYS.by_name[key] if cloud or key.startswith(("cloudhub.", "kube.")) else EDGE_KEYS.by_name[key]


def write_conf(conf_dir: Path, values: dict[str, Any], *, cloud: bool = False) -> None:
    """Set dotted keys in the conf files that hold them, keeping every comment and other key;
    ``cloud``: every key is the cloud side's (``modules.enabled`` of cloudhub.yaml)."""
    yaml = YAML()  # round trip
    by_file: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        by_file.setdefault(key_spec(key, cloud=cloud).file, {})[key] = value
    for file_name, file_values in by_file.items():
        path = conf_dir / file_name
        document = yaml.load(path.read_text(encoding="utf-8"))
        for key, value in file_values.items():
            *parents, leaf = key.split(".")
            node = document
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        with path.open("w", encoding="utf-8") as stream:
            yaml.dump(document, stream)


def read_conf(conf_dir: Path, key: str, *, cloud: bool = False) -> Any:
    """The value of a dotted key as the site's conf files hold it (what its absence means when
    they leave it out, as in a conf written for the original); ``cloud`` as in :func:`write_conf`."""
    spec = key_spec(key, cloud=cloud)
    path = conf_dir / spec.file
    node = YAML(typ="safe").load(path.read_text(encoding="utf-8")) if path.is_file() else None
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return spec.value_when_absent
        node = node[part]
    return node


# --- what a process holds ---------------------------------------------------------------------


@dataclass(frozen=True)
class Holdings:
    """What a process holds at one moment: threads by name and open descriptors by kind."""

    threads: Counter[str]
    fds: Counter[str]

    @property
    def thread_count(self) -> int:
        return sum(self.threads.values())

    @property
    def fd_count(self) -> int:
        return sum(self.fds.values())

    def growth_since(self, before: Holdings) -> str:
        """What grew, for assertion messages."""
        threads = dict(self.threads - before.threads)
        fds = dict(self.fds - before.fds)
        return f"threads {before.thread_count} → {self.thread_count} (new: {threads}), fds {before.fd_count} → {self.fd_count} (new: {fds})"


def holdings(pid: int) -> Holdings:
    """Threads (by name, digits folded) and open file descriptors of process ``pid`` by kind:
    ``file``, ``pipe``, ``anon_inode``, ``socket``, and for unix sockets whose other end is
    known to ``ss``: ``socket:docker`` (connected to a Docker daemon) or ``socket:gone``
    (the other end was closed: a connection nobody will use again)."""
    threads: Counter[str] = Counter()
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            name = Path(f"/proc/{pid}/task/{task}/comm").read_text().strip()
        except FileNotFoundError:
            continue  # ended meanwhile
        threads[re.sub(r"\d+", "N", name)] += 1
    peers = _unix_peers()
    fds: Counter[str] = Counter()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            continue
        kind = target.split(":", 1)[0] if ":" in target and not target.startswith("/") else "file"
        if kind == "socket":
            peer = peers.get(target[len("socket:[") : -1])
            kind = {None: "socket", "": "socket:gone"}.get(peer, "socket:docker" if peer and peer.endswith("docker.sock") else "socket")
        fds[kind] += 1
    return Holdings(threads, fds)


def _unix_peers() -> dict[str, str]:
    """Unix socket inode → the local address of its peer ("" when the peer is gone)."""
    lines = subprocess.run(["ss", "-xan"], capture_output=True, text=True, check=True).stdout.splitlines()[1:]
    rows = [line.split() for line in lines]
    by_inode = {row[5]: row for row in rows if len(row) >= 8}
    peers = {}
    for inode, row in by_inode.items():
        peer_inode = row[7]
        peer = by_inode.get(peer_inode)
        if row[1] == "ESTAB":  # listening and unconnected sockets have no peer by nature
            peers[inode] = "" if peer_inode == "0" else (peer[4] if peer else "?")
    return peers


# --- processes --------------------------------------------------------------------------------


class SiteProcess:
    """One ``python -m <program> [command]`` run from a site folder; restartable.

    Its output (logging to stdout, as the shipped ``logging.yaml`` says) goes to ``<site>/<name>.log``.
    """

    def __init__(self, site: Path, name: str, command: list[str]) -> None:
        self.site = site
        self.name = name
        self.command = command
        self.log_path = site / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0  # where the current run's output starts
        self.starts = 0

    @property
    def conf_dir(self) -> Path:
        return self.site / "conf"

    def launch(self) -> None:
        assert not self.running, f"{self.name} is already running"
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", *self.command], cwd=self.site, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        self.starts += 1

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self, whole: bool = False) -> str:
        """The output of this run (every run with ``whole``)."""
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as stream:
            stream.seek(0 if whole else self._log_offset)
            return stream.read().decode("utf-8", "replace")

    def tail(self, lines: int = 40) -> str:
        """The last lines of every run's output, for assertion messages."""
        return "\n".join(self.log(whole=True).splitlines()[-lines:])

    def wait_for_log(self, pattern: str, *, count: int = 1, timeout_s: float = START_TIMEOUT_S) -> re.Match[str]:
        """The ``count``-th match of ``pattern`` in this run's output; fails early if the process exits."""

        def found() -> re.Match[str] | None:
            matches = list(re.finditer(pattern, self.log()))
            if len(matches) < count and not self.running:
                raise AssertionError(f"{self.name} exited ({self.returncode}) before logging {pattern!r} {count} times:\n{self.tail()}")
            return matches[count - 1] if len(matches) >= count else None

        try:
            return wait_until(found, timeout_s, 0.05, f"{self.name} logging {pattern!r} {count} times")
        except AssertionError as error:
            raise AssertionError(f"{error}:\n{self.tail()}") from None

    @property
    def pid(self) -> int:
        """The running process's id."""
        assert self.process is not None and self.running, f"{self.name} is not running"
        return self.process.pid

    def holdings(self) -> Holdings:
        """Its threads and open descriptors now, from ``/proc``."""
        return holdings(self.pid)

    @property
    def returncode(self) -> int | None:
        return self.process.poll() if self.process is not None else None

    def stop(self) -> int:
        """SIGTERM, as an operator stops it; returns the exit code (0 is a clean stop)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"{self.name} did not stop within {STOP_TIMEOUT_S} s of SIGTERM:\n{self.tail()}") from None

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as a power cut or the OOM killer."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        if self.process is not None:
            self.process.wait()


class CloudHubProcess(SiteProcess):
    """``python -m kubeedge_cloud``; the first run binds ports the system picks, which
    are then written into its conf, so every later run listens on the same ones.

    It runs the control API too (``cloudapi``, with a token file), which tests drive the
    controllers through (:meth:`control`, :attr:`api`).
    """

    def __init__(self, site: Path) -> None:
        super().__init__(site, "cloud", ["kubeedge_cloud"])
        self.port = 0
        self.api_port = 0
        self.api_scheme = "https"
        self.kube_port = 0  # 0 too when the site runs no kubeapi
        enabled = list(read_conf(self.conf_dir, "modules.enabled", cloud=True))
        values: dict[str, Any] = {"kube.token-file": str(write_token_file(site / "tokens.csv"))}
        if "cloudapi" not in enabled:
            values["modules.enabled"] = [*enabled, "cloudapi"]
        write_conf(self.conf_dir, values, cloud=True)

    def start(self) -> CloudHubProcess:
        self.launch()
        port = self.wait_for_log(r"serving edges on wss?://127\.0\.0\.1:(\d+)/")
        api = self.wait_for_log(r"control API on (https?)://127\.0\.0\.1:(\d+)/")
        kube = None
        if "kubeapi" in read_conf(self.conf_dir, "modules.enabled", cloud=True):
            kube = self.wait_for_log(r"Kubernetes API server on https://127\.0\.0\.1:(\d+)")
        if not self.port:
            self.port, self.api_scheme, self.api_port = int(port.group(1)), api.group(1), int(api.group(2))
            values = {"cloudhub.port": self.port, "cloudhub.api-port": self.api_port}
            if kube is not None:
                self.kube_port = int(kube.group(1))
                values["kube.port"] = self.kube_port
                self._write_kubeconfig()
            write_conf(self.conf_dir, values)
        return self

    def _write_kubeconfig(self) -> None:
        """``certs/kubeconfig`` for the API server's port, as ``certs`` writes it (``ctl`` reads it)."""
        from kubeedge_cloud.pki import write_kubeconfig

        if (self.site / "certs" / "ca.key").exists():
            write_kubeconfig(self.site / "certs", f"https://127.0.0.1:{self.kube_port}", force=True)

    def ctl(self, *args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
        """``python -m kubeedge_cloud ctl ARGS`` (kubectl with ``certs/kubeconfig``) in the site, as a user types it."""
        return subprocess.run(
            ctl_command(*args), cwd=self.site, env=self.ctl_environment(), capture_output=True, text=True, timeout=timeout_s
        )

    def ctl_environment(self) -> dict[str, str]:
        """No KUBECONFIG of the machine's; HOME in the site: kubectl's discovery cache stays there."""
        variables = {**os.environ, "PYTHONPATH": str(REPO), "HOME": str(self.site)}
        variables.pop("KUBECONFIG", None)
        return variables

    @property
    def api(self) -> ApiClient:
        """The control API (HTTP JSON; HTTPS when the site has TLS), with the test token."""
        return control_client(f"{self.api_scheme}://127.0.0.1:{self.api_port}", self.site / "certs" / "ca.crt")

    def control(self, *args: str) -> Controlled:
        """Run the control command ``ARGS`` (tests/cloud/control_cli.py) against this cloud side."""
        return control(self.api, *args)

    def items(self, what: str) -> list[dict[str, Any]]:
        """``GET /api/v1/<what>`` in every namespace: nodes, pods, configmaps, secrets, devices."""
        return api_items(self.api, what)


class EdgeProcess(SiteProcess):
    """``python -m kubeedge_actors``: the five modules, the MQTT broker the device apps use
    (``mqtt_port``: the embedded one unless ``mqtt.mode`` is 2), edged's ``GET /pods``, and its
    SQLite file (``database``)."""

    def __init__(self, site: Path) -> None:
        super().__init__(site, "edge", ["kubeedge_actors"])
        self.node_id = str(read_conf(self.conf_dir, "edgehub.controller.node-id"))
        own_broker = read_conf(self.conf_dir, "mqtt.mode") != 2
        broker = read_conf(self.conf_dir, "mqtt.internal-server" if own_broker else "mqtt.server")
        self.mqtt_port = int(str(broker).rsplit(":", 1)[1])
        self.pods_port = int(read_conf(self.conf_dir, "edged.server-port"))
        self.database = site / str(read_conf(self.conf_dir, "database.source"))

    def start(self) -> EdgeProcess:
        self.launch()
        self.wait_for_log(r"runtime: running ")
        self.wait_for_log(r"bus: connected to the \w+ broker")  # the bus has subscribed: device apps can talk
        return self

    def pods(self) -> dict[str, dict[str, Any]]:
        """edged's own view (``GET /pods``): each pod by name, with the status it computed."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.pods_port}/pods", timeout=10) as response:
            items = json.loads(response.read())["items"]
        return {item["metadata"]["name"]: item for item in items}

    def waiting_for_the_cloud(self) -> int:
        """Rows of the twin's outbox in its SQLite file: messages the cloud has not taken (or,
        from a cloud that confirms reports, not confirmed) yet."""
        with contextlib.closing(sqlite3.connect(f"file:{self.database}?mode=ro", uri=True)) as connection:
            return int(connection.execute("SELECT COUNT(*) FROM twin_outbox").fetchone()[0])


def ctl_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "kubeedge_cloud", "ctl", *args]


def api_items(api: ApiClient, what: str) -> list[dict[str, Any]]:
    """``GET /api/v1/<what>`` of a cloud hub's control API, in every namespace."""
    status, answer = api.call("GET", what)
    assert status == 200, answer
    return list(answer["items"])


__all__ = [
    "REPO",
    "CloudHubProcess",
    "EdgeProcess",
    "Holdings",
    "SiteProcess",
    "api_items",
    "holdings",
    "new_site",
    "read_conf",
    "write_conf",
]
