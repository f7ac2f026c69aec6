"""The controller's state in SQLite (peewee): what was applied, what edges reported, and
the deletes that still have to reach a node. Used only on the controller actor's thread.

Tables (all ours, prefixed ``cloud_``): ``cloud_object`` (pods, configmaps and secrets as
applied, with the nodes named by ``--node``), ``cloud_node`` (connection state and the last
node status), ``cloud_pod_status`` (the last status of each pod), ``cloud_pending_delete``
(deletes a node has not acknowledged yet) and ``cloud_sequence`` (resourceVersion).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import peewee

from kubeedge_actors.message import JsonObject
from kubeedge_cloud.database import SequenceModel, TablesStore, next_in_sequence
from kubeedge_cloud.manifests import Manifest, ObjectKey


class _Model(peewee.Model):
    class Meta:
        database = None  # bound to the open database in TablesStore.open()


class _Object(_Model):
    kind = peewee.CharField()
    namespace = peewee.CharField()
    name = peewee.CharField()
    body = peewee.TextField()
    nodes = peewee.TextField(default="[]")
    updated_at = peewee.FloatField()

    class Meta:
        table_name = "cloud_object"
        indexes = ((("kind", "namespace", "name"), True),)


class _Node(_Model):
    name = peewee.CharField(primary_key=True)
    connected = peewee.BooleanField(default=False)
    connected_at = peewee.FloatField(null=True)
    disconnected_at = peewee.FloatField(null=True)
    status = peewee.TextField(null=True)
    status_at = peewee.FloatField(null=True)

    class Meta:
        table_name = "cloud_node"


class _PodStatus(_Model):
    namespace = peewee.CharField()
    name = peewee.CharField()
    node = peewee.CharField()
    status = peewee.TextField()
    updated_at = peewee.FloatField()

    class Meta:
        table_name = "cloud_pod_status"
        indexes = ((("namespace", "name"), True),)


class _PendingDelete(_Model):
    node = peewee.CharField()
    kind = peewee.CharField()
    namespace = peewee.CharField()
    name = peewee.CharField()
    body = peewee.TextField()
    message_id = peewee.CharField(default="")
    created_at = peewee.FloatField()

    class Meta:
        table_name = "cloud_pending_delete"
        indexes = ((("node", "kind", "namespace", "name"), True),)


class _Sequence(SequenceModel):
    class Meta:
        table_name = "cloud_sequence"


_PENDING_KEY = [_PendingDelete.node, _PendingDelete.kind, _PendingDelete.namespace, _PendingDelete.name]


@dataclass(frozen=True)
class StoredObject:
    key: ObjectKey
    body: Manifest
    nodes: list[str]  # named with --node (configmaps and secrets)


@dataclass(frozen=True)
class NodeRecord:
    name: str
    connected: bool
    connected_at: float | None
    disconnected_at: float | None
    status: JsonObject | None  # the last node status, as the edge sent it
    status_at: float | None


@dataclass(frozen=True)
class PodStatusRecord:
    namespace: str
    name: str
    node: str
    status: JsonObject  # the last pod status report, as the edge sent it
    updated_at: float


@dataclass(frozen=True)
class PendingDelete:
    node: str
    key: ObjectKey
    body: Manifest
    message_id: str


class CloudStore(TablesStore):
    """The controller's tables in one SQLite file (``cloudhub.database``)."""

    models = (_Object, _Node, _PodStatus, _PendingDelete, _Sequence)

    # --- objects ----------------------------------------------------------------------------

    def get_object(self, key: ObjectKey) -> StoredObject | None:
        row = _Object.get_or_none(kind=key.kind, namespace=key.namespace, name=key.name)
        return _stored(row) if row is not None else None

    def put_object(self, key: ObjectKey, body: Manifest, nodes: list[str]) -> None:
        values = {"body": json.dumps(body), "nodes": json.dumps(sorted(set(nodes))), "updated_at": time.time()}
        (
            _Object.insert(kind=key.kind, namespace=key.namespace, name=key.name, **values)
            .on_conflict(conflict_target=[_Object.kind, _Object.namespace, _Object.name], update=values)
            .execute()
        )

    def delete_object(self, key: ObjectKey) -> None:
        _Object.delete().where((_Object.kind == key.kind) & (_Object.namespace == key.namespace) & (_Object.name == key.name)).execute()

    def objects(self, kind: str | None = None, namespace: str | None = None) -> list[StoredObject]:
        query = _Object.select().order_by(_Object.namespace, _Object.name)
        if kind is not None:
            query = query.where(_Object.kind == kind)
        if namespace is not None:
            query = query.where(_Object.namespace == namespace)
        return [_stored(row) for row in query]

    def next_resource_version(self) -> int:
        return next_in_sequence(_Sequence)

    # --- nodes ------------------------------------------------------------------------------

    def set_connected(self, node: str, connected: bool) -> None:
        now = time.time()
        values: dict[str, bool | float] = {"connected": connected, ("connected_at" if connected else "disconnected_at"): now}
        _Node.insert(name=node, **values).on_conflict(conflict_target=[_Node.name], update=values).execute()

    def mark_all_disconnected(self) -> None:
        _Node.update(connected=False, disconnected_at=time.time()).where(_Node.connected == True).execute()  # noqa: E712 - SQL

    def set_node_status(self, node: str, status: JsonObject) -> None:
        values = {"status": json.dumps(status), "status_at": time.time()}
        _Node.insert(name=node, **values).on_conflict(conflict_target=[_Node.name], update=values).execute()

    def nodes(self) -> list[NodeRecord]:
        return [
            NodeRecord(
                row.name,
                row.connected,
                row.connected_at,
                row.disconnected_at,
                json.loads(row.status) if row.status else None,
                row.status_at,
            )
            for row in _Node.select().order_by(_Node.name)
        ]

    # --- pod statuses -----------------------------------------------------------------------

    def set_pod_status(self, namespace: str, name: str, node: str, status: JsonObject) -> None:
        values = {"node": node, "status": json.dumps(status), "updated_at": time.time()}
        (
            _PodStatus.insert(namespace=namespace, name=name, **values)
            .on_conflict(conflict_target=[_PodStatus.namespace, _PodStatus.name], update=values)
            .execute()
        )

    def delete_pod_status(self, namespace: str, name: str) -> None:
        _PodStatus.delete().where((_PodStatus.namespace == namespace) & (_PodStatus.name == name)).execute()

    def pod_statuses(self) -> dict[tuple[str, str], PodStatusRecord]:
        return {
            (row.namespace, row.name): PodStatusRecord(row.namespace, row.name, row.node, json.loads(row.status), row.updated_at)
            for row in _PodStatus.select()
        }

    # --- deletes a node has not acknowledged --------------------------------------------------

    def add_pending_delete(self, node: str, key: ObjectKey, body: Manifest) -> None:
        values = {"body": json.dumps(body), "message_id": "", "created_at": time.time()}
        (
            _PendingDelete.insert(node=node, kind=key.kind, namespace=key.namespace, name=key.name, **values)
            .on_conflict(conflict_target=_PENDING_KEY, update=values)
            .execute()
        )

    def pending_deletes(self, node: str | None = None) -> list[PendingDelete]:
        query = _PendingDelete.select().order_by(_PendingDelete.created_at)
        if node is not None:
            query = query.where(_PendingDelete.node == node)
        return [
            PendingDelete(row.node, ObjectKey(row.kind, row.namespace, row.name), json.loads(row.body), row.message_id) for row in query
        ]

    def set_pending_message_id(self, node: str, key: ObjectKey, message_id: str) -> None:
        _PendingDelete.update(message_id=message_id).where(_pending_is(node, key)).execute()

    def retire_pending_delete(self, message_id: str) -> PendingDelete | None:
        """Forget the pending delete last sent as ``message_id`` (the edge acknowledged it)."""
        row = _PendingDelete.get_or_none(_PendingDelete.message_id == message_id)
        if row is None:
            return None
        row.delete_instance()
        return PendingDelete(row.node, ObjectKey(row.kind, row.namespace, row.name), json.loads(row.body), row.message_id)

    def drop_pending_delete(self, node: str, key: ObjectKey) -> bool:
        """Forget a pending delete because the object was applied to the node again."""
        return bool(_PendingDelete.delete().where(_pending_is(node, key)).execute())


def _pending_is(node: str, key: ObjectKey) -> peewee.Expression:
    return (
        (_PendingDelete.node == node)
        & (_PendingDelete.kind == key.kind)
        & (_PendingDelete.namespace == key.namespace)
        & (_PendingDelete.name == key.name)
    )


def _stored(row: _Object) -> StoredObject:
    return StoredObject(ObjectKey(row.kind, row.namespace, row.name), json.loads(row.body), json.loads(row.nodes))


__all__ = ["CloudStore", "NodeRecord", "PendingDelete", "PodStatusRecord", "StoredObject"]
