"""The verbs of the embedded API server over its store: get, list, watch, create, update,
patch, delete, with the rules Kubernetes applies (docs/protocol.md#12.4).

Everything here runs on the request's thread; the store serialises the writes.
"""

from __future__ import annotations

import copy
import datetime
import secrets
import string
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from kubeedge_cloud.kube.errors import Invalid, KubeApiError, already_exists, bad_request, conflict, not_found
from kubeedge_cloud.kube.patch import APPLY_PATCH, JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, json_patch, merge_patch, strategic_merge_patch
from kubeedge_cloud.kube.resources import RESOURCES, Resource, check_kind, find_resource, unknown_fields, validate
from kubeedge_cloud.kube.selectors import field_selector, label_selector
from kubeedge_cloud.kube.store import Change, Obj, ObjectStore

#: Namespaces every Kubernetes API server has.
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
#: As in Kubernetes: these stay.
_UNDELETABLE_NAMESPACES = ("default", "kube-system", "kube-public")


def _core(plural: str) -> Resource:
    found = find_resource("", "v1", plural)
    assert found is not None, plural
    return found


_NAMESPACES = _core("namespaces")
_NODES = _core("nodes")
_PODS = _core("pods")
DEFAULT_GRACE_S = 30
_TERMINAL = ("Succeeded", "Failed")


