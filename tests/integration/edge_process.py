"""The edge core as a user runs it: ``python -m kubeedge_actors`` in its own folder with a
``conf/``, as a child process of the test; and what it holds, read from ``/proc/<pid>``.

Scenario tests (tests/integration/test_scenario_*.py) start one per test, point it at a
cloud hub, a broker and a Docker daemon, break things around it and look at it again.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubeedge_actors.testing import wait_until

REPO = Path(__file__).resolve().parents[2]
_STOP_TIMEOUT_S = 30.0


def nested(values: dict[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1}`` → ``{"a": {"b": 1}}``: the dotted keys of keys.py as a YAML tree."""
    tree: dict[str, Any] = {}
    for dotted, value in values.items():
        *parents, leaf = dotted.split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


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

    @property
    def socket_count(self) -> int:
        return self.fds["socket"]

    def growth_since(self, before: Holdings) -> str:
        """What grew, for assertion messages."""
        threads = {name: count for name, count in (self.threads - before.threads).items()}
        fds = {kind: count for kind, count in (self.fds - before.fds).items()}
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


class EdgeProcess:
    """``python -m kubeedge_actors`` in ``folder`` with the configuration ``values`` (dotted keys).

    Its output goes to ``folder/edge.out``; ``log()`` reads it.
    """

    def __init__(self, folder: Path, values: dict[str, Any]) -> None:
        self.folder = folder
        self.values = dict(values)
        self.conf = folder / "conf"
        self.output = folder / "edge.out"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def node_id(self) -> str:
        return str(self.values["edgehub.controller.node-id"])

    @property
    def pid(self) -> int:
        assert self.process is not None, "the edge is not running"
        return self.process.pid

    def write_conf(self) -> None:
        self.conf.mkdir(parents=True, exist_ok=True)
        # JSON is YAML; the loader merges every file of conf/ into one key space.
        (self.conf / "edge.yaml").write_text(json.dumps(nested(self.values), indent=1))

    def start(self) -> EdgeProcess:
        self.write_conf()
        env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
        with self.output.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "kubeedge_actors"], cwd=self.folder, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        return self

    def wait_running(self, timeout_s: float = 60.0) -> None:
        """Until every module has started (the runtime's "running" line)."""
        self.wait_for_log("runtime: running", timeout_s=timeout_s)

    def wait_for_log(self, text: str, *, count: int = 1, timeout_s: float = 30.0) -> None:
        def logged() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"the edge exited with code {self.process.returncode}:\n{self.tail()}")
            return self.log().count(text) >= count

        try:
            wait_until(logged, timeout_s, interval_s=0.05, what=f"{text!r} logged {count} times")
        except AssertionError as error:
            raise AssertionError(f"{error}:\n{self.tail()}") from None

    def log(self) -> str:
        return self.output.read_text(errors="replace") if self.output.exists() else ""

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def holdings(self) -> Holdings:
        return holdings(self.pid)

    def stop(self) -> int:
        """SIGTERM and wait: the edge stops every module and exits (code 0 when clean)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return process.returncode if process is not None else 0
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(f"the edge did not stop within {_STOP_TIMEOUT_S} s of SIGTERM:\n{self.tail()}") from None


__all__ = ["REPO", "EdgeProcess", "Holdings", "holdings", "nested"]
