"""A program that reads ``edge.db`` as tools written for the original do.

``python -m tests.integration.original_reader DB`` opens DB as the original's SQLite driver
(go-sqlite3, as vendored by KubeEdge v1.0) opens every new connection — a busy timeout of 5 s,
then ``PRAGMA journal_mode = DELETE`` and ``PRAGMA synchronous = NORMAL`` — and reads the
tables of the original (``meta``, ``device``, ``device_attr``, ``device_twin``). It prints them
as one JSON object (table → list of rows, each a column → value object) and exits 0; when
SQLite refuses, it prints SQLite's error to stderr and exits 1, as such a tool fails.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sqlite3
import sys
from collections.abc import Iterable
from typing import Any

TABLES = ("meta", "device", "device_attr", "device_twin")
BUSY_TIMEOUT_MS = 5000  # go-sqlite3's default _busy_timeout


def connect(path: str) -> sqlite3.Connection:
    """A connection set up as go-sqlite3 sets up each one."""
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        connection.execute("PRAGMA journal_mode = DELETE")
        connection.execute("PRAGMA synchronous = NORMAL")
    except BaseException:
        connection.close()
        raise
    return connection


def read_tables_of(connection: sqlite3.Connection, tables: Iterable[str] = TABLES) -> dict[str, list[dict[str, Any]]]:
    """Every row of ``tables`` (the original's, by default), read in one transaction."""
    connection.row_factory = sqlite3.Row
    connection.execute("BEGIN")
    try:
        return {table: [dict(row) for row in connection.execute(f'SELECT * FROM "{table}"')] for table in tables}
    finally:
        connection.execute("COMMIT")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database")
    args = parser.parse_args(argv)
    try:
        with contextlib.closing(connect(args.database)) as connection:
            tables = read_tables_of(connection)
    except sqlite3.Error as error:
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
        return 1
    json.dump(tables, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