def now() -> str:
    """RFC 3339 to the second, as Kubernetes writes metav1.Time."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Selection:
    """A list's or watch's filter: the label and field selectors of the request."""

    labels: str = ""
    fields: str = ""

    def test(self) -> Callable[[Obj], bool]:
        by_label = label_selector(self.labels) if self.labels else None
        by_field = field_selector(self.fields) if self.fields else None
        return lambda obj: (by_label is None or by_label(obj)) and (by_field is None or by_field(obj))


class KubeApi:
    """The API's rules over one :class:`ObjectStore`."""

    def __init__(self, store: ObjectStore, *, dry_run: bool = False) -> None:
        self.store = store
        #: ``dryRun=All``: every check, nothing written (see :meth:`dry`).
        self.dry_run = dry_run
        if dry_run:
            return
        for name in INITIAL_NAMESPACES:
            if store.get(_NAMESPACES.key, "", name) is None:
                self.create(_NAMESPACES, "", {"metadata": {"name": name}})

    def dry(self) -> KubeApi:
        """The same API for one request with ``dryRun=All``."""
        return KubeApi(self.store, dry_run=True)

    # -- reads -----------------------------------------------------------------------------

    def get(self, resource: Resource, namespace: str, name: str) -> Obj:
        found = self.store.get(resource.key, namespace, name)
        if found is None:
            raise not_found(resource.group, resource.plural, name)
        return found

    def list(self, resource: Resource, namespace: str | None, selection: Selection) -> tuple[list[Obj], int]:
        test = selection.test()
        items, rv = self.store.objects(resource.key, namespace)
        return [item for item in items if test(item)], rv

    def watch(
        self, resource: Resource, namespace: str | None, selection: Selection, since: str, wait_s: float
    ) -> Iterator[tuple[str, Obj] | None]:
        """WatchEvents (type, object) from resourceVersion ``since`` ("" or "0": the current objects
        first, as ADDED); None after ``wait_s`` without one, so that the caller can check its client.

        Raises:
            KubeApiError: 410 when ``since`` is too old (the caller sends it as an ERROR event).
        """
        test = selection.test()
        if since in ("", "0"):
            items, rv = self.list(resource, namespace, selection)
            for item in items:
                yield "ADDED", item
        else:
            rv = _resource_version(since)
        while True:
            changes, rv = self.store.changes(resource.key, namespace, rv, wait_s)
            events: list[tuple[str, Obj] | None] = [event for change in changes if (event := _filtered(change, test)) is not None]
            yield from events or [None]

    # -- writes ----------------------------------------------------------------------------

    def create(self, resource: Resource, namespace: str, body: Any, *, strict: bool = False) -> Obj:
        obj = self._checked(resource, namespace, body, strict)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(5))
        validate(resource, obj)
        if resource.namespaced and self.store.get(_NAMESPACES.key, "", namespace) is None:
            raise not_found("", "namespaces", namespace)
        for server_field in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
            meta.pop(server_field, None)
        meta.update({"uid": str(uuid.uuid4()), "creationTimestamp": now(), "generation": 1})
        if resource.namespaced:
            meta["namespace"] = namespace
        _initial_status(resource, obj)
        go_zero_values(resource, obj)

        def build(current: Obj | None) -> Obj:
            if current is not None:
                raise already_exists(resource.group, resource.plural, meta["name"])
            return obj

        return self.store.write(resource.key, namespace, meta["name"], "ADDED", build, dry_run=self.dry_run)

    def update(self, resource: Resource, namespace: str, name: str, body: Any, *, strict: bool = False, status: bool = False) -> Obj:
        obj = self._checked(resource, namespace, body, strict)
        obj_name = obj.get("metadata", {}).get("name")
        if obj_name != name:
            raise bad_request(f"the name of the object ({obj_name}) does not match the name on the URL ({name})")
        return self._write(resource, namespace, name, lambda _current: obj, status=status)

    def patch(
        self, resource: Resource, namespace: str, name: str, content_type: str, body: Any, *, strict: bool = False, status: bool = False
    ) -> Obj:
        patcher = self._patcher(resource, content_type, body)

        def patched(current: Obj) -> Obj:
            result = patcher(current)
            if not isinstance(result, dict):
                raise bad_request("the patch does not leave an object")
            return self._checked(resource, namespace, result, strict)

        return self._write(resource, namespace, name, patched, status=status)

    def delete(self, resource: Resource, namespace: str, name: str, grace_s: int | None, *, uid: str | None = None) -> Obj:
        """Delete; a pod on a node first gets its deletionTimestamp, and goes once its node says it stopped.
        ``uid``: DeleteOptions' ``preconditions.uid``: another object of that name is a ``409``."""
        if resource is _NAMESPACES:
            if name in _UNDELETABLE_NAMESPACES:
                raise KubeApiError(403, "Forbidden", f'namespaces "{name}" is forbidden: this namespace may not be deleted')
            if not self.dry_run:
                self._empty_namespace(name)
        graceful = resource.kind == "Pod" and grace_s != 0

        def build(current: Obj | None) -> Obj | None:
            if current is None:
                raise not_found(resource.group, resource.plural, name)
            if uid and current["metadata"].get("uid") != uid:
                why = f"Precondition failed: UID in precondition: {uid}, UID in object meta: {current['metadata'].get('uid')}"
                raise conflict(resource.group, resource.plural, name, why)
            if not graceful or not self._on_a_node(current):
                return None
            meta = current["metadata"]
            if meta.get("deletionTimestamp"):
                return current
            grace = grace_s if grace_s is not None else current.get("spec", {}).get("terminationGracePeriodSeconds", DEFAULT_GRACE_S)
            moment = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=int(grace))
            meta["deletionTimestamp"] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
            meta["deletionGracePeriodSeconds"] = int(grace)
            return current

        return self.store.write(resource.key, namespace, name, "MODIFIED", build, dry_run=self.dry_run)

    def bind(self, namespace: str, name: str, body: Any) -> Obj:
        """``pods/<name>/binding``: a scheduler puts a pod that names no node on ``target.name``
        (docs/protocol.md#12.5); a pod already on a node: ``409 Conflict``, as Kubernetes answers."""
        target = body.get("target") if isinstance(body, dict) else None
        node = target.get("name") if isinstance(target, dict) else None
        if not isinstance(body, dict) or body.get("kind", "Binding") != "Binding" or not isinstance(node, str) or not node:
            raise Invalid("Binding", "", name, [("FieldValueRequired", "target.name", "Required value")])

        def bound(current: Obj | None) -> Obj | None:
            if current is None:
                raise not_found("", "pods", name)
            on = (current.get("spec") or {}).get("nodeName")
            if on:
                raise conflict("", "pods", name, f'pod {name} is already assigned to node "{on}"')
            current.setdefault("spec", {})["nodeName"] = node
            return current

        self.store.write(_PODS.key, namespace, name, "MODIFIED", bound, dry_run=self.dry_run)
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}

    # -- helpers ---------------------------------------------------------------------------

    def _checked(self, resource: Resource, namespace: str, body: Any, strict: bool) -> Obj:
        obj = check_kind(resource, body)
        if strict and (unknown := unknown_fields(resource, obj)):
            fields = ", ".join(f'unknown field "{f}"' for f in unknown)
            kind = resource.kind
            raise bad_request(f'{kind} in version "{resource.version}" cannot be handled as a {kind}: strict decoding error: {fields}')
        meta = obj.setdefault("metadata", {})
        if resource.namespaced:
            if meta.get("namespace") not in (None, "", namespace):
                raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        else:
            meta.pop("namespace", None)
        return obj

    def _write(self, resource: Resource, namespace: str, name: str, make: Callable[[Obj], Obj], *, status: bool) -> Obj:
        def build(current: Obj | None) -> Obj | None:
            if current is None:
                raise not_found(resource.group, resource.plural, name)
            new = go_zero_values(resource, _keep_server_fields(resource, current, make(copy.deepcopy(current)), status=status))
            validate(resource, new)
            if resource.kind == "Pod" and status and _stopped_while_deleted(new):
                return None  # docs/protocol.md#12.3: the edge says the pod stopped: the graceful delete ends
            return new

        return self.store.write(resource.key, namespace, name, "MODIFIED", build, dry_run=self.dry_run)

    def _patcher(self, resource: Resource, content_type: str, body: Any) -> Callable[[Obj], Any]:
        kind = content_type.split(";", maxsplit=1)[0].strip()
        if kind == JSON_PATCH:
            return lambda current: json_patch(current, body)
        if kind == MERGE_PATCH:
            return lambda current: merge_patch(current, body)
        if kind == STRATEGIC_PATCH and resource.strategic:
            return lambda current: strategic_merge_patch(current, body)
        accepted = ", ".join([JSON_PATCH, MERGE_PATCH] + ([STRATEGIC_PATCH] if resource.strategic else []))
        text = f"the body of the request was in an unknown format - accepted media types include: {accepted}"
        raise KubeApiError(415, "UnsupportedMediaType", f"{text} (not {kind or 'none'}; {APPLY_PATCH} is not served)")

    def _on_a_node(self, pod: Obj) -> bool:
        node = pod.get("spec", {}).get("nodeName")
        return bool(node) and self.store.get(_NODES.key, "", node) is not None

    def _empty_namespace(self, namespace: str) -> None:
        for resource in RESOURCES:
            if resource.namespaced:
                for item in self.store.objects(resource.key, namespace)[0]:
                    self.store.write(resource.key, namespace, item["metadata"]["name"], "DELETED", lambda _current: None)


