"""The meta store's two journal modes and another program's locks, on real SQLite files.

``database.journal-mode: delete`` lets a program that forces ``journal_mode=DELETE`` on
connect (the original's driver does; tests.integration.original_reader does the same) read
while the edge writes; whatever lock such a program holds, the store waits and loses nothing.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from actors.meta.store import MetaStore
from kubeedge_actors.sqlite import DatabaseLockedError
from tests.integration import original_reader
from tests.meta.locks import HeldLock

SHORT_BUSY_TIMEOUT_MS = 20  # SQLite gives up soon, so the store's own retry is what is tested


@pytest.fixture
def delete_mode(tmp_path: Path) -> Iterator[MetaStore]:
    store = MetaStore(tmp_path / "edge.db", "delete", busy_timeout_ms=SHORT_BUSY_TIMEOUT_MS)
    store.open()
    yield store
    store.close()


def pragma(store: MetaStore, name: str) -> object:
    return store.database.execute_sql(f"PRAGMA {name}").fetchone()[0]


def committed_rows(path: Path) -> dict[str, str]:
    with contextlib.closing(sqlite3.connect(path)) as other:
        return dict(other.execute("SELECT key, value FROM meta"))


def read_as_the_original(path: Path) -> dict[str, str]:
    with contextlib.closing(original_reader.connect(str(path))) as connection:
        return {row["key"]: row["value"] for row in original_reader.read_tables_of(connection, ["meta"])["meta"]}


@pytest.mark.parametrize(("mode", "synchronous"), [("wal", 1), ("delete", 2)], ids=["wal-normal", "delete-full"])
def test_each_journal_mode_has_the_synchronous_level_that_survives_a_power_cut(tmp_path: Path, mode: str, synchronous: int) -> None:
    store = MetaStore(tmp_path / "edge.db", mode)

    store.open()

    assert (pragma(store, "journal_mode"), pragma(store, "synchronous")) == (mode, synchronous)
    store.close()


def test_a_wal_file_switches_to_delete_and_back_with_its_rows_and_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "edge.db"
    for mode, key in (("wal", "a"), ("delete", "b"), ("wal", "c")):
        store = MetaStore(path, mode)
        with caplog.at_level(logging.INFO, logger="kubeedge_actors.sqlite"):
            store.open()
        store.upsert(f"default/pod/{key}", "pod", key)
        assert pragma(store, "journal_mode") == mode
        store.close()

    assert committed_rows(path) == {"default/pod/a": "a", "default/pod/b": "b", "default/pod/c": "c"}
    switches = [record.getMessage() for record in caplog.records if record.levelno == logging.INFO]
    assert switches == [
        f"sqlite: {path} switched from journal mode wal to delete",
        f"sqlite: {path} switched from journal mode delete to wal",
    ]  # a new file gets its mode silently


def test_switching_while_another_program_has_the_file_open_is_a_clear_error_that_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "edge.db"
    store = MetaStore(path)
    store.open()
    store.upsert("default/pod/web", "pod", "{}")
    store.close()
    other = sqlite3.connect(path)
    other.execute("SELECT COUNT(*) FROM meta").fetchall()  # open, idle, in WAL
    switching = MetaStore(path, "delete", busy_timeout_ms=SHORT_BUSY_TIMEOUT_MS)

    with pytest.raises(
        DatabaseLockedError, match=r"from journal mode wal to delete: another program has it open .*database.journal-mode: wal"
    ):
        switching.open()

    assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert dict(other.execute("SELECT key, value FROM meta")) == {"default/pod/web": "{}"}
    other.close()


def test_a_reader_forcing_journal_mode_delete_on_the_wal_file_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    store = MetaStore(tmp_path / "edge.db")
    store.open()
    store.upsert("default/pod/web", "pod", "v1")

    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        read_as_the_original(store.path)

    store.upsert("default/pod/web", "pod", "v2")  # the store writes on, unharmed
    assert pragma(store, "journal_mode") == "wal"
    assert pragma(store, "integrity_check") == "ok"
    assert store.get("default/pod/web") == "v2"
    store.close()


def test_a_reader_forcing_journal_mode_delete_reads_the_delete_mode_file_as_committed(delete_mode: MetaStore) -> None:
    delete_mode.upsert("default/pod/web", "pod", "v1")
    delete_mode.begin()
    delete_mode.upsert("default/pod/db", "pod", "v1")

    during_the_batch = read_as_the_original(delete_mode.path)
    delete_mode.commit()

    assert during_the_batch == {"default/pod/web": "v1"}
    assert read_as_the_original(delete_mode.path) == {"default/pod/web": "v1", "default/pod/db": "v1"}


def test_a_commit_a_reader_holds_back_waits_for_it_and_loses_nothing(delete_mode: MetaStore, caplog: pytest.LogCaptureFixture) -> None:
    delete_mode.begin()
    delete_mode.upsert("default/pod/web", "pod", "v1")
    reader = HeldLock(delete_mode.path).release_when(lambda: delete_mode.busy.refusals >= 3)

    with caplog.at_level(logging.DEBUG):
        delete_mode.commit()

    reader.join()
    assert reader.released.is_set()
    assert committed_rows(delete_mode.path) == {"default/pod/web": "v1"}
    assert not delete_mode.in_batch
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []  # a normal wait
    assert any("is locked" in r.getMessage() and "a commit waits" in r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG)


def test_a_wait_longer_than_normal_is_one_warning_and_its_end_one_info(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = MetaStore(tmp_path / "edge.db", "delete", busy_timeout_ms=SHORT_BUSY_TIMEOUT_MS, warn_after_s=0.05)
    store.open()
    store.begin()
    store.upsert("default/pod/web", "pod", "v1")
    warned = lambda: any(r.levelno == logging.WARNING for r in caplog.records)  # noqa: E731
    reader = HeldLock(store.path).release_when(lambda: warned() and store.busy.refusals >= 10)

    with caplog.at_level(logging.INFO, logger="kubeedge_actors.sqlite"):
        store.commit()

    reader.join()
    store.close()
    logged = [(r.levelname, re.sub(r"\d+ s", "N s", r.getMessage())) for r in caplog.records]
    assert logged == [
        ("WARNING", f"meta: {store.path} has been locked by another program for N s; a commit waits for it (nothing is lost)"),
        ("INFO", f"meta: {store.path} is free again after N s; a commit done"),
    ]
    assert committed_rows(store.path) == {"default/pod/web": "v1"}


def test_a_write_outside_a_batch_waits_for_a_reader_too(delete_mode: MetaStore) -> None:
    reader = HeldLock(delete_mode.path).release_when(lambda: delete_mode.busy.refusals >= 3)

    delete_mode.upsert("default/pod/web", "pod", "v1")

    reader.join()
    assert committed_rows(delete_mode.path) == {"default/pod/web": "v1"}


def test_a_read_waits_for_another_programs_exclusive_lock(delete_mode: MetaStore) -> None:
    delete_mode.upsert("default/pod/web", "pod", "v1")
    writer = HeldLock(delete_mode.path, "BEGIN EXCLUSIVE").release_when(lambda: delete_mode.busy.refusals >= 3)

    value = delete_mode.get("default/pod/web")

    writer.join()
    assert value == "v1"


def test_opening_waits_for_a_lock_on_a_table_still_to_be_made(tmp_path: Path) -> None:
    path = tmp_path / "edge.db"
    with contextlib.closing(sqlite3.connect(path)) as other:
        other.execute("PRAGMA journal_mode = DELETE")
    store = MetaStore(path, "delete", busy_timeout_ms=SHORT_BUSY_TIMEOUT_MS)
    reader = HeldLock(path).release_when(lambda: store.busy.refusals >= 3)

    store.open()

    reader.join()
    assert store.get("default/pod/none") is None
    store.close()
