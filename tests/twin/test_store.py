"""The twin's tables in a real SQLite file (docs/protocol.md#5.1), shared with meta's table."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from actors.twin.model import Attr, Device, Twin, Value, Version
from actors.twin.store import CHECKPOINT_EVERY_COMMITS, OutboxRecord, SqliteTwinStore, StoreBatch
from kubeedge_actors import Message
from tests.integration import original_reader
from tests.meta.locks import HeldLock


@pytest.fixture
def store(tmp_path: Path) -> SqliteTwinStore:
    store = SqliteTwinStore(tmp_path / "edge.db")
    store.open()
    yield store
    store.close()


def columns(path: Path, table: str) -> list[tuple[str, str, int, int]]:
    with sqlite3.connect(path) as connection:
        return [(name, kind, notnull, pk) for _, name, kind, notnull, _, pk in connection.execute(f"PRAGMA table_info({table})")]


def test_the_device_table_is_exactly_the_originals(store: SqliteTwinStore) -> None:
    assert columns(store.path, "device") == [
        ("id", "VARCHAR(64)", 1, 1),
        ("name", "TEXT", 0, 0),
        ("description", "TEXT", 0, 0),
        ("state", "TEXT", 0, 0),
        ("last_online", "TEXT", 0, 0),
    ]


def test_the_device_attr_and_device_twin_tables_are_exactly_the_originals(store: SqliteTwinStore) -> None:
    attr = [(name, kind) for name, kind, _, _ in columns(store.path, "device_attr")]
    twin = [(name, kind) for name, kind, _, _ in columns(store.path, "device_twin")]

    assert attr == [
        ("id", "INTEGER"),
        ("deviceid", "TEXT"),
        ("name", "TEXT"),
        ("description", "TEXT"),
        ("value", "TEXT"),
        ("optional", "bool"),
        ("attr_type", "TEXT"),
        ("metadata", "TEXT"),
    ]
    assert [name for name, _ in twin] == [
        "id",
        "deviceid",
        "name",
        "description",
        "expected",
        "actual",
        "expected_meta",
        "actual_meta",
        "expected_version",
        "actual_version",
        "optional",
        "attr_type",
        "metadata",
    ]
    with sqlite3.connect(store.path) as connection:
        sql = dict(connection.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall())
    assert '"id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT' in sql["device_twin"]


def test_a_device_with_attributes_and_twins_reads_back_as_written(store: SqliteTwinStore) -> None:
    twin = Twin(
        "temp",
        expected=Value("20", 5),
        actual=Value("19", 6),
        expected_version=Version(2, 1),
        actual_version=Version(0, 3),
        optional=False,
        attr_type="int",
    )
    device = Device("d1", "name", "desc", "online", "2026-01-01 00:00:00", {"vendor": Attr("vendor", value="acme")}, {"temp": twin})

    store.commit(StoreBatch(devices=[device], twins=[("d1", twin)], attributes=[("d1", device.attributes["vendor"])]))

    assert store.load_devices() == {"d1": device}


def test_twin_columns_hold_the_originals_json_shapes(store: SqliteTwinStore) -> None:
    twin = Twin("temp", expected=Value("20", 5), expected_version=Version(2, 1))
    store.commit(StoreBatch(devices=[Device("d1")], twins=[("d1", twin)]))

    with sqlite3.connect(store.path) as connection:
        row = connection.execute("SELECT expected, expected_meta, expected_version, actual, optional, metadata FROM device_twin").fetchone()

    assert row == ("20", '{"timestamp":5}', '{"cloud":2,"edge":1}', None, 1, "{}")


def test_an_updated_twin_replaces_its_row(store: SqliteTwinStore) -> None:
    store.commit(StoreBatch(devices=[Device("d1")], twins=[("d1", Twin("t", actual=Value("1", 1)))]))

    store.commit(StoreBatch(twins=[("d1", Twin("t", actual=Value("2", 2)))]))

    with sqlite3.connect(store.path) as connection:
        assert connection.execute("SELECT actual FROM device_twin").fetchall() == [("2",)]


def test_removing_a_device_removes_its_attributes_and_twins(store: SqliteTwinStore) -> None:
    store.commit(StoreBatch(devices=[Device("d1")], twins=[("d1", Twin("t"))], attributes=[("d1", Attr("a"))]))

    store.commit(StoreBatch(removed_devices=["d1"]))

    assert store.load_devices() == {}
    with sqlite3.connect(store.path) as connection:
        assert connection.execute("SELECT count(*) FROM device_twin").fetchone() == (0,)
        assert connection.execute("SELECT count(*) FROM device_attr").fetchone() == (0,)


def test_the_outbox_keeps_messages_in_order_across_a_reopen(store: SqliteTwinStore) -> None:
    messages = [
        Message.new(source="twin", group="resource", operation="update", resource=f"device/d/{i}", content={"i": i}) for i in range(3)
    ]
    store.commit(StoreBatch(outbox_added=[OutboxRecord(m, i == 1) for i, m in enumerate(messages)]))
    store.commit(StoreBatch(outbox_removed=[messages[0].id]))
    store.close()

    store.open()

    assert [(r.message.id, r.message.content, r.awaited) for r in store.load_outbox()] == [
        (messages[1].id, {"i": 1}, True),
        (messages[2].id, {"i": 2}, False),
    ]


def test_the_file_is_shared_with_metas_table(tmp_path: Path) -> None:
    path = tmp_path / "edge.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE meta (key varchar(256) PRIMARY KEY, type varchar(32) NOT NULL DEFAULT '', value text)")
        connection.execute("INSERT INTO meta VALUES ('default/pod/a', 'pod', '{}')")
    store = SqliteTwinStore(path)

    store.open()
    store.commit(StoreBatch(devices=[Device("d1")]))
    store.close()

    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT key FROM meta").fetchall() == [("default/pod/a",)]
        tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"meta", "device", "device_attr", "device_twin", "twin_outbox"} <= tables


def test_a_write_that_fails_leaves_nothing_behind(store: SqliteTwinStore) -> None:
    message = Message.new(source="twin", group="resource", operation="update", resource="x", content=None)
    store.commit(StoreBatch(outbox_added=[OutboxRecord(message, False)]))

    with pytest.raises(Exception, match="cannot write"):
        store.commit(StoreBatch(devices=[Device("d2")], outbox_added=[OutboxRecord(message, False)]))  # duplicate msg_id

    assert store.load_devices() == {}


# --- journal modes and another program's locks (database.journal-mode) ------------------------


@pytest.fixture
def delete_mode(tmp_path: Path) -> Iterator[SqliteTwinStore]:
    store = SqliteTwinStore(tmp_path / "edge.db", "delete", busy_timeout_ms=20)  # the store's own retry is what is tested
    store.open()
    yield store
    store.close()


def test_in_journal_mode_delete_a_reader_forcing_it_reads_the_originals_tables(delete_mode: SqliteTwinStore) -> None:
    twin = Twin("temp", expected=Value("20", 5), actual=Value("19", 6), expected_version=Version(1, 0), actual_version=Version(0, 1))
    delete_mode.commit(
        StoreBatch(devices=[Device("d1", "thermo")], twins=[("d1", twin)], attributes=[("d1", Attr("vendor", value="acme"))])
    )

    with contextlib.closing(original_reader.connect(str(delete_mode.path))) as connection:
        tables = original_reader.read_tables_of(connection, ["device", "device_attr", "device_twin"])

    assert [(row["id"], row["name"]) for row in tables["device"]] == [("d1", "thermo")]
    assert [(row["deviceid"], row["name"], row["value"]) for row in tables["device_attr"]] == [("d1", "vendor", "acme")]
    assert [(row["deviceid"], row["name"], row["expected"], row["actual"]) for row in tables["device_twin"]] == [("d1", "temp", "20", "19")]


def test_a_write_a_reader_holds_back_waits_for_it_and_loses_nothing(delete_mode: SqliteTwinStore, caplog: pytest.LogCaptureFixture) -> None:
    reader = HeldLock(delete_mode.path).release_when(lambda: delete_mode.busy.refusals >= 3)

    with caplog.at_level(logging.INFO):
        delete_mode.commit(StoreBatch(devices=[Device("d1")], twins=[("d1", Twin("t", actual=Value("1", 1)))]))

    reader.join()
    assert list(delete_mode.load_devices()) == ["d1"]
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING] == []


def test_loading_waits_for_another_programs_exclusive_lock(delete_mode: SqliteTwinStore) -> None:
    delete_mode.commit(StoreBatch(devices=[Device("d1")]))
    writer = HeldLock(delete_mode.path, "BEGIN EXCLUSIVE").release_when(lambda: delete_mode.busy.refusals >= 3)

    devices = delete_mode.load_devices()

    writer.join()
    assert list(devices) == ["d1"]


def test_the_twin_and_attribute_rows_are_indexed_by_device_and_name_without_a_unique_constraint(store: SqliteTwinStore) -> None:
    with sqlite3.connect(store.path) as connection:
        rows = connection.execute("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index' AND name LIKE '%deviceid_name'")
        indexes = {name: (table, sql) for name, table, sql in rows}

    assert set(indexes) == {"device_twin_deviceid_name", "device_attr_deviceid_name"}
    assert all("UNIQUE" not in sql and '("deviceid", "name")' in sql for _table, sql in indexes.values()), indexes


def test_the_store_leaves_checkpoints_to_a_worker_in_wal_mode(store: SqliteTwinStore) -> None:
    autocheckpoint = store.tables.device._meta.database.execute_sql("PRAGMA wal_autocheckpoint").fetchone()[0]

    assert autocheckpoint == 0


def test_a_checkpoint_is_due_every_few_hundred_commits_and_copies_the_wal_into_the_file(store: SqliteTwinStore) -> None:
    size_before = store.path.stat().st_size
    due = []
    for n in range(CHECKPOINT_EVERY_COMMITS):
        store.commit(StoreBatch(devices=[Device(id=f"d{n}", name=f"device {n} " + "x" * 200)]))
        due.append(store.checkpoint_due())

    worker = threading.Thread(target=store.checkpoint)
    worker.start()
    worker.join()

    assert due == [False] * (CHECKPOINT_EVERY_COMMITS - 1) + [True]
    assert store.checkpoint_due() is False  # counting again
    assert store.path.stat().st_size > size_before
    with contextlib.closing(sqlite3.connect(f"file:{store.path}?mode=ro", uri=True)) as reader:
        assert reader.execute("SELECT count(*) FROM device").fetchone()[0] == CHECKPOINT_EVERY_COMMITS