def _resource_version(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise bad_request(f"invalid resourceVersion {text!r}: expected a number") from None


def _filtered(change: Change, test: Callable[[Obj], bool]) -> tuple[str, Obj] | None:
    """The event a filtered watch sends: an object entering the selection is ADDED, one leaving it DELETED."""
    now_in = change.type != "DELETED" and test(change.obj)
    was_in = change.old is not None and test(change.old)
    if change.type == "DELETED":
        return ("DELETED", change.obj) if was_in else None
    if now_in:
        return ("MODIFIED" if was_in else "ADDED", change.obj)
    return ("DELETED", change.obj) if was_in else None


#: NodeSystemInfo's fields: Go writes them even when empty, and clients (the official Python one) require them.
_NODE_INFO_FIELDS = (
    "machineID", "systemUUID", "bootID", "kernelVersion", "osImage", "containerRuntimeVersion", "kubeletVersion",
    "kubeProxyVersion", "operatingSystem", "architecture",
)  # fmt: skip


def go_zero_values(resource: Resource, obj: Obj) -> Obj:
    """The fields a Go API server would write as "" although the client left them out."""
    info = obj.get("status", {}).get("nodeInfo") if resource.kind == "Node" else None
    if isinstance(info, dict):
        for field in _NODE_INFO_FIELDS:
            info.setdefault(field, "")
    return obj


def _initial_status(resource: Resource, obj: Obj) -> None:
    if resource.kind == "Pod":
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
    elif resource.kind == "Namespace":
        obj["status"] = {"phase": "Active"}


def _keep_server_fields(resource: Resource, current: Obj, new: Obj, *, status: bool) -> Obj:
    """The object to store: what a client cannot change (identity, timestamps) comes from
    ``current``; through /status only the status changes, through the main endpoint everything
    but the status. The resourceVersion the client sent, if any, must be the stored one."""
    old_meta, meta = current["metadata"], new.setdefault("metadata", {})
    sent_rv = meta.get("resourceVersion")
    if sent_rv not in (None, "") and sent_rv != old_meta.get("resourceVersion"):
        why = "the object has been modified; please apply your changes to the latest version and try again"
        raise conflict(resource.group, resource.plural, old_meta["name"], why)
    if status:
        result = copy.deepcopy(current)
        result["status"] = new.get("status", {})
        return result
    for field in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "namespace"):
        if field in old_meta:
            meta[field] = old_meta[field]
        else:
            meta.pop(field, None)
    if resource.has_status:
        if "status" in current:
            new["status"] = current["status"]
        else:
            new.pop("status", None)
    changed = _spec(new) != _spec(current)
    meta["generation"] = int(old_meta.get("generation", 1)) + (1 if changed else 0)
    return new


def _spec(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def _stopped_while_deleted(pod: Obj) -> bool:
    status = pod.get("status", {})
    if not pod["metadata"].get("deletionTimestamp") or status.get("phase") not in _TERMINAL:
        return False
    states = [s.get("state") or {} for s in status.get("containerStatuses") or []]
    return all("terminated" in s or "waiting" in s for s in states)


__all__ = ["INITIAL_NAMESPACES", "KubeApi", "Selection", "now"]
