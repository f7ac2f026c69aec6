"""The controller of the cloud hub: pods, configmaps, secrets and node state (docs/protocol.md#9.2)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from actors.protocol import CloudGroup, Operation, ResourceType, add_node_prefix, build_edge_resource, split_node_prefix
from kubeedge_actors import Config, Message, ModuleActor, Router, handles
from kubeedge_actors.message import Json, JsonObject
from kubeedge_cloud.keys import CLOUD_KEYS
from kubeedge_cloud.manifests import (
    KINDS,
    Manifest,
    ManifestError,
    ObjectKey,
    canonical_kind,
    object_key,
    pod_references,
    prepare,
    same_content,
    with_server_fields,
)
from kubeedge_cloud.names import (
    API_GROUP,
    CLOUDHUB_MODULE,
    CONTROLLER_GROUP,
    CONTROLLER_MODULE,
    CONTROLLER_SOURCE,
    HANDED_OVER_ANNOTATION,
    KUBE_MODULE,
    ApiOperation,
)
from kubeedge_cloud.settings import StoreSettings, kube_api_enabled
from kubeedge_cloud.store import CloudStore, StoredObject
from kubeedge_cloud.views import NodeRow, ObjectResult, ObjectRow, PodRow, node_rows, object_rows, pod_rows

logger = logging.getLogger(__name__)

_TYPE_TO_KIND = {resource_type: kind for kind, resource_type in KINDS.items()}


@dataclass(frozen=True, slots=True)
class TakePodStatuses:
    """Take the pod statuses that came since the last time, in one transaction."""


@dataclass(frozen=True, slots=True)
class _PodStatusReports:
    """One ``podstatus`` update of ``node`` for ``namespace``: its reports, not taken yet."""

    node: str
    namespace: str
    reports: list[Json]


class ControllerActor(ModuleActor):
    """Pods, configmaps and secrets for the edges, and what the edges report (docs/protocol.md#9.2).

    Consumes:
        from the control API (group ``api``, sync): ``apply``, ``delete`` and ``list``
        (see :class:`~kubeedge_cloud.names.ApiOperation`), answered with the result or an error.
        from cloudhub: ``connected``/``disconnected`` on ``node/<id>``: on connect the node
        gets its pending deletes, then its configmaps and secrets, then its pods (``update``).
        from edges (``node/<id>/...``): ``update`` of ``nodestatus``/``podstatus`` (stored),
        ``query`` of a configmap/secret (answered when it exists, as the original), and the
        ``response`` acks that retire a pending delete.
        With module ``kubeapi`` enabled, its controller gets what the API server must show
        (kubeedge_cloud/kube/actor.py): the connection events, the edges' node statuses, the
        pod statuses taken (``update`` on ``node/<id>/<ns>/podstatus``, an array), and each
        pod delete an edge acknowledged (``response`` on ``node/<id>/<ns>/pod/<name>``).
    Produces:
        to module ``cloudhub``: source ``controller``, group ``resource``, operations
        ``insert``/``update``/``delete`` on ``node/<id>/<ns>/pod|configmap|secret/<name>``
        (secrets: added and modified both ``update``), content the object; a ``delete`` of
        a configmap or secret to a node whose pods no longer use it (docs/protocol.md#12.2).
    """

    module_name = CONTROLLER_MODULE
    module_group = CONTROLLER_GROUP
    module_config_keys = CLOUD_KEYS

    def __init__(
        self,
        router: Router,
        config: Config | None = None,
        *,
        name: str | None = None,
        group: str | None = None,
        store: CloudStore | None = None,
    ) -> None:
        super().__init__(router, config, name=name, group=group)
        self.settings = StoreSettings.from_config(self.module_config)
        self._store = store if store is not None else CloudStore(self.settings.database)
        self._connected: set[str] = set()
        #: Pod statuses not taken yet: taken together when anything else comes, or at
        #: TakePodStatuses (issue 15: one read and one write for all, not two for each).
        self._pod_statuses: list[_PodStatusReports] = []
        #: Whether module kubeapi runs: its controller hears the edges through this one.
        self._kube = kube_api_enabled(self.module_config)

    def on_start(self) -> None:
        self._store.open()
        self._store.mark_all_disconnected()  # whoever was connected reconnects to this process

    def on_stop(self) -> None:
        self._take_pod_statuses()
        self._store.close()
        super().on_stop()

    def pending_delete_count(self) -> int:
        """Deletes not yet acknowledged by their node (for tests and introspection)."""
        return len(self._store.pending_deletes())

    def handle_message(self, message: Message) -> None:
        if self._queue_pod_status(message):
            return
        self._take_pod_statuses()  # the statuses that came first are taken first: the order holds
        if message.group == API_GROUP:
            self._handle_api(message)
        elif message.source == CLOUDHUB_MODULE and message.operation in (Operation.CONNECTED, Operation.DISCONNECTED):
            node, _ = split_node_prefix(message.resource)
            self._on_connection(node, message.operation == Operation.CONNECTED)
            self._tell_kube(message)
        else:
            self._handle_edge(message)

    # --- connection state -------------------------------------------------------------------

    def _on_connection(self, node: str, connected: bool) -> None:
        self._store.set_connected(node, connected)
        if not connected:
            self._connected.discard(node)
            return
        self._connected.add(node)
        out: list[Message] = []
        with self._store.transaction():
            for pending in self._store.pending_deletes(node):
                self._queue_delete(out, node, pending.key, pending.body)
            # Only what the node holds is read (issue 15: with 1,000 edges, reading every
            # object on each connect kept the controller from ever catching up).
            held = self._store.objects_for(node)
            for stored in held:
                if stored.key.kind != "Pod":
                    self._queue(out, node, Operation.UPDATE, stored)
            for stored in held:
                if stored.key.kind == "Pod":
                    self._queue(out, node, Operation.UPDATE, stored)
        if out:
            logger.info("controller: node %s connected; sending %d objects and deletes", node, len(out))
        self._send(out)

    # --- from the edges ---------------------------------------------------------------------

    def _handle_edge(self, message: Message) -> None:
        node, resource = split_node_prefix(message.resource)
        parts = resource.split("/")
        kind = parts[1] if len(parts) >= 2 else ""
        if message.operation == Operation.RESPONSE and message.parent_id:
            self._on_ack(node, message)
        elif kind == ResourceType.NODESTATUS and message.operation == Operation.UPDATE:
            if isinstance(message.content, dict):
                self._store.set_node_status(node, message.content)
                self._tell_kube(message)
        elif kind in (ResourceType.CONFIGMAP, ResourceType.SECRET) and message.operation == Operation.QUERY and len(parts) == 3:
            self._answer_query(message, ObjectKey(_TYPE_TO_KIND[kind], parts[0], parts[2]))
        elif logger.isEnabledFor(logging.DEBUG):
            logger.debug("controller: ignored %s (%s %s) from node %s", message.id, message.operation, resource, node)

    def _on_ack(self, node: str, message: Message) -> None:
        retired = self._store.retire_pending_delete(message.parent_id)
        if retired is not None:
            logger.info("controller: node %s deleted %s", node, retired.key)
            if retired.key.kind == "Pod":
                resource = add_node_prefix(node, build_edge_resource(retired.key.namespace, retired.key.resource_type, retired.key.name))
                self._tell_kube(Message.new(source=CONTROLLER_SOURCE, group=CONTROLLER_GROUP, operation=Operation.RESPONSE,
                                            resource=resource, content="OK"))  # fmt: skip

    def _queue_pod_status(self, message: Message) -> bool:
        """Keep an edge's pod status update for :meth:`_take_pod_statuses`; False for any other message."""
        if message.group == API_GROUP or message.operation != Operation.UPDATE or message.source == CLOUDHUB_MODULE:
            return False
        node, resource = split_node_prefix(message.resource)
        parts = resource.split("/")
        if len(parts) < 2 or parts[1] != ResourceType.PODSTATUS:
            return False
        # One {"UID","Name","Status"}, or an array of them from meta's resync (docs/protocol.md#6.4).
        content = message.content
        self._pod_statuses.append(_PodStatusReports(node, parts[0], content if isinstance(content, list) else [content]))
        if len(self._pod_statuses) == 1:
            self.module_tell_self(TakePodStatuses())  # after what the mailbox holds now
        return True

    @handles(TakePodStatuses)
    def _on_take_pod_statuses(self, _: TakePodStatuses) -> None:
        self._take_pod_statuses()

    def _take_pod_statuses(self) -> None:
        pending, self._pod_statuses = self._pod_statuses, []
        if not pending:
            return
        names: dict[str, set[str]] = {}
        for update in pending:
            names.setdefault(update.namespace, set()).update(str(r.get("Name")) for r in update.reports if isinstance(r, dict))
        pods = {stored.key: stored for namespace, named in names.items() for stored in self._store.pods_named(namespace, named)}
        out: list[Message] = []
        taken: dict[tuple[str, str], list[JsonObject]] = {}
        with self._store.transaction():
            statuses: dict[tuple[str, str], tuple[str, JsonObject]] = {}
            for update in pending:
                for report in self._taken_reports(out, update, pods):
                    statuses[(update.namespace, report["Name"])] = (update.node, report)
                    taken.setdefault((update.node, update.namespace), []).append(report)
            self._store.set_pod_statuses(statuses)
        self._send(out)
        for (node, namespace), reports in taken.items():
            resource = add_node_prefix(node, f"{namespace}/{ResourceType.PODSTATUS}")
            self._tell_kube(Message.new(source=CONTROLLER_SOURCE, group=CONTROLLER_GROUP, operation=Operation.UPDATE,
                                        resource=resource, content=list(reports)))  # fmt: skip

    def _taken_reports(self, out: list[Message], update: _PodStatusReports, pods: dict[ObjectKey, StoredObject]) -> list[JsonObject]:
        """The reports of ``update`` that become their pod's status; a delete to the edge for a pod the cloud does not have."""
        node, namespace = update.node, update.namespace
        taken: list[JsonObject] = []
        for report in update.reports:
            if not isinstance(report, dict) or not isinstance(report.get("Name"), str) or not isinstance(report.get("Status"), dict):
                continue
            key = ObjectKey("Pod", namespace, report["Name"])
            stored = pods.get(key)
            if stored is None or _pod_node(stored.body) != node:
                # docs/protocol.md#9.3: a status for a pod the cloud does not have → delete it on the edge.
                if not any(p.key == key for p in self._store.pending_deletes(node)):
                    logger.info("controller: node %s reports %s, which the cloud does not have; deleting it there", node, key)
                    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": namespace, "name": key.name}}
                    out.append(self._message(node, Operation.DELETE, key, body))
                continue
            if _is_earlier_pod(report, stored.body):
                # The kubelet's rule: a pod deleted and created again under its name keeps no
                # status of the pod before (the edge resyncs the earlier one's for a while).
                logger.debug("controller: node %s reports %s of an earlier pod of that name; ignored", node, key)
                continue
            taken.append(report)
        return taken

    def _answer_query(self, query: Message, key: ObjectKey) -> None:
        stored = self._store.get_object(key)
        if stored is None:
            # As the original: nothing is sent; the edge's query times out (docs/protocol.md#9.2).
            logger.info("controller: query %s for %s, which does not exist", query.id, key)
            return
        reply = query.reply(edge_copy(stored.body)).with_route(source=CONTROLLER_SOURCE, group=CloudGroup.RESOURCE)
        self.module_router.send(CLOUDHUB_MODULE, reply)

    # --- the control API --------------------------------------------------------------------

    def _handle_api(self, request: Message) -> None:
        content = request.content if isinstance(request.content, dict) else {}
        if request.operation == ApiOperation.APPLY:
            answer: JsonObject = {"results": self._apply(content.get("objects") or [], content.get("node") or None)}
        elif request.operation == ApiOperation.DELETE:
            answer = {"results": self._delete(content)}
        elif request.operation == ApiOperation.LIST:
            answer = {"items": self._list(request.resource, content.get("namespace"))}
        else:
            raise ManifestError(f"unknown API operation {request.operation!r}")
        self.module_router.send_resp(request.reply(answer))

    def _apply(self, manifests: list[Json], node: str | None) -> list[ObjectResult]:
        prepared = []
        for index, manifest in enumerate(manifests):
            key = object_key(manifest, f"object {index + 1}")
            prepared.append((key, prepare(manifest, key, node)))
        out: list[Message] = []
        results: list[ObjectResult] = []
        with self._store.transaction():
            actions = [(key, self._apply_one(out, key, body, node)) for key, body in prepared]
            for key, action in actions:  # after all of them: a configmap's nodes come from pods applied with it
                stored = self._store.get_object(key)
                nodes = sorted(self._targets(stored)) if stored is not None else []
                results.append({"kind": key.kind, "namespace": key.namespace, "name": key.name, "action": action, "nodes": nodes})
        self._send(out)
        return results

    def _apply_one(self, out: list[Message], key: ObjectKey, body: Manifest, node: str | None) -> str:
        stored = self._store.get_object(key)
        explicit = sorted(set(stored.nodes if stored else []) | ({node} if node and key.kind != "Pod" else set()))
        if stored is not None and same_content(body, stored.body) and explicit == stored.nodes:
            return "unchanged"
        body = with_server_fields(body, stored.body if stored else None, self._store.next_resource_version())
        self._store.put_object(key, body, explicit)
        current = StoredObject(key, body, explicit)
        if key.kind == "Pod":
            self._deliver_pod(out, current, stored)
        else:
            operation = Operation.INSERT if stored is None and key.kind == "ConfigMap" else Operation.UPDATE
            for target in sorted(self._targets(current)):
                self._store.drop_pending_delete(target, key)
                self._queue(out, target, operation, current)
        return "created" if stored is None else "configured"

    def _deliver_pod(self, out: list[Message], pod: StoredObject, previous: StoredObject | None) -> None:
        node = _pod_node(pod.body)
        old_node = _pod_node(previous.body) if previous else None
        moved = previous is not None and old_node != node
        if moved and old_node:
            self._store.add_pending_delete(old_node, pod.key, previous.body if previous else {})
            self._queue_delete(out, old_node, pod.key, previous.body if previous else {})
        self._store.drop_pending_delete(node, pod.key)
        if previous is not None:
            lost = pod_references(previous.body) - (pod_references(pod.body) if not moved else set())
            self._drop_unused(out, old_node or "", pod.key.namespace, lost)
        # The configmaps and secrets it newly uses go first, so the edge has them when it starts the pod.
        already = pod_references(previous.body) if previous and not moved else set()
        for kind, name in sorted(pod_references(pod.body) - already):
            used = self._store.get_object(ObjectKey(kind, pod.key.namespace, name))
            if used is not None:
                self._store.drop_pending_delete(node, used.key)
                self._queue(out, node, Operation.UPDATE, used)
        self._queue(out, node, Operation.INSERT if previous is None or moved else Operation.UPDATE, pod)

    def _delete(self, content: JsonObject) -> list[ObjectResult]:
        if "objects" in content:
            keys = [object_key(manifest, f"object {index + 1}") for index, manifest in enumerate(content["objects"] or [])]
        else:
            kind, namespace, name = (content.get(field) for field in ("kind", "namespace", "name"))
            if not all(isinstance(value, str) and value for value in (kind, namespace, name)):
                raise ManifestError("delete needs a kind, a namespace and a name")
            keys = [ObjectKey(canonical_kind(str(kind)), str(namespace), str(name))]
        node = content.get("node") or None
        out: list[Message] = []
        results: list[ObjectResult] = []
        with self._store.transaction():
            for key in keys:
                action, nodes = self._delete_one(out, key, node)
                results.append({"kind": key.kind, "namespace": key.namespace, "name": key.name, "action": action, "nodes": nodes})
        self._send(out)
        return results

    def _delete_one(self, out: list[Message], key: ObjectKey, node: str | None) -> tuple[str, list[str]]:
        stored = self._store.get_object(key)
        if stored is None:
            return "not found", []
        targets = sorted(self._targets(stored))
        if key.kind == "Pod" and node and targets != [node]:
            raise ManifestError(f"{key} runs on node {', '.join(targets)}, not on {node}")
        self._store.delete_object(key)
        for target in targets:
            self._store.add_pending_delete(target, key, stored.body)
            self._queue_delete(out, target, key, stored.body)
        if key.kind == "Pod":
            self._store.delete_pod_status(key.namespace, key.name)
            self._drop_unused(out, _pod_node(stored.body), key.namespace, pod_references(stored.body))
        return "deleted", targets

    def _drop_unused(self, out: list[Message], node: str, namespace: str, references: set[tuple[str, str]]) -> None:
        """A configmap or secret stays on a node only while a pod there uses it (or ``--node``
        named it): ``references`` a pod of ``node`` no longer has get a pending delete there
        unless another pod of that node still uses them (issue 15: a secret leaves with its last pod)."""
        if not node or not references:
            return
        for kind, name in sorted(references):
            key = ObjectKey(kind, namespace, name)
            stored = self._store.get_object(key)
            if stored is None or self._store.goes_to(node, key):
                continue
            logger.info("controller: no pod of node %s uses %s any more; deleting it there", node, key)
            self._store.add_pending_delete(node, key, stored.body)
            self._queue_delete(out, node, key, stored.body)

    def _list(self, what: str, namespace: Json) -> list[NodeRow] | list[PodRow] | list[ObjectRow]:
        namespace = namespace if isinstance(namespace, str) and namespace else None
        if what == "nodes":
            return node_rows(self._store.nodes(), self._store.pod_nodes())
        if what == "pods":
            return pod_rows(self._store.objects("Pod", namespace), self._store.pod_statuses())
        if what in ("configmaps", "secrets"):
            kind = canonical_kind(what)
            objects = self._store.objects(kind, namespace)
            targets = self._store.targets_by_object(kind, namespace)
            return object_rows(objects, {o.key: sorted(targets.get(o.key, set())) for o in objects})
        raise ManifestError(f"cannot list {what!r}: nodes, pods, configmaps, secrets or devices")

    # --- delivery ---------------------------------------------------------------------------

    def _targets(self, stored: StoredObject) -> set[str]:
        """The nodes an object goes to: a pod's node; for a configmap or secret, the nodes of
        the pods that use it and the nodes named with ``--node``."""
        if stored.key.kind == "Pod":
            return {_pod_node(stored.body)}
        return self._store.targets(stored.key)

    def _message(self, node: str, operation: str, key: ObjectKey, body: Manifest) -> Message:
        resource = add_node_prefix(node, build_edge_resource(key.namespace, key.resource_type, key.name))
        return Message.new(
            source=CONTROLLER_SOURCE, group=CloudGroup.RESOURCE, operation=operation, resource=resource, content=edge_copy(body)
        )

    def _queue(self, out: list[Message], node: str, operation: str, stored: StoredObject) -> None:
        out.append(self._message(node, operation, stored.key, stored.body))

    def _queue_delete(self, out: list[Message], node: str, key: ObjectKey, body: Manifest) -> None:
        message = self._message(node, Operation.DELETE, key, body)
        self._store.set_pending_message_id(node, key, message.id)  # its "OK" retires the delete
        out.append(message)

    def _tell_kube(self, message: Message) -> None:
        """What the Kubernetes API must show, to module kubeapi's controller (when it runs)."""
        if self._kube:
            self.module_router.send(KUBE_MODULE, message)

    def _send(self, out: list[Message]) -> None:
        """The messages collected during a transaction, once it committed, to the nodes connected."""
        ready = [message for message in out if split_node_prefix(message.resource)[0] in self._connected]
        self.module_router.send_batch(CLOUDHUB_MODULE, ready)


def edge_copy(body: Manifest) -> Manifest:
    """An object as an edge gets it: without the controllers' own mark (``kubeapi``'s
    hand-over annotation), which a pod would otherwise see in its downward API."""
    annotations = (body.get("metadata") or {}).get("annotations")
    if not isinstance(annotations, dict) or HANDED_OVER_ANNOTATION not in annotations:
        return body
    kept = {name: value for name, value in annotations.items() if name != HANDED_OVER_ANNOTATION}
    metadata = {name: value for name, value in body["metadata"].items() if name != "annotations"}
    return {**body, "metadata": {**metadata, "annotations": kept} if kept else metadata}


def _is_earlier_pod(report: JsonObject, pod: Manifest) -> bool:
    """Whether a status report names another uid than the pod of that name has now."""
    reported, current = report.get("UID"), (pod.get("metadata") or {}).get("uid")
    return bool(reported) and bool(current) and reported != current


def _pod_node(pod: Manifest) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "")


__all__ = ["ControllerActor"]
