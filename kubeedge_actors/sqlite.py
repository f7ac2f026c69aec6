"""Opening the SQLite file that meta, twin and the cloud hub keep their state in.

One place for the settings every writer needs: WAL (readers never block the writer and a
``kill -9`` loses no committed transaction), ``synchronous=NORMAL`` (safe with WAL), a busy
timeout (two actors share one file), and a file readable by its owner only (it holds secrets).
And one way to give a store its own copy of its peewee models (:func:`bind_model`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

import peewee

M = TypeVar("M", bound=peewee.Model)

PRAGMAS = (
    ("journal_mode", "wal"),
    ("synchronous", "normal"),
    ("busy_timeout", 10_000),
    ("foreign_keys", 1),
)


def open_database(path: Path | str) -> peewee.SqliteDatabase:
    """Create the file (mode 0600) if needed, then open it on the calling thread.

    peewee keeps one connection per thread: call this on the thread that will use the
    database (an actor's ``on_start``), never in ``__init__``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Create it private before SQLite does, so secrets are never world-readable.
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    database = peewee.SqliteDatabase(str(path), pragmas=PRAGMAS, check_same_thread=True)
    database.connect(reuse_if_open=True)
    return database


def bind_model(database: peewee.Database, model: type[M]) -> type[M]:
    """A subclass of ``model`` that uses ``database``, and nothing else does.

    ``database.bind(models)`` would rebind ``model`` itself, for every store in the process:
    two stores open at once would write through whichever database was bound last.
    """
    meta = type("Meta", (), {"database": database, "table_name": model._meta.table_name})
    return type(model.__name__, (model,), {"Meta": meta, "__module__": model.__module__})


__all__ = ["PRAGMAS", "bind_model", "open_database"]
