"""Opening the SQLite file that meta, twin and the cloud hub keep their state in.

One place for the settings every writer needs: a journal mode, the ``synchronous`` level that
is safe with it, a busy timeout (two actors share one file), foreign keys, and a file readable
by its owner only (it holds secrets). Two journal modes (the edge's ``database.journal-mode``):

``wal`` (the default)
    Readers never block the writer and a commit costs ~0.05 ms. ``synchronous=NORMAL`` is
    safe here: a ``kill -9`` loses no committed transaction (SQLite's writes are in the OS's
    page cache when COMMIT returns, whatever the level), and a power cut damages nothing (it
    may undo the last commits). Another program may read the file at any time, as long as it
    leaves the journal mode alone: leaving WAL needs the file to itself, so a program that
    forces ``journal_mode=DELETE`` on connect (the original's driver, go-sqlite3, does) is
    refused with SQLITE_BUSY ("database is locked") while the edge has the file open, and
    changes nothing.
``delete``
    A rollback journal, as the original has it: such a program opens the file and reads while
    the edge runs. A commit costs ~0.5–1 ms (the journal is created, synced and deleted each
    time), and a reader in a read transaction holds the edge's commits back until it ends
    (:class:`BusyWait`). ``synchronous=FULL``: with NORMAL, a power cut at the wrong moment
    can damage a rollback-journal file, and FULL measured no dearer than NORMAL here (both
    0.5–1.1 ms a commit). A ``kill -9`` loses no committed transaction in either mode.

The mode is set on every open, so a file switches when the key changes (SQLite copies a WAL
back into the file when it leaves WAL, also one a ``kill -9`` left behind). Switching needs
the file to itself: another program holding it open is waited for, then a clear error.

:class:`BusyWait` runs work again while another program holds a lock longer than the busy
timeout; :func:`bind_model` gives a store its own copy of its peewee models.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import peewee

from kubeedge_actors.errors import InvalidArgumentError, KubeEdgeActorsError

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=peewee.Model)
T = TypeVar("T")

WAL = "wal"
DELETE = "delete"
JOURNAL_MODES = (WAL, DELETE)
#: The ``synchronous`` level that keeps each journal mode's file whole through a power cut.
SYNCHRONOUS = {WAL: "normal", DELETE: "full"}
BUSY_TIMEOUT_MS = 10_000
#: A wait for another program's lock longer than this is worth a WARNING; shorter ones are normal.
WARN_AFTER_S = 30.0
_PAUSE_S = 0.05  # between attempts SQLite refused at once, without waiting itself


class DatabaseLockedError(KubeEdgeActorsError):
    """The database file could not be set up because another program holds it."""


def open_database(path: Path | str, journal_mode: str = WAL, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> peewee.SqliteDatabase:
    """Create the file (mode 0600) if needed, then open it on the calling thread in ``journal_mode``.

    peewee keeps one connection per thread: call this on the thread that will use the
    database (an actor's ``on_start``), never in ``__init__``.

    Raises:
        InvalidArgumentError: ``journal_mode`` is not one of :data:`JOURNAL_MODES`.
        DatabaseLockedError: the file must change journal mode and another program keeps it
            open for longer than the busy timeout.
    """
    if journal_mode not in JOURNAL_MODES:
        raise InvalidArgumentError(f"journal mode {journal_mode!r}: must be one of {', '.join(JOURNAL_MODES)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = not path.exists() or path.stat().st_size == 0
    if not path.exists():
        # Create it private before SQLite does, so secrets are never world-readable (SQLite
        # gives its journal and WAL files the database file's mode).
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    pragmas = (("busy_timeout", busy_timeout_ms), ("foreign_keys", 1))
    database = peewee.SqliteDatabase(str(path), pragmas=pragmas, check_same_thread=True)
    database.connect(reuse_if_open=True)
    try:
        _switch_journal_mode(database, path, journal_mode, busy_timeout_ms / 1000, fresh=fresh)
        _pragma(database, f"synchronous = {SYNCHRONOUS[journal_mode]}")
    except BaseException:
        database.close()
        raise
    return database


def _switch_journal_mode(database: peewee.SqliteDatabase, path: Path, wanted: str, timeout_s: float, *, fresh: bool) -> None:
    current = str(_pragma(database, "journal_mode"))
    if current == wanted:
        return
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            now_in = str(_pragma(database, f"journal_mode = {wanted}"))
        except (peewee.OperationalError, sqlite3.OperationalError) as error:
            # Leaving WAL is refused at once while another connection is open: SQLite does not wait.
            if not is_busy(error) or time.monotonic() >= deadline:
                raise DatabaseLockedError(
                    f"cannot switch {path} from journal mode {current} to {wanted}: another program has it open ({error}); "
                    f"close it, or keep database.journal-mode: {current}"
                ) from error
            time.sleep(_PAUSE_S)
            continue
        if now_in != wanted:
            raise DatabaseLockedError(f"cannot switch {path} from journal mode {current} to {wanted}: SQLite kept {now_in}")
        # A new file has no mode of its own yet (SQLite reports its default, delete).
        logger.log(logging.DEBUG if fresh else logging.INFO, "sqlite: %s switched from journal mode %s to %s", path, current, wanted)
        return


def _pragma(database: peewee.SqliteDatabase, statement: str) -> object:
    """``PRAGMA <statement>``; its first value, if it returns one."""
    row = database.execute_sql(f"PRAGMA {statement}").fetchone()  # type: ignore[no-untyped-call]  # untyped in peewee's stubs
    return None if row is None else row[0]


def is_busy(error: BaseException) -> bool:
    """Whether ``error`` is SQLite's SQLITE_BUSY ("database is locked"), raw or wrapped by peewee."""
    # peewee raises its own class with the sqlite3 error as first argument (and as context).
    for candidate in (error, *error.args[:1], error.__cause__, error.__context__):
        if isinstance(candidate, sqlite3.Error):
            code = getattr(candidate, "sqlite_errorcode", None)
            return code is not None and code & 0xFF == sqlite3.SQLITE_BUSY
    return False


class BusyWait:
    """Runs database work again, for as long as SQLite refuses it as busy.

    SQLite itself waits up to the busy timeout for a lock another connection holds; this is
    for longer holds (a program in a long read transaction on a ``delete``-mode file holds
    every commit back) and for the refusals SQLite does not wait on. The work must leave
    nothing half done when refused: one statement outside a transaction, a ``COMMIT`` (a
    refused COMMIT leaves the transaction open, to be committed later), or a whole transaction
    that is rolled back. A refusal never reaches the caller: a writer waits, loses nothing, and
    does not crash.

    Logs: DEBUG for each refusal; one WARNING when a wait passes ``warn_after_s`` (a normal
    reader holds a lock for milliseconds) and one INFO when it ends.

    Args:
        owner: who waits, for the log (``meta``, ``twin``).
        path: the database file, for the log.
        warn_after_s: how long a wait is normal.
    """

    def __init__(self, owner: str, path: Path, *, warn_after_s: float = WARN_AFTER_S) -> None:
        self.owner = owner
        self.path = path
        self.warn_after_s = warn_after_s
        #: Refusals so far (each one followed by another attempt).
        self.refusals = 0

    def run(self, work: Callable[[], T], what: str) -> T:
        """``work()``, attempted until SQLite does not refuse it as busy; ``what`` names it in the log."""
        started = time.monotonic()
        warned = False
        while True:
            try:
                result = work()
            except (peewee.OperationalError, sqlite3.OperationalError) as error:
                if not is_busy(error):
                    raise
                self.refusals += 1
                waited_s = time.monotonic() - started
                if not warned and waited_s >= self.warn_after_s:
                    warned = True
                    logger.warning(
                        "%s: %s has been locked by another program for %.0f s; %s waits for it (nothing is lost)",
                        self.owner,
                        self.path,
                        waited_s,
                        what,
                    )
                else:
                    logger.debug("%s: %s is locked (%s); %s waits [%.1f s]", self.owner, self.path, error, what, waited_s)
                time.sleep(_PAUSE_S)
                continue
            if warned:
                logger.info("%s: %s is free again after %.0f s; %s done", self.owner, self.path, time.monotonic() - started, what)
            return result


def bind_model(database: peewee.Database, model: type[M]) -> type[M]:
    """A subclass of ``model`` that uses ``database``, and nothing else does.

    ``database.bind(models)`` would rebind ``model`` itself, for every store in the process:
    two stores open at once would write through whichever database was bound last.
    """
    meta = type("Meta", (), {"database": database, "table_name": model._meta.table_name})
    return type(model.__name__, (model,), {"Meta": meta, "__module__": model.__module__})


__all__ = [
    "BUSY_TIMEOUT_MS",
    "DELETE",
    "JOURNAL_MODES",
    "SYNCHRONOUS",
    "WAL",
    "WARN_AFTER_S",
    "BusyWait",
    "DatabaseLockedError",
    "bind_model",
    "is_busy",
    "open_database",
]
