"""What the controller writes into the Kubernetes API, through the official client only
(docs/protocol.md#12.3, #12.5). Each function is one slow job for a worker thread.

A status write reads the object, changes it and PUTs it with the resourceVersion it read; a
``409 Conflict`` (someone wrote in between) reads again and retries, up to five times. A
``404`` means the object went meanwhile: nothing to write, not an error.
"""

from __future__ import annotations

import copy
import datetime
import json
import logging
from collections.abc import Callable
from typing import Any

import kubernetes.client
from kubernetes.client.exceptions import ApiException

logger = logging.getLogger(__name__)

Obj = dict[str, Any]
EDGE_ROLE_LABEL = "node-role.kubernetes.io/edge"
_ATTEMPTS = 5
_TERMINAL = ("Succeeded", "Failed")


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class KubeWriter:
    """The controller's writes; any thread may call them (the client's pool is thread-safe)."""

    def __init__(self, api_client: kubernetes.client.ApiClient) -> None:
        self.core = kubernetes.client.CoreV1Api(api_client)

    # -- nodes ------------------------------------------------------------------------------

    def node_status(self, name: str, report: Obj) -> None:
        """The edge's node status becomes the Node's ``.status`` (created, labelled, when missing)."""
        reported = report.get("Status")
        status = copy.deepcopy(reported) if isinstance(reported, dict) else {}
        annotations = {resource: json.dumps(items) for resource, items in (report.get("ExtendResources") or {}).items()}
        self._update_node(name, lambda _node: status, annotations, create=True)

    def node_away(self, name: str) -> None:
        """The edge's link is down: Ready becomes ``Unknown`` (once; its transition time kept after)."""

        def away(node: Obj) -> Obj | None:
            status = copy.deepcopy(node.get("status") or {})
            conditions = status.setdefault("conditions", [])
            ready = next((c for c in conditions if isinstance(c, dict) and c.get("type") == "Ready"), None)
            if ready is None:
                ready = {"type": "Ready"}
                conditions.append(ready)
            elif ready.get("status") == "Unknown":
                return None
            ready.update({"status": "Unknown", "reason": "NodeStatusUnknown", "message": "The edge is not connected.",
                          "lastTransitionTime": now(), "lastHeartbeatTime": ready.get("lastHeartbeatTime") or now()})  # fmt: skip
            return status

        self._update_node(name, away, {}, create=False)

    def _update_node(self, name: str, change: Callable[[Obj], Obj | None], annotations: dict[str, str], *, create: bool) -> None:
        for _ in range(_ATTEMPTS):
            node = _read(self.core.read_node, name)
            if node is None:
                if not create:
                    return
                # Ours (docs/protocol.md#12.1): an edge that reports gets its Node, labelled as an edge.
                body = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {EDGE_ROLE_LABEL: ""}}}
                _created(self.core.create_node, body)
                continue
            if EDGE_ROLE_LABEL not in (node["metadata"].get("labels") or {}):
                # An edge must not write the status of a node that is not one (docs/protocol.md#12.1).
                logger.warning("kube-controller: node %s is not labelled %s; its edge's status is not written", name, EDGE_ROLE_LABEL)
                return
            if annotations and any(node["metadata"].get("annotations", {}).get(k) != v for k, v in annotations.items()):
                patch = {"metadata": {"annotations": annotations}}
                self.core.patch_node(name, patch, _content_type="application/merge-patch+json", _preload_content=False)
                continue
            status = change(node)
            if status is None or status == node.get("status"):
                return
            node["status"] = status
            if _written(self.core.replace_node_status, name, node):
                return
        logger.warning("kube-controller: node %s: conflicts %d times in a row; the next report tries again", name, _ATTEMPTS)

    # -- pods -------------------------------------------------------------------------------

    def pod_status(self, node: str, namespace: str, name: str, status: Obj) -> None:
        """The edge's pod status becomes the pod's ``.status``; a terminating pod that stopped is
        then removed (grace 0), as no kubelet does it here (docs/protocol.md#12.3)."""
        for _ in range(_ATTEMPTS):
            pod = _read(self.core.read_namespaced_pod, name, namespace)
            if pod is None or (pod.get("spec") or {}).get("nodeName") != node:
                return
            merged = _merged_status(pod.get("status") or {}, status)
            if merged == pod.get("status"):
                return
            pod["status"] = merged
            if _written(self.core.replace_namespaced_pod_status, name, namespace, pod):
                if pod["metadata"].get("deletionTimestamp") and _stopped(merged):
                    self.delete_pod_now(namespace, name, pod["metadata"].get("uid"))
                return
        logger.warning("kube-controller: pod %s/%s: conflicts %d times in a row", namespace, name, _ATTEMPTS)

    def delete_pod_now(self, namespace: str, name: str, uid: str | None) -> None:
        """Grace 0, only the pod of that uid (a new pod of the same name stays)."""
        body = kubernetes.client.V1DeleteOptions(grace_period_seconds=0, preconditions=kubernetes.client.V1Preconditions(uid=uid))
        try:
            self.core.delete_namespaced_pod(name, namespace, body=body, _preload_content=False)
        except ApiException as exc:
            if exc.status not in (404, 409):
                raise

    def bind(self, namespace: str, name: str, node: str) -> None:
        """The scheduler's choice, through the ``pods/binding`` subresource; a pod bound meanwhile stays where it is."""
        body = kubernetes.client.V1Binding(
            metadata=kubernetes.client.V1ObjectMeta(name=name, namespace=namespace),
            target=kubernetes.client.V1ObjectReference(api_version="v1", kind="Node", name=node),
        )
        try:
            self.core.create_namespaced_pod_binding(name, namespace, body, _preload_content=False)
        except ApiException as exc:
            if exc.status not in (404, 409):
                raise

    def unschedulable(self, namespace: str, name: str, message: str) -> None:
        """``PodScheduled=False``, reason ``Unschedulable``, as kube-scheduler writes it."""
        for _ in range(_ATTEMPTS):
            pod = _read(self.core.read_namespaced_pod, name, namespace)
            if pod is None or (pod.get("spec") or {}).get("nodeName"):
                return
            status = copy.deepcopy(pod.get("status") or {})
            conditions = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
            old: Obj = next((c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), {})
            if old.get("status") == "False" and old.get("message") == message:
                return
            since = old.get("lastTransitionTime") if old.get("status") == "False" else now()
            condition = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message,
                         "lastProbeTime": None, "lastTransitionTime": since}  # fmt: skip
            status["conditions"] = [*conditions, condition]
            pod["status"] = status
            if _written(self.core.replace_namespaced_pod_status, name, namespace, pod):
                return


