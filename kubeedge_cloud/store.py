"""The controller's state in SQLite (peewee): what was applied, what edges reported, and
the deletes that still have to reach a node. Used only on the controller actor's thread.

Tables (all ours, prefixed ``cloud_``): ``cloud_object`` (pods, configmaps and secrets as
applied, with the nodes named by ``--node``), ``cloud_target`` (which node each object goes
to and why: its index by node, so that what a node holds is read without reading the rest),
``cloud_node`` (connection state and the last
node status), ``cloud_pod_status`` (the last status of each pod), ``cloud_pending_delete``
(deletes a node has not acknowledged yet) and ``cloud_sequence`` (resourceVersion).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass

import peewee

from kubeedge_actors.message import JsonObject
from kubeedge_cloud.database import SequenceModel, TablesStore, next_in_sequence
from kubeedge_cloud.manifests import Manifest, ObjectKey, pod_references


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


class _Target(_Model):
    """An object goes to ``node`` because of the pod ``via`` of its namespace: a pod's row names
    itself, a configmap's or secret's row the pod that uses it; ``via`` "" is a node named with
    ``--node``. Kept with ``cloud_object`` in :meth:`CloudStore.put_object` and ``delete_object``."""

    kind = peewee.CharField()
    namespace = peewee.CharField()
    name = peewee.CharField()
    node = peewee.CharField()
    via = peewee.CharField()

    class Meta:
        table_name = "cloud_target"
        primary_key = False
        indexes = (
            (("node", "kind", "namespace", "name"), False),
            (("kind", "namespace", "name", "node"), False),
            (("namespace", "via"), False),
        )


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


#: Rows per INSERT and names per IN (SQLite's limit on variables in one statement is 32,766).
_INSERT_BATCH = 1_000
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

    models = (_Object, _Target, _Node, _PodStatus, _PendingDelete, _Sequence)

    def fill_new_tables(self, created: list[type[peewee.Model]]) -> None:
        if _Target in created:  # an earlier release kept no index of targets: made from the objects
            rows = [target for stored in map(_stored, _Object.select()) for target in _target_rows(stored.key, stored.body, stored.nodes)]
            _insert_targets(rows)

    # --- objects ----------------------------------------------------------------------------

    def get_object(self, key: ObjectKey) -> StoredObject | None:
        row = _Object.get_or_none(kind=key.kind, namespace=key.namespace, name=key.name)
        return _stored(row) if row is not None else None

    def put_object(self, key: ObjectKey, body: Manifest, nodes: list[str]) -> None:
        """Store the object and where it goes (call in a :meth:`transaction`: the two tables change together)."""
        values = {"body": json.dumps(body), "nodes": json.dumps(sorted(set(nodes))), "updated_at": time.time()}
        (
            _Object.insert(kind=key.kind, namespace=key.namespace, name=key.name, **values)
            .on_conflict(conflict_target=[_Object.kind, _Object.namespace, _Object.name], update=values)
            .execute()
        )
        _Target.delete().where(_caused_by(key)).execute()
        _insert_targets(_target_rows(key, body, nodes))

    def delete_object(self, key: ObjectKey) -> None:
        """Forget the object and the targets it caused (a pod's uses of configmaps and secrets go with it)."""
        _Object.delete().where((_Object.kind == key.kind) & (_Object.namespace == key.namespace) & (_Object.name == key.name)).execute()
        _Target.delete().where(_caused_by(key)).execute()

    def objects(self, kind: str | None = None, namespace: str | None = None) -> list[StoredObject]:
        query = _Object.select().order_by(_Object.namespace, _Object.name)
        if kind is not None:
            query = query.where(_Object.kind == kind)
        if namespace is not None:
            query = query.where(_Object.namespace == namespace)
        return [_stored(row) for row in query]

    def objects_for(self, node: str) -> list[StoredObject]:
        """What ``node`` holds: its pods, the configmaps and secrets they use and those named
        with ``--node`` for it, by namespace and name; read through the index, not the table."""
        held = _Target.select(_Target.kind, _Target.namespace, _Target.name).where(_Target.node == node).distinct()
        query = (
            _Object.select()
            .join(held, on=(_Object.kind == held.c.kind) & (_Object.namespace == held.c.namespace) & (_Object.name == held.c.name))
            .order_by(_Object.namespace, _Object.name, _Object.kind)
        )
        return [_stored(row) for row in query]

    def pods_named(self, namespace: str, names: Iterable[str]) -> list[StoredObject]:
        """The pods of ``namespace`` with these names (those that exist), in a read per thousand names."""
        wanted = sorted(set(names))
        found: list[StoredObject] = []
        for start in range(0, len(wanted), _INSERT_BATCH):
            batch = wanted[start : start + _INSERT_BATCH]
            query = _Object.select().where((_Object.kind == "Pod") & (_Object.namespace == namespace) & _Object.name.in_(batch))
            found += [_stored(row) for row in query]
        return found

    def targets(self, key: ObjectKey) -> set[str]:
        """The nodes an object goes to (whether it exists or not: a pod may use a configmap not applied yet)."""
        query = _Target.select(_Target.node).where(_is_target(key)).distinct()
        return {row.node for row in query}

    def targets_by_object(self, kind: str, namespace: str | None = None) -> dict[ObjectKey, set[str]]:
        """:meth:`targets` of every object of ``kind`` (in ``namespace``), in one read."""
        query = _Target.select(_Target.kind, _Target.namespace, _Target.name, _Target.node).where(_Target.kind == kind)
        if namespace is not None:
            query = query.where(_Target.namespace == namespace)
        found: dict[ObjectKey, set[str]] = {}
        for row in query:
            found.setdefault(ObjectKey(row.kind, row.namespace, row.name), set()).add(row.node)
        return found

    def goes_to(self, node: str, key: ObjectKey) -> bool:
        """Whether a pod of ``node`` uses the object, or ``--node`` named ``node`` for it."""
        return bool(_Target.select().where(_is_target(key) & (_Target.node == node)).exists())

    def pod_nodes(self) -> set[str]:
        """The nodes the pods name."""
        return {row.node for row in _Target.select(_Target.node).where(_Target.kind == "Pod").distinct()}

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

    def set_pod_statuses(self, statuses: dict[tuple[str, str], tuple[str, JsonObject]]) -> None:
        """:meth:`set_pod_status` of many: ``(namespace, name)`` → ``(node, status)``."""
        now = time.time()
        rows = [
            {"namespace": namespace, "name": name, "node": node, "status": json.dumps(status), "updated_at": now}
            for (namespace, name), (node, status) in statuses.items()
        ]
        update = {field: peewee.EXCLUDED[field] for field in ("node", "status", "updated_at")}
        for start in range(0, len(rows), _INSERT_BATCH):
            (
                _PodStatus.insert_many(rows[start : start + _INSERT_BATCH])
                .on_conflict(conflict_target=[_PodStatus.namespace, _PodStatus.name], update=update)
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


def _is_target(key: ObjectKey) -> peewee.Expression:
    return (_Target.kind == key.kind) & (_Target.namespace == key.namespace) & (_Target.name == key.name)


def _caused_by(key: ObjectKey) -> peewee.Expression:
    """The rows an object caused: a pod's (itself and its uses), or a configmap's or secret's ``--node`` rows."""
    if key.kind == "Pod":
        return (_Target.namespace == key.namespace) & (_Target.via == key.name)
    return _is_target(key) & (_Target.via == "")


def _insert_targets(rows: list[dict[str, str]]) -> None:
    for start in range(0, len(rows), _INSERT_BATCH):
        _Target.insert_many(rows[start : start + _INSERT_BATCH]).execute()


def _target_rows(key: ObjectKey, body: Manifest, nodes: list[str]) -> list[dict[str, str]]:
    if key.kind != "Pod":
        return [{"kind": key.kind, "namespace": key.namespace, "name": key.name, "node": node, "via": ""} for node in sorted(set(nodes))]
    node = str((body.get("spec") or {}).get("nodeName") or "")
    uses = [(key.kind, key.name), *sorted(pod_references(body))]
    return [{"kind": kind, "namespace": key.namespace, "name": name, "node": node, "via": key.name} for kind, name in uses]


def _stored(row: _Object) -> StoredObject:
    return StoredObject(ObjectKey(row.kind, row.namespace, row.name), json.loads(row.body), json.loads(row.nodes))


__all__ = ["CloudStore", "NodeRecord", "PendingDelete", "PodStatusRecord", "StoredObject"]
