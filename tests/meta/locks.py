"""Another program's hold on a SQLite file, for the store tests of meta and twin."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubeedge_actors.testing import wait_until


class HeldLock:
    """A connection of "another program" in a transaction on ``path`` until released.

    ``BEGIN`` then a read holds SQLite's SHARED lock (a reader: in journal mode ``delete`` no
    commit can happen meanwhile); ``BEGIN EXCLUSIVE`` holds the file against every other
    connection, readers too.
    """

    def __init__(self, path: Path, begin: str = "BEGIN", read: str = "SELECT COUNT(*) FROM sqlite_master") -> None:
        self.connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5)
        self.connection.execute(begin)
        self.connection.execute(read).fetchall()
        self._thread: threading.Thread | None = None
        self.released = threading.Event()

    def release(self) -> None:
        self.connection.execute("COMMIT")
        self.connection.close()
        self.released.set()

    def release_when(self, condition: Callable[[], Any], timeout_s: float = 10.0) -> HeldLock:
        """Release from another thread once ``condition()`` holds (e.g. the store was refused)."""

        def wait_then_release() -> None:
            try:
                wait_until(condition, timeout_s, 0.005, "the condition to release the lock")
            finally:
                self.release()

        self._thread = threading.Thread(target=wait_then_release, name="held-lock", daemon=True)
        self._thread.start()
        return self

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join(30)


__all__ = ["HeldLock"]
