"""The cloud controller on the Kubernetes API (docs/protocol.md#12.5): what the watched objects
and the edges' reports mean, as commands. Pure state, owned by the ``kubeapi`` actor's thread;
the actor carries the commands out (kubeedge_cloud/kube/actor.py).

Down: the objects an edge must have are the pods whose ``spec.nodeName`` is an edge node (a
Node labelled ``node-role.kubernetes.io/edge``, docs/protocol.md#12.1) and are not being
deleted, and the configmaps and secrets those pods use. What is wanted is compared with what
was handed to the ``controller`` module (which stores it, sends it to the node's cloud hub
connection, keeps deletes pending until the edge acknowledges them and catches a reconnecting
node up): a new or changed object becomes an ``apply``, one no longer wanted a ``delete``.
Status-only changes are not sent (docs/protocol.md#12.2).

Up: an edge's node status becomes its Node's ``/status``, its link going down makes ``Ready``
``Unknown``, a pod status the pod's ``/status``; a pod deleted with a grace period is removed
(grace 0) once its edge acknowledged the delete.

The scheduler (kubeedge_cloud/kube/scheduler.py) places pods that name no node.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from actors.protocol import Operation, ResourceType, split_node_prefix
from kubeedge_actors import Message
from kubeedge_cloud.kube.scheduler import place
from kubeedge_cloud.kube.writer import EDGE_ROLE_LABEL
from kubeedge_cloud.manifests import pod_references
from kubeedge_cloud.names import CONTROLLER_MODULE, DEVICE_CONTROLLER_MODULE, HANDED_OVER_ANNOTATION

logger = logging.getLogger(__name__)

Obj = dict[str, Any]
#: ``(kind, namespace, name)``; nodes have the namespace "".
Key = tuple[str, str, str]
KINDS = ("Node", "Pod", "ConfigMap", "Secret", "DeviceModel", "Device")
_SHARED = ("ConfigMap", "Secret")
#: Handed to the device controller whole: it decides which node each goes to (docs/protocol.md#11.1).
DEVICE_KINDS = ("DeviceModel", "Device")
#: What the edge need not see: the server's bookkeeping, and the status (which is the edge's own).
_NOT_SENT_METADATA = ("resourceVersion", "generation", "managedFields", "selfLink")
#: Set on everything this controller hands over: at start it deletes, of what the controller
#: modules hold, only what it handed over itself. What ``ctl`` applied stays (a cloud restart
#: must not delete a user's pods and devices because they are not in the API server).
HANDED_OVER_BY = "kubeapi"
#: What the device controller tells of a device's reported twins (in-process only, never on the wire).
DEVICE_STATUS = "devicestatus"
#: Handed over before this process knew its content (the controller module's store at start).
_UNKNOWN: Obj = {}


@dataclass(frozen=True)
class Apply:
    """``apply`` of these objects to ``module`` (configmaps and secrets first)."""

    objects: tuple[Obj, ...]
    module: str = CONTROLLER_MODULE


@dataclass(frozen=True)
class Delete:
    """``delete`` of these ``(kind, namespace, name)`` from ``module``."""

    keys: tuple[Key, ...]
    module: str = CONTROLLER_MODULE


@dataclass(frozen=True)
class Write:
    """One write into the Kubernetes API: ``KubeWriter.<method>(*args)``."""

    method: str
    args: tuple[Any, ...]


Command = Apply | Delete | Write


@dataclass
class EdgeController:
    """The controller's state; every method returns the commands it leads to."""

    objects: dict[str, dict[Key, Obj]] = field(default_factory=lambda: {kind: {} for kind in KINDS})
    listed: set[str] = field(default_factory=set)
    #: The pods the controller module has and the devices and models the device controller has
    #: (None until they said): at start, all of them count as sent.
    inventory: set[Key] | None = None
    #: What was handed to the controller module, as sent.
    sent: dict[Key, Obj] = field(default_factory=dict)
    #: Pods whose delete was handed over: their uid, until the edge acknowledged it.
    deleting: dict[Key, str] = field(default_factory=dict)
    #: The configmaps and secrets each wanted pod uses, and the wanted pods that use each.
    uses: dict[Key, set[Key]] = field(default_factory=dict)
    users: dict[Key, set[Key]] = field(default_factory=dict)
    #: Pods the scheduler bound, until the watch shows their node.
    placing: dict[Key, str] = field(default_factory=dict)
    #: What of each edge node the scheduler looks at (a change there: pending pods are tried again).
    fit: dict[str, Any] = field(default_factory=dict)

    @property
    def synced(self) -> bool:
        return self.listed >= set(KINDS) and self.inventory is not None

    # -- what the watches say ---------------------------------------------------------------

    def on_listed(self, kind: str, objects: Iterable[Obj]) -> list[Command]:
        """Every object of ``kind`` (the first list, or again after a 410 or a failure)."""
        self.objects[kind] = {key_of(kind, obj): obj for obj in objects}
        self.listed.add(kind)
        if kind == "Node":
            self.fit = {name: _fit_part(obj) for (_k, _ns, name), obj in self.objects["Node"].items() if _is_edge(obj)}
        return self.reconcile_all() if self.synced else []

    def on_inventory(self, pods: Iterable[Key]) -> list[Command]:
        """The pods and devices the two controller modules have: each counts as handed over until compared."""
        self.inventory = set(pods)
        for key in self.inventory:
            self.sent.setdefault(key, _UNKNOWN)
        return self.reconcile_all() if self.synced else []

    def on_watched(self, kind: str, event: str, obj: Obj) -> list[Command]:
        key = key_of(kind, obj)
        before = self.objects[kind].get(key)
        if event == "DELETED":
            self.objects[kind].pop(key, None)
        else:
            self.objects[kind][key] = obj
        if not self.synced:
            return []
        if kind == "Node":
            return self._node_changed(key[2], before, None if event == "DELETED" else obj)
        keys = {key}
        if kind == "Pod":
            keys |= self.uses.get(key, set()) | self._references(obj)
            if event == "DELETED":
                self.deleting.pop(key, None)
                self.placing.pop(key, None)
        return self.reconcile(keys) + (self._schedule([key]) if kind == "Pod" else [])

    def _node_changed(self, name: str, before: Obj | None, after: Obj | None) -> list[Command]:
        was, now = before is not None and _is_edge(before), after is not None and _is_edge(after)
        commands: list[Command] = []
        if was != now:  # pods of a node that joined are sent now (not dropped, unlike docs/protocol.md#12.1)
            pods = [key for key, pod in self.objects["Pod"].items() if _node_of(pod) == name]
            commands = self.reconcile(set(pods).union(*(self.uses.get(k, set()) | self._references(self.objects["Pod"][k]) for k in pods)))
        fit = _fit_part(after) if after is not None and now else None
        if fit != self.fit.get(name):
            if fit is None:
                self.fit.pop(name, None)
            else:
                self.fit[name] = fit
            commands += self._schedule(list(self.objects["Pod"]))
        return commands

    # -- what the edges say (through the controller module) -----------------------------------

    def on_edge(self, message: Message) -> list[Command]:
        node, resource = split_node_prefix(message.resource)
        parts = resource.split("/") if resource else []
        if not parts:
            known = ("Node", "", node) in self.objects["Node"]
            return [Write("node_away", (node,))] if message.operation == Operation.DISCONNECTED and known else []
        namespace, kind, name = parts[0], parts[1] if len(parts) > 1 else "", parts[2] if len(parts) > 2 else ""
        content, operation = message.content, message.operation
        commands: list[Command] = []
        if kind == ResourceType.NODESTATUS and operation == Operation.UPDATE and isinstance(content, dict):
            commands.append(Write("node_status", (node, content)))
        elif kind == ResourceType.PODSTATUS and operation == Operation.UPDATE and isinstance(content, list):
            reports = [r for r in content if isinstance(r, dict) and self._may_be_in_api(node, namespace, r.get("Name"))]
            commands += [Write("pod_status", (node, namespace, r["Name"], r["Status"])) for r in reports]
        elif kind == "pod" and operation == Operation.RESPONSE and name:
            commands += self._deleted_on_edge(("Pod", namespace, name))
        elif kind == DEVICE_STATUS and name and isinstance(content, dict):
            commands.append(Write("device_status", (namespace, name, content)))
        return commands

    def _may_be_in_api(self, node: str, namespace: str, name: object) -> bool:
        """Whether a pod's status is worth a write: not once the lists are in and show no such
        pod on that node (a pod applied with ``ctl``: issue 15, 10,000 such reads that all
        answered 404 held up the nodes' status writes); the writer checks again before writing."""
        if not self.synced:
            return True
        pod = self.objects["Pod"].get(("Pod", namespace, str(name)))
        return pod is not None and _node_of(pod) == node

    def on_deleted(self, results: Iterable[Obj]) -> list[Command]:
        """The controller module's answer to a delete: a pod it did not have, or whose node it
        did not know, has no edge to wait for."""
        commands: list[Command] = []
        for result in results:
            key = ("Pod", str(result.get("namespace")), str(result.get("name")))
            if result.get("kind") == "Pod" and (result.get("action") != "deleted" or not result.get("nodes")):
                commands += self._deleted_on_edge(key)
        return commands

    def _deleted_on_edge(self, key: Key) -> list[Command]:
        uid = self.deleting.pop(key, None)
        pod = self.objects["Pod"].get(key)
        if uid is None or pod is None or not pod["metadata"].get("deletionTimestamp"):
            return []
        return [Write("delete_pod_now", (key[1], key[2], uid))]

    # -- down -------------------------------------------------------------------------------

    def reconcile_all(self) -> list[Command]:
        keys = set(self.sent) | {key for kind in ("Pod", *_SHARED, *DEVICE_KINDS) for key in self.objects[kind]}
        return self.reconcile(keys) + self._schedule(list(self.objects["Pod"]))

    def reconcile(self, keys: set[Key]) -> list[Command]:
        """Hand over what changed among ``keys``: pods first decided (they say which configmaps
        and secrets are wanted), then applies (those first), then deletes (pods first)."""
        applies: list[Obj] = []
        deletes: list[Key] = []
        edge_nodes = self.edge_nodes()
        for key in sorted(k for k in keys if k[0] == "Pod"):
            self._reconcile_pod(key, edge_nodes, applies, deletes)
        shared: list[Obj] = []
        for key in sorted(k for k in keys if k[0] in _SHARED):
            want = self._wanted_shared(key)
            self._compare(key, want, shared, deletes)
        commands: list[Command] = []
        if shared or applies:
            commands.append(Apply(tuple(shared + applies)))
        if deletes:
            commands.append(Delete(tuple(sorted(deletes, key=lambda k: k[0] != "Pod"))))
        return commands + self._reconcile_devices(keys)

    def _reconcile_devices(self, keys: set[Key]) -> list[Command]:
        """Models before devices on the way in, devices before models on the way out."""
        applies: list[Obj] = []
        deletes: list[Key] = []
        for key in sorted((k for k in keys if k[0] in DEVICE_KINDS), key=lambda k: (k[0] != "DeviceModel", k)):
            obj = self.objects[key[0]].get(key)
            self._compare(key, device_part(obj) if obj is not None else None, applies, deletes)
        commands: list[Command] = []
        if applies:
            commands.append(Apply(tuple(applies), DEVICE_CONTROLLER_MODULE))
        if deletes:
            commands.append(Delete(tuple(sorted(deletes, key=lambda k: k[0] != "Device")), DEVICE_CONTROLLER_MODULE))
        return commands

    def _reconcile_pod(self, key: Key, edge_nodes: set[str], applies: list[Obj], deletes: list[Key]) -> None:
        pod = self.objects["Pod"].get(key)
        on_edge = pod is not None and _node_of(pod) in edge_nodes
        if pod is not None and on_edge and pod["metadata"].get("deletionTimestamp"):
            self._set_uses(key, set())
            if key not in self.deleting:  # graceful: the edge stops it; its acknowledgement ends the delete
                self.deleting[key] = str(pod["metadata"].get("uid") or "")
                self.sent.pop(key, None)
                deletes.append(key)
            return
        want = sent_part(pod) if pod is not None and on_edge else None
        if want is None:
            self._set_uses(key, set())
        else:
            self._set_uses(key, self._references(want))
        self._compare(key, want, applies, deletes)

    def _compare(self, key: Key, want: Obj | None, applies: list[Obj], deletes: list[Key]) -> None:
        have = self.sent.get(key)
        if want is None:
            if have is not None:
                del self.sent[key]
                deletes.append(key)
        elif have is not want and have != want:
            self.sent[key] = want
            applies.append(want)

    def _set_uses(self, pod: Key, references: set[Key]) -> None:
        """Keep :attr:`uses` and its reverse, :attr:`users`, in step."""
        for gone in self.uses.get(pod, set()) - references:
            users = self.users.get(gone)
            if users is not None:
                users.discard(pod)
                if not users:
                    del self.users[gone]
        for used in references:
            self.users.setdefault(used, set()).add(pod)
        if references:
            self.uses[pod] = references
        else:
            self.uses.pop(pod, None)

    def _wanted_shared(self, key: Key) -> Obj | None:
        obj = self.objects[key[0]].get(key)
        if obj is None or key not in self.users:
            return None
        return sent_part(obj)

    def _references(self, pod: Obj) -> set[Key]:
        namespace = pod["metadata"].get("namespace", "")
        return {(kind, namespace, name) for kind, name in pod_references(pod)}

    def edge_nodes(self) -> set[str]:
        return {name for (_k, _ns, name), node in self.objects["Node"].items() if _is_edge(node)}

    # -- the scheduler ----------------------------------------------------------------------

    def _schedule(self, keys: Iterable[Key]) -> list[Command]:
        commands: list[Command] = []
        for key in keys:
            pod = self.objects["Pod"].get(key)
            if pod is None or _node_of(pod) or pod["metadata"].get("deletionTimestamp"):
                self.placing.pop(key, None)
                continue
            if key in self.placing or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            commands.append(self._place(key, pod))
        return commands

    def _place(self, key: Key, pod: Obj) -> Command:
        nodes = [node for node in self.objects["Node"].values() if _is_edge(node)]
        pods = self.objects["Pod"]
        placed = [{"spec": {**(pods[k].get("spec") or {}), "nodeName": n}} for k, n in self.placing.items() if k in pods]
        bound = list(pods.values()) + placed
        placement = place(pod, nodes, bound)
        if placement.node is None:
            return Write("unschedulable", (key[1], key[2], placement.reason))
        self.placing[key] = placement.node
        logger.info("kube-scheduler: %s/%s goes to %s", key[1], key[2], placement.node)
        return Write("bind", (key[1], key[2], placement.node))


