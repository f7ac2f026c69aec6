"""Tier 3: ``kill -9`` in the middle of a burst of writes loses nothing acknowledged (issue 3),
in both journal modes (issue 11): with ``delete``, while another program reads the file as the
original's driver does, holding the commits back each time it reads."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from actors.meta import MetaStore
from tests.integration import original_reader
from tests.integration.meta_burst import operations

REPO = Path(__file__).resolve().parents[2]


def stored(content: Any) -> str:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class Reader:
    """Reads the file again and again from a thread, connecting as the original's driver does."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.reads = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="reader", daemon=True)

    def __enter__(self) -> Reader:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self.db_path.exists():
                continue  # connecting would create it
            try:
                with contextlib.closing(original_reader.connect(str(self.db_path))) as connection:
                    if connection.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone() is None:
                        continue  # meta has not made its table yet
                    original_reader.read_tables_of(connection, ["meta"])
                self.reads += 1
            except sqlite3.Error as error:
                self.errors.append(str(error))


def run_and_kill(db_path: Path, kill_after_acks: int, stderr_path: Path, journal_mode: str = "wal") -> list[str]:
    """Start the burst, SIGKILL it after ``kill_after_acks`` acks; every ack line it printed."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with stderr_path.open("w") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.meta_burst", str(db_path), journal_mode],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    watchdog = threading.Timer(120, child.kill)
    watchdog.start()
    assert child.stdout is not None
    acks: list[str] = []
    try:
        assert child.stdout.readline() == "ready\n", stderr_path.read_text()
        for line in child.stdout:
            if line.startswith("ack ") and line.endswith("\n"):
                acks.append(line[4:-1])
            if len(acks) == kill_after_acks:
                os.kill(child.pid, signal.SIGKILL)
                break
        # Acks written before the kill are still in the pipe: they were acknowledged too.
        acks += [line[4:-1] for line in child.stdout if line.startswith("ack ") and line.endswith("\n")]
    finally:
        watchdog.cancel()
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL, stderr_path.read_text()
    return acks


def index_of(key: str) -> int:
    return int(key.rsplit("/p", 1)[1])


def allowed_states(index: int, acked: int) -> list[str | None]:
    """What the row of ``p<index>`` may hold when its first ``acked`` writes were acknowledged."""
    states: list[str | None] = [None]
    for operation, content in operations(index):
        states.append(None if operation == "delete" else stored(content))
    return states[acked:]  # every acknowledged write is in; later ones may be too


def assert_nothing_acknowledged_lost(db_path: Path, acks: list[str]) -> None:
    with contextlib.closing(sqlite3.connect(db_path)) as database:
        assert database.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = dict(database.execute("SELECT key, value FROM meta"))
    acked_per_key = Counter(acks)
    last_index = max(index_of(key) for key in [*rows, *acks])
    for index in range(last_index + 1):
        key = f"default/pod/p{index}"
        assert rows.get(key) in allowed_states(index, acked_per_key[key]), key


@pytest.mark.parametrize("kill_after_acks", [1, 2_000, 12_000], ids=["at-the-start", "early", "deep-in-the-burst"])
def test_kill_9_during_a_burst_of_writes_loses_nothing_acknowledged(tmp_path: Path, kill_after_acks: int) -> None:
    db_path = tmp_path / "edge.db"

    acks = run_and_kill(db_path, kill_after_acks, tmp_path / "child.err")

    assert len(acks) >= kill_after_acks
    assert_nothing_acknowledged_lost(db_path, acks)


@pytest.mark.parametrize("kill_after_acks", [1, 2_000, 12_000], ids=["at-the-start", "early", "deep-in-the-burst"])
def test_kill_9_in_journal_mode_delete_while_a_reader_holds_commits_back_loses_nothing_acknowledged(
    tmp_path: Path, kill_after_acks: int
) -> None:
    db_path = tmp_path / "edge.db"

    with Reader(db_path) as reader:
        acks = run_and_kill(db_path, kill_after_acks, tmp_path / "child.err", "delete")

    assert len(acks) >= kill_after_acks
    assert_nothing_acknowledged_lost(db_path, acks)
    assert (reader.reads > 0, reader.errors) == (True, [])
    assert not Path(f"{db_path}-wal").exists()


@pytest.mark.parametrize("journal_mode", ["wal", "delete"])
def test_the_database_left_by_kill_9_opens_cleanly_for_meta(tmp_path: Path, journal_mode: str) -> None:
    db_path = tmp_path / "edge.db"
    acks = run_and_kill(db_path, 3_000, tmp_path / "child.err", journal_mode)
    store = MetaStore(db_path, journal_mode)

    store.open()
    keys = store.keys_of_type("pod")
    store.upsert("default/pod/after", "pod", "{}")
    after = store.get("default/pod/after")
    store.close()

    assert after == "{}"

    never_deleted = {key for key in acks if index_of(key) % 5 != 0}
    assert never_deleted <= keys
    assert len(never_deleted) > 1_000


@pytest.mark.parametrize(("before", "after"), [("wal", "delete"), ("delete", "wal")], ids=["wal-to-delete", "delete-to-wal"])
def test_a_file_left_by_kill_9_switches_journal_mode_at_the_next_start_with_everything_acknowledged(
    tmp_path: Path, before: str, after: str
) -> None:
    db_path = tmp_path / "edge.db"
    acks = run_and_kill(db_path, 3_000, tmp_path / "child.err", before)
    left_behind = Path(f"{db_path}-wal" if before == "wal" else f"{db_path}-journal").exists()

    store = MetaStore(db_path, after)
    store.open()
    mode = store.database.execute_sql("PRAGMA journal_mode").fetchone()[0]
    store.close()

    assert left_behind or before == "delete"  # a WAL with the last commits in it, not yet in the file
    assert mode == after
    assert_nothing_acknowledged_lost(db_path, acks)
