"""The storage adapter against real SQLite files: schema, semantics, transactions."""

from __future__ import annotations

import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from actors.meta.store import MetaStore, MetaStoreError

# The original's table (beego ORM, docs/protocol.md#6.1), as another writer of the file creates it.
ORIGINAL_DDL = "CREATE TABLE meta (key varchar(256) NOT NULL PRIMARY KEY, type varchar(32) NOT NULL DEFAULT '', value text)"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MetaStore]:
    store = MetaStore(tmp_path / "edge.db")
    store.open()
    yield store
    store.close()


def committed_rows(path: Path) -> dict[str, tuple[str, str]]:
    """What another connection sees: only committed rows."""
    with sqlite3.connect(path) as other:
        return {key: (kind, value) for key, kind, value in other.execute("SELECT key, type, value FROM meta")}


def test_the_table_is_exactly_the_one_of_spec_6_1(store: MetaStore) -> None:
    columns = store.database.execute_sql("PRAGMA table_info(meta)").fetchall()

    # cid, name, type, notnull, default, pk
    assert [tuple(c[1:]) for c in columns] == [
        ("key", "VARCHAR(256)", 1, None, 1),
        ("type", "VARCHAR(32)", 1, "''", 0),
        ("value", "TEXT", 0, None, 0),
    ]


def test_the_file_is_private_and_in_wal_mode(store: MetaStore) -> None:
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert store.database.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_table_made_by_the_original_is_used_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "edge.db"
    with sqlite3.connect(path) as original:
        original.execute(ORIGINAL_DDL)
        original.execute("INSERT INTO meta (key, value) VALUES ('default/pod/web', '{}')")
    store = MetaStore(path)

    store.open()
    store.save("default/pod/db", "pod", "{}")

    assert store.get("default/pod/web") == "{}"
    assert committed_rows(path)["default/pod/web"] == ("", "{}")  # the SQL default filled the type
    store.close()


def test_save_never_overwrites_and_says_whether_it_added_a_row(store: MetaStore) -> None:
    added = store.save("default/pod/web", "pod", "v1")
    again = store.save("default/pod/web", "pod", "v2")

    assert (added, again) == (True, False)
    assert store.get("default/pod/web") == "v1"


def test_upsert_replaces_and_delete_removes(store: MetaStore) -> None:
    store.upsert("default/pod/web", "pod", "v1")
    store.upsert("default/pod/web", "pod", "v2")
    replaced = store.get("default/pod/web")

    deleted = store.delete("default/pod/web")

    assert replaced == "v2"
    assert (deleted, store.delete("default/pod/web"), store.get("default/pod/web")) == (True, False, None)


def test_reads_by_type_are_ordered_by_key_and_span_namespaces(store: MetaStore) -> None:
    for key in ["b/pod/x", "a/pod/y", "a/podstatus/y"]:
        store.upsert(key, key.split("/")[1], key)

    assert store.values_of_type("pod") == ["a/pod/y", "b/pod/x"]
    assert store.items_of_type("podstatus") == [("a/podstatus/y", "a/podstatus/y")]
    assert store.keys_of_type("pod") == {"a/pod/y", "b/pod/x"}
    assert store.values_of_type("secret") == []


def test_a_single_write_is_committed_at_once(store: MetaStore) -> None:
    store.upsert("default/pod/web", "pod", "v1")

    assert committed_rows(store.path) == {"default/pod/web": ("pod", "v1")}


def test_a_batch_is_invisible_to_others_until_committed_but_visible_to_itself(store: MetaStore) -> None:
    store.begin()
    store.upsert("default/pod/web", "pod", "v1")
    store.save("default/pod/db", "pod", "v1")
    seen_inside, seen_outside = store.get("default/pod/web"), committed_rows(store.path)

    store.commit()

    assert (seen_inside, seen_outside) == ("v1", {})
    assert set(committed_rows(store.path)) == {"default/pod/web", "default/pod/db"}


def test_a_rolled_back_batch_leaves_nothing(store: MetaStore) -> None:
    store.upsert("default/pod/kept", "pod", "v1")
    store.begin()
    store.delete("default/pod/kept")
    store.upsert("default/pod/web", "pod", "v1")

    store.rollback()

    assert committed_rows(store.path) == {"default/pod/kept": ("pod", "v1")}


def test_closing_with_an_open_batch_rolls_it_back(tmp_path: Path) -> None:
    store = MetaStore(tmp_path / "edge.db")
    store.open()
    store.begin()
    store.upsert("default/pod/web", "pod", "v1")

    store.close()

    assert committed_rows(tmp_path / "edge.db") == {}


def test_delete_many_removes_more_keys_than_one_statement_can_bind(store: MetaStore) -> None:
    keys = [f"default/podstatus/p{i}" for i in range(1200)]
    store.begin()
    for key in keys:
        store.upsert(key, "podstatus", "{}")
    store.commit()

    deleted = store.delete_many([*keys[:1100], "default/podstatus/none"])

    assert deleted == 1100
    assert len(store.keys_of_type("podstatus")) == 100


def test_using_a_store_that_is_not_open_is_a_clear_error(tmp_path: Path) -> None:
    store = MetaStore(tmp_path / "edge.db")

    with pytest.raises(MetaStoreError, match="is not open"):
        store.begin()


def test_reading_a_store_that_is_not_open_is_a_clear_error(tmp_path: Path) -> None:
    store = MetaStore(tmp_path / "edge.db")

    with pytest.raises(MetaStoreError, match="is not open"):
        store.get("default/pod/web")


def test_rows_are_counted_per_type(store: MetaStore) -> None:
    for key, kind in (("default/pod/a", "pod"), ("default/pod/b", "pod"), ("default/configmap/c", "configmap")):
        store.save(key, kind, "{}")

    assert store.count_by_type() == {"pod": 2, "configmap": 1}
