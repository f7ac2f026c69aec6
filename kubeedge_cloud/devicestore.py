"""The device controller's state in SQLite (peewee), on its own actor's thread.

Tables (ours): ``cloud_device`` (each Device as applied, its node, resourceVersion, the
reported twin values with the versions they came with, and the last state the edge sent with
its timestamp), ``cloud_device_model`` (each DeviceModel as applied) and
``cloud_device_sequence``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import peewee

from kubeedge_cloud.database import SequenceModel, TablesStore, next_in_sequence
from kubeedge_cloud.devices import DeviceState, ReportedTwin, ShownValue, parse_version
from kubeedge_cloud.manifests import Manifest


class _Model(peewee.Model):
    class Meta:
        database = None  # bound to the open database in TablesStore.open()


class _Device(_Model):
    namespace = peewee.CharField()
    name = peewee.CharField()
    node = peewee.CharField()
    version = peewee.IntegerField()
    body = peewee.TextField()
    reported = peewee.TextField(default="{}")
    reported_versions = peewee.TextField(default="{}")  # property → the actual_version it came with
    state = peewee.CharField(default="")
    last_online = peewee.CharField(default="")
    state_timestamp_ms = peewee.IntegerField(default=0)
    updated_at = peewee.FloatField()

    class Meta:
        table_name = "cloud_device"
        indexes = ((("namespace", "name"), True),)


class _DeviceModel(_Model):
    """A DeviceModel as applied (docs/protocol.md#11.1)."""

    namespace = peewee.CharField()
    name = peewee.CharField()
    version = peewee.IntegerField()
    body = peewee.TextField()

    class Meta:
        table_name = "cloud_device_model"
        indexes = ((("namespace", "name"), True),)


class _Sequence(SequenceModel):
    class Meta:
        table_name = "cloud_device_sequence"


#: Columns added since the first release, with what rows stored before them get.
_ADDED_COLUMNS = (("reported_versions", "TEXT NOT NULL DEFAULT '{}'"), ("state_timestamp_ms", "INTEGER NOT NULL DEFAULT 0"))


@dataclass(frozen=True)
class StoredDevice:
    namespace: str
    name: str
    node: str
    version: int
    body: Manifest
    reported: dict[str, ShownValue]
    reported_versions: dict[str, tuple[int, int]]
    state: str
    last_online: str
    state_timestamp_ms: int


@dataclass(frozen=True)
class StoredModel:
    namespace: str
    name: str
    version: int
    body: Manifest


class DeviceStore(TablesStore):
    """Devices in one SQLite file (``cloudhub.database``)."""

    models = (_Device, _DeviceModel, _Sequence)

    def open(self) -> None:
        super().open()
        self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        """A database written by an earlier release gets the columns added since, its rows kept."""
        assert self._db is not None
        table = _Device._meta.table_name
        existing = {column.name for column in self._db.get_columns(table)}
        for column, definition in _ADDED_COLUMNS:
            if column not in existing:
                self._db.execute_sql(f'ALTER TABLE "{table}" ADD COLUMN "{column}" {definition}')  # type: ignore[no-untyped-call]

    def get(self, namespace: str, name: str) -> StoredDevice | None:
        row = _Device.get_or_none(namespace=namespace, name=name)
        return _stored(row) if row is not None else None

    def named(self, name: str) -> list[StoredDevice]:
        """Devices of this name in any namespace (the edge knows a device by name only)."""
        return [_stored(row) for row in _Device.select().where(_Device.name == name)]

    def put(self, namespace: str, name: str, node: str, version: int, body: Manifest) -> None:
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

    def on_node(self, node: str, name: str) -> StoredDevice | None:
        """The device ``name`` on ``node`` (as an edge names it), or None."""
        row = _Device.get_or_none((_Device.node == node) & (_Device.name == name))
        return _stored(row) if row is not None else None

    def set_reported(self, namespace: str, name: str, reported: dict[str, ReportedTwin]) -> None:
        """Merge reported twin values, and the versions they came with, into a device."""
        row = _Device.get(namespace=namespace, name=name)
        shown, versions = json.loads(row.reported), json.loads(row.reported_versions)
        for property_name, report in reported.items():
            shown[property_name] = report.shown
            if report.version is not None:
                versions[property_name] = {"cloud": report.version[0], "edge": report.version[1]}
            else:
                versions.pop(property_name, None)
        row.reported, row.reported_versions = json.dumps(shown), json.dumps(versions)
        row.save()

    def set_state(self, namespace: str, name: str, state: DeviceState) -> None:
        values = {"state": state.state, "last_online": state.last_online, "state_timestamp_ms": state.timestamp_ms or 0}
        _Device.update(**values).where((_Device.namespace == namespace) & (_Device.name == name)).execute()

    # --- DeviceModels ------------------------------------------------------------------------

    def get_model(self, namespace: str, name: str) -> StoredModel | None:
        row = _DeviceModel.get_or_none(namespace=namespace, name=name)
        return StoredModel(row.namespace, row.name, row.version, json.loads(row.body)) if row is not None else None

    def device_models(self, namespace: str | None = None) -> list[StoredModel]:
        query = _DeviceModel.select().order_by(_DeviceModel.namespace, _DeviceModel.name)
        if namespace is not None:
            query = query.where(_DeviceModel.namespace == namespace)
        return [StoredModel(row.namespace, row.name, row.version, json.loads(row.body)) for row in query]

    def put_model(self, namespace: str, name: str, version: int, body: Manifest) -> None:
        values = {"version": version, "body": json.dumps(body)}
        (
            _DeviceModel.insert(namespace=namespace, name=name, **values)
            .on_conflict(conflict_target=[_DeviceModel.namespace, _DeviceModel.name], update=values)
            .execute()
        )

    def delete_model(self, namespace: str, name: str) -> None:
        _DeviceModel.delete().where((_DeviceModel.namespace == namespace) & (_DeviceModel.name == name)).execute()

    def next_version(self) -> int:
        return next_in_sequence(_Sequence)


def _stored(row: _Device) -> StoredDevice:
    versions = {name: parse_version(version) for name, version in json.loads(row.reported_versions).items()}
    return StoredDevice(
        namespace=row.namespace,
        name=row.name,
        node=row.node,
        version=row.version,
        body=json.loads(row.body),
        reported=json.loads(row.reported),
        reported_versions={name: version for name, version in versions.items() if version is not None},
        state=row.state,
        last_online=row.last_online,
        state_timestamp_ms=row.state_timestamp_ms,
    )


__all__ = ["DeviceStore", "StoredDevice", "StoredModel"]
