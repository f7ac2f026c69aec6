"""The ``meta`` table (docs/protocol.md#6.1) behind one narrow adapter, over peewee.

Every write runs in a transaction: on its own, or inside a *batch* the actor opens with
:meth:`MetaStore.begin` and closes with :meth:`MetaStore.commit` (or :meth:`rollback`), so a
burst of writes costs one commit. Reads inside a batch see its uncommitted writes.

The connection is opened by :meth:`MetaStore.open` on the calling thread (peewee keeps one
connection per thread): call it from the actor's ``on_start``, never from ``__init__``.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

import peewee

from kubeedge_actors.sqlite import bind_model, open_database

TABLE = "meta"


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

    Args:
        path: the database file (``database.source``); created mode 0600 if missing.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._db: peewee.SqliteDatabase | None = None
        self._model: type[MetaRow] | None = None
        self._sql: _Statements | None = None
        self._batch: Any = None  # peewee's _transaction while a batch is open

    # --- lifecycle ------------------------------------------------------------------------

    def open(self) -> None:
        """Open the file on the calling thread and create the table if it is missing."""
        self._db = open_database(self.path)
        self._model = bind_model(self._db, MetaRow)
        self._db.create_tables([self._model], safe=True)
        self._sql = _Statements.compile(self._model)

    def close(self) -> None:
        """Roll back an open batch (nothing in it was acknowledged), then close."""
        if self._db is None:
            return
        if self._batch is not None:
            self.rollback()
        self._db.close()
        self._db = None
        self._model = None
        self._sql = None

    @property
    def database(self) -> peewee.SqliteDatabase:
        if self._db is None:
            raise RuntimeError(f"meta store {self.path} is not open")
        return self._db

    @property
    def model(self) -> type[MetaRow]:
        if self._model is None:
            raise RuntimeError(f"meta store {self.path} is not open")
        return self._model

    @property
    def sql(self) -> _Statements:
        if self._sql is None:
            raise RuntimeError(f"meta store {self.path} is not open")
        return self._sql

    # --- batches --------------------------------------------------------------------------

    @property
    def in_batch(self) -> bool:
        return self._batch is not None

    def begin(self) -> None:
        """Open a batch: the writes until :meth:`commit` form one transaction."""
        if self._batch is not None:
            raise RuntimeError("meta store: a batch is already open")
        # IMMEDIATE takes the write lock now: a read-then-write transaction that had to upgrade
        # its lock could fail at once (SQLITE_BUSY) when twin writes the same file.
        batch = self.database.transaction(lock_type="IMMEDIATE")
        batch.__enter__()
        self._batch = batch

    def commit(self) -> None:
        batch, self._batch = self._batch, None
        if batch is None:
            raise RuntimeError("meta store: no batch to commit")
        batch.__exit__(None, None, None)

    def rollback(self) -> None:
        batch, self._batch = self._batch, None
        if batch is None:
            raise RuntimeError("meta store: no batch to roll back")
        batch.__exit__(RuntimeError, None, None)  # peewee rolls back when told of an error

    def _execute(self, sql: str, params: tuple[str, ...]) -> sqlite3.Cursor:
        cursor: sqlite3.Cursor = self.database.execute_sql(sql, params)  # type: ignore[no-untyped-call]  # untyped in peewee's stubs
        return cursor

    def _writing(self) -> AbstractContextManager[Any]:
        if self._batch is not None:
            return contextlib.nullcontext()
        return self.database.atomic(lock_type="IMMEDIATE")

    # --- writes ---------------------------------------------------------------------------

    def save(self, key: str, resource_type: str, value: str) -> bool:
        """Insert unless the key exists (docs/protocol.md#6.1 Save); returns whether a row was added."""
        with self._writing():
            return bool(self._execute(self.sql.save, (key, resource_type, value)).rowcount > 0)

    def upsert(self, key: str, resource_type: str, value: str) -> None:
        """``INSERT OR REPLACE`` (docs/protocol.md#6.1 Insert-or-update)."""
        with self._writing():
            self._execute(self.sql.upsert, (key, resource_type, value))

    def delete(self, key: str) -> bool:
        """Delete by key; returns whether a row was there."""
        with self._writing():
            return bool(self._execute(self.sql.delete, (key,)).rowcount > 0)

    def delete_many(self, keys: Iterable[str]) -> int:
        model = self.model
        keys = list(keys)
        if not keys:
            return 0
        deleted = 0
        with self._writing():
            for start in range(0, len(keys), 500):  # below SQLite's bound-parameter limit
                deleted += model.delete().where(model.key.in_(keys[start : start + 500])).execute()
        return deleted

    # --- reads ----------------------------------------------------------------------------

    def get(self, key: str) -> str | None:
        row = self._execute(self.sql.get, (key,)).fetchone()
        return None if row is None else cast(str | None, row[0])

    def values_of_type(self, resource_type: str) -> list[str]:
        """Every value of a type, ordered by key (docs/protocol.md#6.1 Query by type)."""
        return [value for _key, value in self.items_of_type(resource_type)]

    def items_of_type(self, resource_type: str) -> list[tuple[str, str]]:
        """``(key, value)`` of every row of a type with a value, ordered by key."""
        model = self.model
        query = model.select(model.key, model.value).where((model.type == resource_type) & model.value.is_null(False))
        return cast(list[tuple[str, str]], list(query.order_by(model.key).tuples()))

    def keys_of_type(self, resource_type: str) -> set[str]:
        model = self.model
        rows = cast(Iterable[tuple[str]], model.select(model.key).where(model.type == resource_type).tuples())
        return {key for (key,) in rows}

    def count_by_type(self) -> dict[str, int]:
        """How many rows of each type (for the metrics endpoint)."""
        model = self.model
        rows = model.select(model.type, peewee.fn.COUNT(model.key)).group_by(model.type).tuples()
        return {resource_type: count for resource_type, count in cast(Iterable[tuple[str, int]], rows)}


__all__ = ["TABLE", "MetaRow", "MetaStorage", "MetaStore"]
