"""The device controller's state in SQLite (peewee), on its own actor's thread.

Tables (ours): ``cloud_device`` (each Device as applied, its node, resourceVersion, the
reported twin values and the last state the edge sent) and ``cloud_device_sequence``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import peewee

from kubeedge_actors.sqlite import open_database


class _Model(peewee.Model):
    class Meta:
        database = None  # bound to the open database in DeviceStore.open()


class _Device(_Model):
    namespace = peewee.CharField()
    name = peewee.CharField()
    node = peewee.CharField()
    version = peewee.IntegerField()
    body = peewee.TextField()
    reported = peewee.TextField(default="{}")
    state = peewee.CharField(default="")
    last_online = peewee.CharField(default="")
    updated_at = peewee.FloatField()

    class Meta:
        table_name = "cloud_device"
        indexes = ((("namespace", "name"), True),)


class _Sequence(_Model):
    name = peewee.CharField(primary_key=True)
    value = peewee.IntegerField()

    class Meta:
        table_name = "cloud_device_sequence"


_MODELS = (_Device, _Sequence)


@dataclass(frozen=True)
class StoredDevice:
    namespace: str
    name: str
    node: str
    version: int
    body: dict[str, Any]
    reported: dict[str, dict[str, Any]]
    state: str
    last_online: str


class DeviceStore:
    """Devices in one SQLite file (``cloudhub.database``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: peewee.SqliteDatabase | None = None

    def open(self) -> None:
        self._db = open_database(self.path)
        self._db.bind(_MODELS)
        self._db.create_tables(_MODELS, safe=True)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        assert self._db is not None, "DeviceStore.open() first"
        # IMMEDIATE: the controllers share the file, and a transaction that read first and then
        # writes cannot wait for the other's commit: SQLite fails it at once ("database is locked").
        with self._db.atomic(lock_type="IMMEDIATE"):
            yield

    def get(self, namespace: str, name: str) -> StoredDevice | None:
        row = _Device.get_or_none(namespace=namespace, name=name)
        return _stored(row) if row is not None else None

    def named(self, name: str) -> list[StoredDevice]:
        """Devices of this name in any namespace (the edge knows a device by name only)."""
        return [_stored(row) for row in _Device.select().where(_Device.name == name)]

    def put(self, namespace: str, name: str, node: str, version: int, body: dict[str, Any]) -> None:
        values = {"node": node, "version": version, "body": json.dumps(body), "updated_at": time.time()}
        (
            _Device.insert(namespace=namespace, name=name, **values)
            .on_conflict(conflict_target=[_Device.namespace, _Device.name], update=values)
            .execute()
        )

    def delete(self, namespace: str, name: str) -> None:
        _Device.delete().where((_Device.namespace == namespace) & (_Device.name == name)).execute()

    def devices(self, namespace: str | None = None, node: str | None = None) -> list[StoredDevice]:
        query = _Device.select().order_by(_Device.namespace, _Device.name)
        if namespace is not None:
            query = query.where(_Device.namespace == namespace)
        if node is not None:
            query = query.where(_Device.node == node)
        return [_stored(row) for row in query]

    def set_reported(self, node: str, name: str, reported: dict[str, dict[str, Any]]) -> bool:
        """Merge reported twin values into the device ``name`` on ``node``; False if unknown."""
        row = _Device.get_or_none((_Device.node == node) & (_Device.name == name))
        if row is None:
            return False
        row.reported = json.dumps({**json.loads(row.reported), **reported})
        row.save()
        return True

    def set_state(self, node: str, name: str, state: str, last_online: str) -> bool:
        updated = _Device.update(state=state, last_online=last_online).where((_Device.node == node) & (_Device.name == name)).execute()
        return bool(updated)

    def next_version(self) -> int:
        row = _Sequence.get_or_none(name="resourceVersion")
        value = (row.value if row is not None else 0) + 1
        _Sequence.insert(name="resourceVersion", value=value).on_conflict_replace().execute()
        return value


def _stored(row: _Device) -> StoredDevice:
    return StoredDevice(
        row.namespace, row.name, row.node, row.version, json.loads(row.body), json.loads(row.reported), row.state, row.last_online
    )


__all__ = ["DeviceStore", "StoredDevice"]
