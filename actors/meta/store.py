"""The ``meta`` table (docs/protocol.md#6.1) behind one narrow adapter, over peewee.

Every write runs in a transaction: on its own, or inside a *batch* the actor opens with
:meth:`MetaStore.begin` and closes with :meth:`MetaStore.commit` (or :meth:`rollback`), so a
burst of writes costs one commit. Reads inside a batch see its uncommitted writes.

The connection is opened by :meth:`MetaStore.open` on the calling thread (peewee keeps one
connection per thread): call it from the actor's ``on_start``, never from ``__init__``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

import peewee

from kubeedge_actors.errors import KubeEdgeActorsError
from kubeedge_actors.sqlite import BUSY_TIMEOUT_MS, WAL, WARN_AFTER_S, BusyWait, bind_model, open_database

TABLE = "meta"
T = TypeVar("T")


class MetaStoreError(KubeEdgeActorsError):
    """The store was used out of order: before it was opened, or a batch begun twice or never."""


class MetaRow(peewee.Model):
    """One row of ``meta(key varchar(256) PK, type varchar(32) NOT NULL DEFAULT '', value text)``."""

    key = peewee.CharField(max_length=256, primary_key=True)
    # The SQL default matters to other writers of the file (the original's ORM relies on it).
    type = peewee.CharField(max_length=32, default="", constraints=[peewee.SQL("DEFAULT ''")])
    value = peewee.TextField(null=True)

    class Meta:
        table_name = TABLE


@dataclass(frozen=True, slots=True)
class _Statements:
    """The hot statements, compiled by peewee once: building a query costs ~65 µs a call,
    executing its text ~6 µs (most of a batched write's cost otherwise)."""

    save: str
    upsert: str
    delete: str
    get: str

    @classmethod
    def compile(cls, model: type[MetaRow]) -> _Statements:
        def text(query: Any) -> str:
            sql, _params = query.sql()
            return str(sql)

        return cls(
            save=text(model.insert(key="", type="", value="").on_conflict_ignore()),
            upsert=text(model.insert(key="", type="", value="").on_conflict_replace()),
            delete=text(model.delete().where(model.key == "")),
            get=text(model.select(model.value).where(model.key == "")),
        )


class MetaStorage(Protocol):
    """What the meta actor needs from its storage; :class:`MetaStore` is the real one."""

    def open(self) -> None: ...
    def close(self) -> None: ...
    @property
    def in_batch(self) -> bool: ...
    def begin(self) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def save(self, key: str, resource_type: str, value: str) -> bool: ...
    def upsert(self, key: str, resource_type: str, value: str) -> None: ...
    def delete(self, key: str) -> bool: ...
    def delete_many(self, keys: Iterable[str]) -> int: ...
    def get(self, key: str) -> str | None: ...
    def values_of_type(self, resource_type: str) -> list[str]: ...
    def items_of_type(self, resource_type: str) -> list[tuple[str, str]]: ...
    def keys_of_type(self, resource_type: str) -> set[str]: ...
    def count_by_type(self) -> dict[str, int]: ...


class MetaStore:
    """The ``meta`` table in the SQLite file shared with twin (the contract in docs/architecture.md#4.7).

    A lock another program holds on the file (possible with ``database.journal-mode:
    delete``) is waited for, however long: see :class:`~kubeedge_actors.sqlite.BusyWait`.

    Args:
        path: the database file (``database.source``); created mode 0600 if missing.
        journal_mode: ``wal`` or ``delete`` (``database.journal-mode``).
        busy_timeout_ms: how long SQLite waits for a lock before the store tries again.
        warn_after_s: how long a wait for a lock is normal (longer ones are logged as WARNING).
    """

    def __init__(
        self,
        path: Path | str,
        journal_mode: str = WAL,
        *,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
        warn_after_s: float = WARN_AFTER_S,
    ) -> None:
        self.path = Path(path)
        self.journal_mode = journal_mode
        self.busy_timeout_ms = busy_timeout_ms
        self.busy = BusyWait("meta", self.path, warn_after_s=warn_after_s)
        self._db: peewee.SqliteDatabase | None = None
        self._model: type[MetaRow] | None = None
        self._sql: _Statements | None = None
        self._in_batch = False

    # --- lifecycle ------------------------------------------------------------------------

    def open(self) -> None:
        """Open the file on the calling thread and create the table if it is missing."""
        self._db = open_database(self.path, self.journal_mode, busy_timeout_ms=self.busy_timeout_ms)
        self._model = bind_model(self._db, MetaRow)
        self.busy.run(lambda: self.database.create_tables([self.model], safe=True), "creating its table")
        self._sql = _Statements.compile(self._model)

    def close(self) -> None:
        """Roll back an open batch (nothing in it was acknowledged), then close."""
        if self._db is None:
            return
        if self._in_batch:
            self.rollback()
        self._db.close()
        self._db = None
        self._model = None
        self._sql = None

    @property
    def database(self) -> peewee.SqliteDatabase:
        if self._db is None:
            raise MetaStoreError(f"meta store {self.path} is not open")
        return self._db

    @property
    def model(self) -> type[MetaRow]:
        if self._model is None:
            raise MetaStoreError(f"meta store {self.path} is not open")
        return self._model

    @property
    def sql(self) -> _Statements:
        if self._sql is None:
            raise MetaStoreError(f"meta store {self.path} is not open")
        return self._sql

    # --- batches --------------------------------------------------------------------------

    @property
    def in_batch(self) -> bool:
        return self._in_batch

    def begin(self) -> None:
        """Open a batch: the writes until :meth:`commit` form one transaction."""
        if self._in_batch:
            raise MetaStoreError("meta store: a batch is already open")
        database = self.database
        # IMMEDIATE takes the write lock now: a read-then-write transaction that had to upgrade
        # its lock could fail at once (SQLITE_BUSY) when twin writes the same file. Inside the
        # batch no statement needs another lock, so none is refused.
        self.busy.run(lambda: database.begin("IMMEDIATE"), "a batch of writes")
        self._in_batch = True

    def commit(self) -> None:
        if not self._in_batch:
            raise MetaStoreError("meta store: no batch to commit")
        # A COMMIT refused as busy (a reader of a delete-mode file) leaves the transaction
        # open, so it is tried again, never rolled back: nothing in the batch is lost.
        self.busy.run(self.database.commit, "a commit")
        self._in_batch = False

    def rollback(self) -> None:
        if not self._in_batch:
            raise MetaStoreError("meta store: no batch to roll back")
        self._in_batch = False
        self.database.rollback()

    def _execute(self, sql: str, params: tuple[str, ...]) -> sqlite3.Cursor:
        cursor: sqlite3.Cursor = self.database.execute_sql(sql, params)  # type: ignore[no-untyped-call]  # untyped in peewee's stubs
        return cursor

    def _write(self, work: Callable[[], T], what: str) -> T:
        """``work`` in the open batch, or else in a transaction of its own, tried until it is not refused."""
        if self._in_batch:
            return work()
        database = self.database

        def transaction() -> T:
            with database.atomic(lock_type="IMMEDIATE"):  # rolled back whole when refused
                return work()

        return self.busy.run(transaction, what)

    def _read(self, work: Callable[[], T], what: str) -> T:
        return self.busy.run(work, what)

    # --- writes ---------------------------------------------------------------------------

    def save(self, key: str, resource_type: str, value: str) -> bool:
        """Insert unless the key exists (docs/protocol.md#6.1 Save); returns whether a row was added."""
        return self._write(lambda: bool(self._execute(self.sql.save, (key, resource_type, value)).rowcount > 0), "a write")

    def upsert(self, key: str, resource_type: str, value: str) -> None:
        """``INSERT OR REPLACE`` (docs/protocol.md#6.1 Insert-or-update)."""
        self._write(lambda: self._execute(self.sql.upsert, (key, resource_type, value)), "a write")

    def delete(self, key: str) -> bool:
        """Delete by key; returns whether a row was there."""
        return self._write(lambda: bool(self._execute(self.sql.delete, (key,)).rowcount > 0), "a delete")

    def delete_many(self, keys: Iterable[str]) -> int:
        model = self.model
        keys = list(keys)
        if not keys:
            return 0

        def delete_all() -> int:
            deleted = 0
            for start in range(0, len(keys), 500):  # below SQLite's bound-parameter limit
                deleted += model.delete().where(model.key.in_(keys[start : start + 500])).execute()
            return deleted

        return self._write(delete_all, "a delete")

    # --- reads ----------------------------------------------------------------------------

    def get(self, key: str) -> str | None:
        row = self._read(lambda: self._execute(self.sql.get, (key,)).fetchone(), "a query")
        return None if row is None else cast(str | None, row[0])

    def values_of_type(self, resource_type: str) -> list[str]:
        """Every value of a type, ordered by key (docs/protocol.md#6.1 Query by type)."""
        return [value for _key, value in self.items_of_type(resource_type)]

    def items_of_type(self, resource_type: str) -> list[tuple[str, str]]:
        """``(key, value)`` of every row of a type with a value, ordered by key."""
        model = self.model
        query = model.select(model.key, model.value).where((model.type == resource_type) & model.value.is_null(False))
        return cast(list[tuple[str, str]], self._read(lambda: list(query.order_by(model.key).tuples()), "a query"))

    def keys_of_type(self, resource_type: str) -> set[str]:
        model = self.model
        rows = self._read(lambda: list(model.select(model.key).where(model.type == resource_type).tuples()), "a query")
        return {key for (key,) in cast(Iterable[tuple[str]], rows)}

    def count_by_type(self) -> dict[str, int]:
        """How many rows of each type (for the metrics endpoint)."""
        model = self.model
        query = model.select(model.type, peewee.fn.COUNT(model.key)).group_by(model.type)
        rows = self._read(lambda: list(query.tuples()), "counting rows")
        return {resource_type: count for resource_type, count in cast(Iterable[tuple[str, int]], rows)}


__all__ = ["TABLE", "MetaRow", "MetaStorage", "MetaStore", "MetaStoreError"]
