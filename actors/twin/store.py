"""The twin's SQLite tables through peewee: ``device``, ``device_attr``, ``device_twin`` exactly
as in docs/protocol.md#5.1, plus ``twin_outbox`` (ours) holding messages for the cloud until delivered.

The file is shared with meta (the contract in docs/architecture.md#4.7); it is opened on the actor's thread in ``on_start``.
Every change one message makes is written in one transaction (:meth:`SqliteTwinStore.commit`),
so a twin change and the message that tells the cloud about it are stored together or not at all.
"""

from __future__ import annotations

import functools
import json
import logging
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import peewee

from actors.twin.model import TYPE_STRING, Attr, Device, Twin, Value, Version
from kubeedge_actors.errors import KubeEdgeActorsError
from kubeedge_actors.message import Message, decode_message, encode_message
from kubeedge_actors.sqlite import BUSY_TIMEOUT_MS, WAL, WARN_AFTER_S, BusyWait, bind_model, open_database

logger = logging.getLogger(__name__)


class StoreError(KubeEdgeActorsError):
    """The database refused a read or write."""


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """A message for the cloud as stored; ``awaited`` ones wait for a reply (see outbox.py)."""

    message: Message
    awaited: bool


@dataclass
class StoreBatch:
    """Every change one message makes, written in one transaction."""

    devices: list[Device] = field(default_factory=list)  # the device rows (not attributes or twins)
    twins: list[tuple[str, Twin]] = field(default_factory=list)
    attributes: list[tuple[str, Attr]] = field(default_factory=list)
    removed_attributes: list[tuple[str, str]] = field(default_factory=list)
    removed_devices: list[str] = field(default_factory=list)
    outbox_added: list[OutboxRecord] = field(default_factory=list)
    outbox_removed: list[str] = field(default_factory=list)  # message ids

    def is_empty(self) -> bool:
        return not any(
            (
                self.devices,
                self.twins,
                self.attributes,
                self.removed_attributes,
                self.removed_devices,
                self.outbox_added,
                self.outbox_removed,
            )
        )


class TwinStore(Protocol):
    """What the twin actor needs from its storage."""

    def open(self) -> None: ...

    def close(self) -> None: ...

    def load_devices(self) -> dict[str, Device]: ...

    def load_outbox(self) -> list[OutboxRecord]: ...

    def commit(self, batch: StoreBatch) -> None:
        """Write the batch in one transaction; raises :class:`StoreError`."""

    def checkpoint_due(self) -> bool:
        """Whether :meth:`checkpoint` should run now (on a worker, not on the actor's thread); a
        True starts the count to the next one."""

    def checkpoint(self) -> None:
        """Copy committed transactions from the WAL into the file; any thread. Raises :class:`StoreError`."""


# --- the tables (docs/protocol.md#5.1) ----------------------------------------------------------


class _BoolField(peewee.BooleanField):
    field_type = "bool"  # the original's declared type; stored as 0/1


def _autoincrement() -> peewee.AutoField:
    return peewee.AutoField(constraints=[peewee.SQL("AUTOINCREMENT")])


class _Base(peewee.Model):
    pass


class DeviceRow(_Base):
    id = peewee.CharField(max_length=64, primary_key=True)
    name = peewee.TextField(null=True)
    description = peewee.TextField(null=True)
    state = peewee.TextField(null=True)
    last_online = peewee.TextField(null=True)

    class Meta:
        table_name = "device"


class DeviceAttrRow(_Base):
    id = _autoincrement()
    deviceid = peewee.TextField(null=True)
    name = peewee.TextField(null=True)
    description = peewee.TextField(null=True)
    value = peewee.TextField(null=True)
    optional = _BoolField(null=True)
    attr_type = peewee.TextField(null=True)
    metadata = peewee.TextField(null=True)

    class Meta:
        table_name = "device_attr"


class DeviceTwinRow(_Base):
    id = _autoincrement()
    deviceid = peewee.TextField(null=True)
    name = peewee.TextField(null=True)
    description = peewee.TextField(null=True)
    expected = peewee.TextField(null=True)
    actual = peewee.TextField(null=True)
    expected_meta = peewee.TextField(null=True)
    actual_meta = peewee.TextField(null=True)
    expected_version = peewee.TextField(null=True)
    actual_version = peewee.TextField(null=True)
    optional = _BoolField(null=True)
    attr_type = peewee.TextField(null=True)
    metadata = peewee.TextField(null=True)

    class Meta:
        table_name = "device_twin"


