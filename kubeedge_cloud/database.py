"""What the controller's and the device controller's stores share: one SQLite file
(``cloudhub.database``), each store with its own tables, each used on its own actor's thread."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

import peewee

from kubeedge_actors.sqlite import open_database


class TablesStore:
    """Opens the file and binds :attr:`models` to it; subclasses add the queries."""

    #: The store's tables, created when missing.
    models: ClassVar[tuple[type[peewee.Model], ...]] = ()

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: peewee.SqliteDatabase | None = None

    def open(self) -> None:
        """Open (creating the tables) on the calling thread."""
        self._db = open_database(self.path)
        self._db.bind(self.models)
        # One transaction: a crash while filling leaves no half-filled table, and of two
        # processes opening an earlier release's file, one fills.
        with self._db.atomic(lock_type="IMMEDIATE"):
            existing = set(self._db.get_tables())
            missing = [model for model in self.models if model._meta.table_name not in existing]
            self._db.create_tables(self.models, safe=True)
            if len(missing) < len(self.models):
                self.fill_new_tables(missing)

    def fill_new_tables(self, created: list[type[peewee.Model]]) -> None:
        """A database written by an earlier release: fill the tables just ``created`` from the
        older ones (in the transaction that created them). Nothing to fill by default."""

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        assert self._db is not None, f"{type(self).__name__}.open() first"
        # IMMEDIATE: the controllers share the file, and a transaction that read first and then
        # writes cannot wait for the other's commit: SQLite fails it at once ("database is locked").
        with self._db.atomic(lock_type="IMMEDIATE"):
            yield


class SequenceModel(peewee.Model):
    """A table of counters: ``name`` (primary key) and its ``value``. A store subclasses it with
    its own ``table_name``."""

    name = peewee.CharField(primary_key=True)
    value = peewee.IntegerField()


def next_in_sequence(sequence: type[SequenceModel], name: str = "resourceVersion") -> int:
    """Count ``name`` up by one in ``sequence``."""
    row = sequence.get_or_none(name=name)
    value = (row.value if row is not None else 0) + 1
    sequence.insert(name=name, value=value).on_conflict_replace().execute()
    return value


__all__ = ["SequenceModel", "TablesStore", "next_in_sequence"]
