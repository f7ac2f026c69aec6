"""The API server's objects in SQLite, with one monotonic resourceVersion over all of them,
and the recent changes that watches read (docs/protocol.md#12.4).

Every write is one transaction that takes the next resourceVersion, so a list is a consistent
snapshot at its resourceVersion. The changes of the last ``window`` writes stay in memory: a
watch from an older resourceVersion (or one from before a restart) is answered 410 Gone, and
the client lists again, as it must with any Kubernetes API server.
"""

from __future__ import annotations

import copy
import json
import sqlite3
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubeedge_cloud.kube.errors import KubeApiError

Obj = dict[str, Any]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kube_objects (
    resource TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    rv INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (resource, namespace, name)
);
CREATE TABLE IF NOT EXISTS kube_sequence (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class Change:
    """One write, as a watch sends it: ``type`` is ADDED, MODIFIED or DELETED."""

    rv: int
    resource: str
    namespace: str
    type: str
    obj: Obj
    #: The object before the write (None for ADDED): a filtered watch turns a MODIFIED into ADDED or DELETED.
    old: Obj | None


class StoreClosed(KubeApiError):
    """The store was closed under a request (the server is stopping)."""

    def __init__(self) -> None:
        super().__init__(503, "ServiceUnavailable", "the API server is stopping")


class ObjectStore:
    """Objects by (resource, namespace, name); safe to use from every request thread."""

    def __init__(self, path: Path, *, window: int = 10_000) -> None:
        self.path = path
        self._lock = threading.Condition(threading.RLock())
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=wal")
        self._db.execute("PRAGMA synchronous=normal")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(_SCHEMA)
        path.chmod(0o600)  # secrets are stored here
        self._changes: deque[Change] = deque(maxlen=window)
        self._rv = self._read_rv()
        #: The oldest resourceVersion a watch may start from: changes after it are all in memory.
        self._oldest = self._rv
        self._closed = False

    def _read_rv(self) -> int:
        row = self._db.execute("SELECT value FROM kube_sequence WHERE name = 'resourceVersion'").fetchone()
        return int(row[0]) if row else 0

    @property
    def resource_version(self) -> int:
        with self._lock:
            return self._rv

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify_all()
            self._db.close()

    def get(self, resource: str, namespace: str, name: str) -> Obj | None:
        with self._lock:
            self._check_open()
            row = self._db.execute(
                "SELECT body FROM kube_objects WHERE resource = ? AND namespace = ? AND name = ?", (resource, namespace, name)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def objects(self, resource: str, namespace: str | None) -> tuple[list[Obj], int]:
        """Every object of ``resource`` (in ``namespace``, or all when None), and the resourceVersion they are at."""
        with self._lock:
            self._check_open()
            if namespace is None:
                rows = self._db.execute("SELECT body FROM kube_objects WHERE resource = ? ORDER BY namespace, name", (resource,)).fetchall()
            else:
                rows = self._db.execute(
                    "SELECT body FROM kube_objects WHERE resource = ? AND namespace = ? ORDER BY name", (resource, namespace)
                ).fetchall()
            return [json.loads(row[0]) for row in rows], self._rv

    def write(
        self, resource: str, namespace: str, name: str, change: str, build: Callable[[Obj | None], Obj | None], *, dry_run: bool = False
    ) -> Obj:
        """Read the stored object, let ``build`` make the new one (or None: delete), store it.

        ``build`` runs under the store's lock with a copy of the current object (None when absent)
        and may raise a KubeApiError to refuse; the object it returns gets the next
        resourceVersion, unless it equals the current one (then nothing is written). ``dry_run``:
        everything but the write (Kubernetes' ``dryRun=All``).
        ``change`` is the watch event type (ADDED, MODIFIED, DELETED).
        """
        with self._lock:
            self._check_open()
            current = self.get(resource, namespace, name)
            new = build(copy.deepcopy(current))
            if new is not None and current is not None and _unversioned(new) == _unversioned(current):
                return current  # as Kubernetes: a write that changes nothing keeps the resourceVersion, and no watch hears of it
            if dry_run:
                return new if new is not None else current  # type: ignore[return-value]  # current is set when new is None
            rv = self._rv + 1
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if new is None:
                    assert current is not None
                    self._db.execute(
                        "DELETE FROM kube_objects WHERE resource = ? AND namespace = ? AND name = ?", (resource, namespace, name)
                    )
                    result = current
                    result["metadata"]["resourceVersion"] = str(rv)
                    change = "DELETED"
                else:
                    new["metadata"]["resourceVersion"] = str(rv)
                    self._db.execute(
                        "INSERT OR REPLACE INTO kube_objects (resource, namespace, name, rv, body) VALUES (?, ?, ?, ?, ?)",
                        (resource, namespace, name, rv, json.dumps(new, separators=(",", ":"))),
                    )
                    result = new
                self._db.execute("INSERT OR REPLACE INTO kube_sequence (name, value) VALUES ('resourceVersion', ?)", (rv,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._rv = rv
            if len(self._changes) == self._changes.maxlen:
                self._oldest = self._changes[0].rv
            self._changes.append(Change(rv, resource, namespace, change, result, current))
            self._lock.notify_all()
            return result

    def changes(self, resource: str | None, namespace: str | None, since: int, wait_s: float) -> tuple[list[Change], int]:
        """The changes to ``resource`` (None: every one) after resourceVersion ``since``, waiting up to ``wait_s`` for
        the first write; returns them and the resourceVersion looked up to (the next ``since``).

        Raises:
            KubeApiError: 410 Gone when ``since`` is older than the changes kept (or newer than any).
            StoreClosed: the store closed (the server stops).
        """
        with self._lock:
            self._check_open()
            if since < self._oldest or since > self._rv:
                raise KubeApiError(410, "Expired", f"too old resource version: {since} ({self._oldest})")
            self._lock.wait_for(lambda: self._closed or self._rv > since, timeout=wait_s)
            self._check_open()
            found = [
                c
                for c in self._changes
                if c.rv > since and resource in (None, c.resource) and (namespace is None or c.namespace == namespace)
            ]
            return found, self._rv

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed()


def _unversioned(obj: Obj) -> Obj:
    return {**obj, "metadata": {k: v for k, v in obj.get("metadata", {}).items() if k != "resourceVersion"}}


__all__ = ["Change", "Obj", "ObjectStore", "StoreClosed"]