def _read(call: Callable[..., Any], *args: Any) -> Obj | None:
    """The object as JSON, or None when there is none."""
    try:
        return dict(json.loads(call(*args, _preload_content=False).data))
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def _written(call: Callable[..., Any], *args: Any) -> bool:
    """True once written; False on a conflict (read again and retry)."""
    try:
        call(*args, _preload_content=False)
        return True
    except ApiException as exc:
        if exc.status == 409:
            return False
        if exc.status == 404:
            return True  # gone meanwhile: nothing left to write
        raise


def _created(call: Callable[..., Any], *args: Any) -> bool:
    try:
        call(*args, _preload_content=False)
        return True
    except ApiException as exc:
        if exc.status == 409:
            return False  # created meanwhile
        raise


def _merged_status(stored: Obj, reported: Obj) -> Obj:
    """The edge's status, keeping what the API already had where the edge says nothing new
    (docs/protocol.md#12.3): ``startTime``, and the transition time of an unchanged condition."""
    merged = copy.deepcopy(reported)
    if stored.get("startTime") and not merged.get("startTime"):
        merged["startTime"] = stored["startTime"]
    before = {c.get("type"): c for c in stored.get("conditions") or [] if isinstance(c, dict)}
    for condition in merged.get("conditions") or []:
        old = before.get(condition.get("type"))
        if old is not None and old.get("status") == condition.get("status") and old.get("lastTransitionTime"):
            condition["lastTransitionTime"] = old["lastTransitionTime"]
    return merged


def _stopped(status: Obj) -> bool:
    if status.get("phase") not in _TERMINAL:
        return False
    states = [s.get("state") or {} for s in status.get("containerStatuses") or []]
    return all("terminated" in s or "waiting" in s for s in states)


__all__ = ["EDGE_ROLE_LABEL", "KubeWriter"]