class TwinOutboxRow(_Base):
    id = _autoincrement()  # send order
    msg_id = peewee.TextField(unique=True)
    message = peewee.TextField()  # the envelope's wire JSON
    awaited = _BoolField(default=False)

    class Meta:
        table_name = "twin_outbox"


@dataclass(frozen=True)
class _Tables:
    """The row classes bound to one store's database (not globally: two stores never mix)."""

    device: Any
    attr: Any
    twin: Any
    outbox: Any

    @classmethod
    def bound_to(cls, database: peewee.SqliteDatabase) -> _Tables:
        return cls(*(bind_model(database, model) for model in (DeviceRow, DeviceAttrRow, DeviceTwinRow, TwinOutboxRow)))

    def all(self) -> list[Any]:
        return [self.device, self.attr, self.twin, self.outbox]


class SqliteTwinStore:
    """The twin's tables in the shared SQLite file ``database.source``.

    A lock another program holds on the file (possible with ``database.journal-mode:
    delete``) is waited for, however long: see :class:`~kubeedge_actors.sqlite.BusyWait`.

    Args:
        path: the database file.
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
        self.busy = BusyWait("twin", self.path, warn_after_s=warn_after_s)
        self._database: peewee.SqliteDatabase | None = None
        self._tables: _Tables | None = None
        self._commits_since_checkpoint = 0

    def open(self) -> None:
        try:
            database = open_database(self.path, self.journal_mode, busy_timeout_ms=self.busy_timeout_ms)
            if self.journal_mode == WAL:
                # The commit that passes SQLite's 1000 pages would copy the WAL into the file and
                # sync both, ~4 ms on the actor's thread (the twin's p99): a worker does it instead.
                database.execute_sql("PRAGMA wal_autocheckpoint = 0")  # type: ignore[no-untyped-call]  # untyped in peewee's stubs
            tables = _Tables.bound_to(database)
            self.busy.run(lambda: database.create_tables(tables.all(), safe=True), "creating its tables")
            self.busy.run(lambda: _create_indexes(database), "creating its indexes")
        except peewee.PeeweeException as exc:
            raise StoreError(f"twin: cannot open {self.path}: {exc}") from exc
        self._database, self._tables = database, tables

    def close(self) -> None:
        if self._database is not None:
            self._database.close()
        self._database = self._tables = None

    @property
    def tables(self) -> _Tables:
        if self._tables is None:
            raise StoreError("twin: the store is not open")
        return self._tables

    # --- reading --------------------------------------------------------------------------

    def load_devices(self) -> dict[str, Device]:
        try:
            return self.busy.run(self._read_devices, "loading devices")
        except peewee.PeeweeException as exc:
            raise StoreError(f"twin: cannot read devices from {self.path}: {exc}") from exc

    def _read_devices(self) -> dict[str, Device]:
        t = self.tables
        attributes: dict[str, dict[str, Attr]] = {}
        for row in t.attr.select().order_by(t.attr.id):
            attributes.setdefault(row.deviceid, {})[row.name] = _attr_from_row(row)
        twins: dict[str, dict[str, Twin]] = {}
        for row in t.twin.select().order_by(t.twin.id):
            twins.setdefault(row.deviceid, {})[row.name] = _twin_from_row(row)
        return {
            row.id: Device(
                id=row.id,
                name=row.name or "",
                description=row.description or "",
                state=row.state or "",
                last_online=row.last_online or "",
                attributes=attributes.get(row.id, {}),
                twins=twins.get(row.id, {}),
            )
            for row in t.device.select()
        }

    def load_outbox(self) -> list[OutboxRecord]:
        try:
            outbox = self.tables.outbox
            rows = self.busy.run(lambda: list(outbox.select().order_by(outbox.id)), "loading the outbox")
        except peewee.PeeweeException as exc:
            raise StoreError(f"twin: cannot read the outbox from {self.path}: {exc}") from exc
        records = []
        for row in rows:
            try:
                records.append(OutboxRecord(decode_message(row.message), bool(row.awaited)))
            except KubeEdgeActorsError as exc:  # a damaged row must not stop the twin
                logger.warning("twin: outbox row %s (%s) cannot be decoded and is skipped: %s", row.id, row.msg_id, exc)
        return records

    # --- writing --------------------------------------------------------------------------

    def commit(self, batch: StoreBatch) -> None:
        if batch.is_empty():
            return
        tables = self.tables

        def transaction() -> None:
            # One transaction per message, rolled back whole when refused as busy, then tried
            # again: a device's change is never lost to another program's lock.
            with tables.device._meta.database.atomic(lock_type="IMMEDIATE"):
                self._write(tables, batch)

        try:
            self.busy.run(transaction, "a write")
        except peewee.PeeweeException as exc:
            raise StoreError(f"twin: cannot write to {self.path}: {exc}") from exc
        self._commits_since_checkpoint += 1

    def checkpoint_due(self) -> bool:
        if self.journal_mode != WAL or self._commits_since_checkpoint < CHECKPOINT_EVERY_COMMITS:
            return False
        self._commits_since_checkpoint = 0  # the caller runs one now
        return True

    def checkpoint(self) -> None:
        """A passive checkpoint on a connection of its own: it waits for no reader or writer, and
        a commit it leaves in the WAL is as durable there (docs/architecture.md#4.7)."""
        try:
            connection = sqlite3.connect(self.path, timeout=self.busy_timeout_ms / 1000, check_same_thread=True)
            try:
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            finally:
                connection.close()
        except sqlite3.Error as exc:
            raise StoreError(f"twin: cannot checkpoint {self.path}: {exc}") from exc

    @staticmethod
    def _write(t: _Tables, batch: StoreBatch) -> None:
        for device_id in batch.removed_devices:
            t.twin.delete().where(t.twin.deviceid == device_id).execute()
            t.attr.delete().where(t.attr.deviceid == device_id).execute()
            t.device.delete().where(t.device.id == device_id).execute()
        for device in batch.devices:
            row = {"id": device.id, "name": device.name, "description": device.description, "state": device.state}
            t.device.insert(**row, last_online=device.last_online).on_conflict_replace().execute()
        for device_id, name in batch.removed_attributes:
            t.attr.delete().where((t.attr.deviceid == device_id) & (t.attr.name == name)).execute()
        for device_id, attr in batch.attributes:
            _upsert(t.attr, device_id, attr.name, _attr_columns(attr))
        for device_id, twin in batch.twins:
            _upsert(t.twin, device_id, twin.name, _twin_columns(twin))
        database = t.outbox._meta.database
        for record in batch.outbox_added:
            values = [record.message.id, encode_message(record.message), int(record.awaited)]
            database.execute_sql('INSERT INTO "twin_outbox" ("msg_id", "message", "awaited") VALUES (?, ?, ?)', values)
        if batch.outbox_removed:
            placeholders = ", ".join("?" for _ in batch.outbox_removed)
            database.execute_sql(f'DELETE FROM "twin_outbox" WHERE "msg_id" IN ({placeholders})', batch.outbox_removed)


#: Commits between two checkpoints: a twin update writes a few pages, so the WAL stays far below
#: SQLite's own threshold of 1000 pages.
CHECKPOINT_EVERY_COMMITS = 200

#: docs/protocol.md#5.1: plain (not unique) indexes on the columns every row write looks up. The
#: original's tables have none, so each update scanned the whole table: 10,000 devices of 5 twins
#: took minutes to join. The original's programs neither need nor mind them.
INDEXES = {
    "device_twin_deviceid_name": ("device_twin", ("deviceid", "name")),
    "device_attr_deviceid_name": ("device_attr", ("deviceid", "name")),
}


def _create_indexes(database: Any) -> None:  # peewee is untyped
    for index, (table, columns) in INDEXES.items():
        quoted = ", ".join(f'"{column}"' for column in columns)
        database.execute_sql(f'CREATE INDEX IF NOT EXISTS "{index}" ON "{table}" ({quoted})')


def _upsert(model: Any, device_id: str, name: str, columns: dict[str, Any]) -> None:
    # The original's tables have no unique (deviceid, name) index to upsert on. peewee builds
    # SQL at ~0.3 ms a statement, most of a twin update's cost: the text is made once per shape.
    table = model._meta.table_name
    keys = tuple(columns)
    database = model._meta.database
    params = [_sql_value(columns[key]) for key in keys]
    cursor = database.execute_sql(_update_sql(table, keys), [*params, device_id, name])
    if not cursor.rowcount:
        database.execute_sql(_insert_sql(table, ("deviceid", "name", *keys)), [device_id, name, *params])


@functools.cache
def _update_sql(table: str, keys: tuple[str, ...]) -> str:
    assignments = ", ".join(f'"{key}" = ?' for key in keys)
    return f'UPDATE "{table}" SET {assignments} WHERE ("deviceid" = ?) AND ("name" = ?)'


@functools.cache
def _insert_sql(table: str, keys: tuple[str, ...]) -> str:
    columns = ", ".join(f'"{key}"' for key in keys)
    placeholders = ", ".join("?" for _ in keys)
    return f'INSERT INTO "{table}" ({columns}) VALUES ({placeholders})'


def _sql_value(value: Any) -> Any:
    return int(value) if isinstance(value, bool) else value


def _attr_columns(attr: Attr) -> dict[str, Any]:
    return {
        "description": attr.description,
        "value": attr.value,
        "optional": attr.optional,
        "attr_type": attr.attr_type,
        "metadata": "{}",  # docs/protocol.md#5.1: the type metadata without its type
    }


def _twin_columns(twin: Twin) -> dict[str, Any]:
    return {
        "description": twin.description,
        "expected": twin.expected.value if twin.expected else None,
        "actual": twin.actual.value if twin.actual else None,
        "expected_meta": _meta_column(twin.expected) if twin.expected else None,
        "actual_meta": _meta_column(twin.actual) if twin.actual else None,
        "expected_version": _version_column(twin.expected_version) if twin.expected_version else None,
        "actual_version": _version_column(twin.actual_version) if twin.actual_version else None,
        "optional": twin.optional,
        "attr_type": twin.attr_type,
        "metadata": "{}",
    }


def _attr_from_row(row: DeviceAttrRow) -> Attr:
    return Attr(
        name=row.name or "",
        description=row.description or "",
        value=row.value or "",
        optional=True if row.optional is None else bool(row.optional),
        attr_type=row.attr_type or TYPE_STRING,
    )


def _twin_from_row(row: DeviceTwinRow) -> Twin:
    # Unlike the original (docs/protocol.md#5.1), the actual value's metadata is attached too.
    return Twin(
        name=row.name or "",
        description=row.description or "",
        expected=_value(row.expected, row.expected_meta),
        actual=_value(row.actual, row.actual_meta),
        expected_version=_version(row.expected_version),
        actual_version=_version(row.actual_version),
        optional=True if row.optional is None else bool(row.optional),
        attr_type=row.attr_type or TYPE_STRING,
    )


def _value(value: str | None, meta: str | None) -> Value | None:
    if value is None and meta is None:
        return None
    timestamp = _loads(meta).get("timestamp", 0)
    return Value(value, timestamp if isinstance(timestamp, int) else 0)


def _version(text: str | None) -> Version | None:
    if text is None:
        return None
    document = _loads(text)
    cloud, edge = document.get("cloud", 0), document.get("edge", 0)
    return Version(cloud if isinstance(cloud, int) else 0, edge if isinstance(edge, int) else 0)


def _loads(text: str | None) -> dict[str, Any]:
    try:
        document = json.loads(text) if text else {}
    except ValueError:
        return {}  # a damaged column reads as empty; the twin stays usable
    return document if isinstance(document, dict) else {}


# The JSON columns of docs/protocol.md#5.1 hold integers only: written as json.dumps would write
# them compact (the original's programs read them), without building an encoder per column (a
# twin update writes four of them).


def _meta_column(value: Value) -> str:
    return f'{{"timestamp":{int(value.timestamp_ms)}}}'


def _version_column(version: Version) -> str:
    return f'{{"cloud":{int(version.cloud)},"edge":{int(version.edge)}}}'


__all__ = ["OutboxRecord", "SqliteTwinStore", "StoreBatch", "StoreError", "TwinStore"]