def key_of(kind: str, obj: Obj) -> Key:
    meta = obj.get("metadata") or {}
    return kind, str(meta.get("namespace") or ""), str(meta.get("name") or "")


def sent_part(obj: Obj) -> Obj:
    """What the edge gets of an object: all but the status and the server's bookkeeping."""
    sent = {k: copy.deepcopy(v) for k, v in obj.items() if k != "status"}
    for name in _NOT_SENT_METADATA:
        sent.get("metadata", {}).pop(name, None)
    return _marked(sent)


def device_part(obj: Obj) -> Obj:
    """What the device controller gets of a Device or DeviceModel: the desired twins are in the
    status (docs/protocol.md#11.1), so it stays, without the reported values (the edges')."""
    sent = copy.deepcopy(obj)
    for name in _NOT_SENT_METADATA:
        sent.get("metadata", {}).pop(name, None)
    for twin in (sent.get("status") or {}).get("twins") or []:
        if isinstance(twin, dict):
            twin.pop("reported", None)
    return _marked(sent)


def _marked(sent: Obj) -> Obj:
    metadata = sent.setdefault("metadata", {})
    metadata["annotations"] = {**(metadata.get("annotations") or {}), HANDED_OVER_ANNOTATION: HANDED_OVER_BY}
    return sent


def handed_over_here(body: Obj | None) -> bool:
    """Whether a controller module's copy of an object came from this controller (see
    :data:`HANDED_OVER_ANNOTATION`)."""
    annotations = ((body or {}).get("metadata") or {}).get("annotations") or {}
    return isinstance(annotations, dict) and annotations.get(HANDED_OVER_ANNOTATION) == HANDED_OVER_BY


def _is_edge(node: Obj) -> bool:
    return EDGE_ROLE_LABEL in ((node.get("metadata") or {}).get("labels") or {})


def _node_of(pod: Obj) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "")


def _fit_part(node: Obj) -> Any:
    status = node.get("status") or {}
    ready = [c.get("status") for c in status.get("conditions") or [] if isinstance(c, dict) and c.get("type") == "Ready"]
    return (node["metadata"].get("labels"), status.get("allocatable"), ready)


__all__ = [
    "DEVICE_STATUS",
    "HANDED_OVER_ANNOTATION",
    "KINDS",
    "Apply",
    "Command",
    "Delete",
    "EdgeController",
    "Key",
    "Write",
    "handed_over_here",
    "key_of",
    "sent_part",
]
