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
from urllib.parse import quote

import kubernetes.client

from kubeedge_actors.errors import KubeEdgeActorsError

logger = logging.getLogger(__name__)

Obj = dict[str, Any]
EDGE_ROLE_LABEL = "node-role.kubernetes.io/edge"
_ATTEMPTS = 5
_TIMEOUT_S = 30
MERGE_PATCH = "application/merge-patch+json"
_TERMINAL = ("Succeeded", "Failed")


class KubeWriteError(KubeEdgeActorsError):
    """The API server answered a write (or its read) with an error status."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        super().__init__(f"{method} {path}: {status} {body[:300]}")
        self.status = status


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class KubeWriter:
    """The controller's writes; any thread may call them (the client's pool is thread-safe).

    Bodies go as JSON through the client's request layer (``param_serialize``, ``call_api``):
    its typed methods would check an edge's status against the models (which require fields
    an edge need not report) before sending it.
    """

    def __init__(self, api_client: kubernetes.client.ApiClient) -> None:
        self.api_client = api_client

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
        path = f"/api/v1/nodes/{quote(name)}"
        for _ in range(_ATTEMPTS):
            node = self._get(path)
            if node is None:
                if not create:
                    return
                # Ours (docs/protocol.md#12.5): an edge that reports gets its Node, labelled as an edge.
                body = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {EDGE_ROLE_LABEL: ""}}}
                self._written("POST", "/api/v1/nodes", body)
                continue
            if EDGE_ROLE_LABEL not in (node["metadata"].get("labels") or {}):
                # An edge must not write the status of a node that is not one (docs/protocol.md#12.5).
                logger.warning("kube-controller: node %s is not labelled %s; its edge's status is not written", name, EDGE_ROLE_LABEL)
                return
            if annotations and any((node["metadata"].get("annotations") or {}).get(k) != v for k, v in annotations.items()):
                self._send("PATCH", path, {"metadata": {"annotations": annotations}}, content_type=MERGE_PATCH)
                continue
            status = change(node)
            if status is None or status == node.get("status"):
                return
            node["status"] = status
            if self._written("PUT", f"{path}/status", node):
                return
        logger.warning("kube-controller: node %s: conflicts %d times in a row; the next report tries again", name, _ATTEMPTS)

    # -- pods -------------------------------------------------------------------------------

    def pod_status(self, node: str, namespace: str, name: str, status: Obj) -> None:
        """The edge's pod status becomes the pod's ``.status``; a terminating pod that stopped is
        then removed (grace 0), as no kubelet does it here (docs/protocol.md#12.3)."""
        path = _pod_path(namespace, name)
        for _ in range(_ATTEMPTS):
            pod = self._get(path)
            if pod is None or (pod.get("spec") or {}).get("nodeName") != node:
                return
            merged = _merged_status(pod.get("status") or {}, status)
            if merged == pod.get("status"):
                return
            pod["status"] = merged
            if self._written("PUT", f"{path}/status", pod):
                if pod["metadata"].get("deletionTimestamp") and _stopped(merged):
                    self.delete_pod_now(namespace, name, pod["metadata"].get("uid"))
                return
        logger.warning("kube-controller: pod %s/%s: conflicts %d times in a row", namespace, name, _ATTEMPTS)

    def delete_pod_now(self, namespace: str, name: str, uid: str | None) -> None:
        """Grace 0, only the pod of that uid (a new pod of the same name stays)."""
        body: Obj = {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0}
        if uid:
            body["preconditions"] = {"uid": uid}
        self._written("DELETE", _pod_path(namespace, name), body)

    def bind(self, namespace: str, name: str, node: str) -> None:
        """The scheduler's choice, through the ``pods/binding`` subresource; a pod bound meanwhile stays where it is."""
        body = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name, "namespace": namespace},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node}}  # fmt: skip
        self._written("POST", f"{_pod_path(namespace, name)}/binding", body)

    def unschedulable(self, namespace: str, name: str, message: str) -> None:
        """``PodScheduled=False``, reason ``Unschedulable``, as kube-scheduler writes it."""
        path = _pod_path(namespace, name)
        for _ in range(_ATTEMPTS):
            pod = self._get(path)
            if pod is None or (pod.get("spec") or {}).get("nodeName") or pod["metadata"].get("deletionTimestamp"):
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
            if self._written("PUT", f"{path}/status", pod):
                return

    # -- devices ----------------------------------------------------------------------------

    def device_status(self, namespace: str, name: str, status: Obj) -> None:
        """The twins' reported values into the Device's ``status`` (docs/protocol.md#11.1): a merge
        patch of the object, as the original's device controller writes it (no status subresource)."""
        path = f"/apis/devices.kubeedge.io/v1alpha1/namespaces/{quote(namespace)}/devices/{quote(name)}"
        device = self._get(path)
        if device is None or device.get("status") == status:
            return
        try:
            self._send("PATCH", path, {"status": status}, content_type=MERGE_PATCH)
        except KubeWriteError as exc:
            if exc.status != 404:
                raise

    # -- the requests -----------------------------------------------------------------------

    def _send(self, method: str, path: str, body: Obj | None = None, *, content_type: str = "application/json") -> Obj:
        """One request; its JSON answer.

        Raises:
            KubeWriteError: any answer but 2xx.
        """
        request = self.api_client.param_serialize(
            method=method,
            resource_path=path,
            header_params={"Content-Type": content_type, "Accept": "application/json"},
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self.api_client.call_api(*request, _request_timeout=_TIMEOUT_S)
        data: bytes = response.response.data
        if not 200 <= response.status <= 299:
            raise KubeWriteError(method, path, response.status, data.decode(errors="replace"))
        return dict(json.loads(data or b"{}"))

    def _get(self, path: str) -> Obj | None:
        """The object, or None when there is none."""
        try:
            return self._send("GET", path)
        except KubeWriteError as exc:
            if exc.status == 404:
                return None
            raise

    def _written(self, method: str, path: str, body: Obj) -> bool:
        """True once written, or when there is nothing left to write: the object went meanwhile
        (404), or a 409 that is not a PUT's (created or bound meanwhile, or a delete's uid that
        is no longer the pod's). False on a PUT's conflict: read again and retry."""
        try:
            self._send(method, path, body)
            return True
        except KubeWriteError as exc:
            if exc.status == 404:
                return True
            if exc.status == 409:
                return method != "PUT"
            raise


def _pod_path(namespace: str, name: str) -> str:
    return f"/api/v1/namespaces/{quote(namespace)}/pods/{quote(name)}"


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
