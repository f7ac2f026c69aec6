"""The adapter between the embedded API server and the cloud side's controller
(docs/architecture.md#1.5, docs/protocol.md#12.4).

The controller's input stays what it was: ``apply``, ``delete`` and ``list`` requests (group
``api``, as ``ctl``'s). One thread of its own, the bridge, owns all of its state and does two
things in turn:

- **down**: every change of a pod on a node, a configmap or a secret in the API server becomes
  an ``apply`` (added, modified) or a ``delete`` (deleted, or a pod given a
  ``deletionTimestamp``); a pod's status-only changes are not sent (docs/protocol.md#12.2).
- **up**: every ``kube.status-interval`` it lists the controller's nodes and pods and writes
  what the edges reported into the API server: a Node per edge (created with the label
  ``node-role.kubernetes.io/edge: ""`` when missing), its ``.status`` from the edge's node
  status with ``Ready`` turned ``Unknown`` while the edge is away, and each pod's ``.status``.
  A pod being deleted is removed from the API server once the controller has taken the delete
  on and its node is connected (the controller keeps the delete until the edge acknowledges
  it, across reconnects and restarts).
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from typing import Any

from kubeedge_actors import Message, Router
from kubeedge_actors.errors import DeadLetterError, DeliveryError, KubeEdgeActorsError
from kubeedge_cloud.kube.api import KubeApi, Selection, now
from kubeedge_cloud.kube.errors import KubeApiError
from kubeedge_cloud.kube.resources import find_resource
from kubeedge_cloud.kube.store import Change, Obj
from kubeedge_cloud.names import API_GROUP, CONTROLLER_MODULE, ApiOperation

logger = logging.getLogger(__name__)

EDGE_ROLE_LABEL = "node-role.kubernetes.io/edge"
_ASK_TIMEOUT_S = 30.0
_KINDS = {"pods": "Pod", "configmaps": "ConfigMap", "secrets": "Secret"}
_NODES = find_resource("", "v1", "nodes")
_PODS = find_resource("", "v1", "pods")
#: What the controller need not see: the server's bookkeeping and the status (which is the edge's).
_NOT_SENT_METADATA = ("resourceVersion", "generation", "managedFields", "selfLink")


class BridgeError(KubeEdgeActorsError):
    """The controller refused or did not answer a request of the bridge (logged, then retried)."""


class KubeBridge:
    """Runs on its own thread between :meth:`start` and :meth:`stop`."""

    def __init__(self, api: KubeApi, router: Router, status_interval_s: float) -> None:
        self.api = api
        self.router = router
        self.status_interval_s = status_interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._since = 0
        self._connected: set[str] = set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="kube-bridge", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    # -- the loop ----------------------------------------------------------------------------

    def _run(self) -> None:
        resync, next_status = True, 0.0
        while not self._stop.is_set():
            try:
                if resync:
                    self._resync()
                    resync = False
                if time.monotonic() >= next_status:
                    self._status_up()
                    next_status = time.monotonic() + self.status_interval_s
                self._changes_down(min(0.5, self.status_interval_s))
            except KubeApiError as exc:
                if exc.code == 503:
                    return  # the API server stops
                resync = exc.code == 410  # the changes went past the window: send everything again
                if not resync:
                    logger.warning("kube-bridge: %s", exc)
            except BridgeError as exc:
                logger.warning("kube-bridge: %s; trying again", exc)
                self._stop.wait(1.0)
            except Exception:  # a bug must not end the bridge: it says so and goes on
                logger.exception("kube-bridge: failed; trying again")
                self._stop.wait(1.0)

    def _resync(self) -> None:
        self._since = self.api.store.resource_version
        for plural in _KINDS:
            resource = find_resource("", "v1", plural)
            assert resource is not None
            for obj in self.api.list(resource, None, Selection())[0]:
                self._forward(Change(0, plural, obj["metadata"].get("namespace", ""), "ADDED", obj, None))

    def _changes_down(self, wait_s: float) -> None:
        changes, self._since = self.api.store.changes(None, None, self._since, wait_s)
        for change in changes:
            if change.resource in _KINDS:
                self._forward(change)

    # -- down: the API server's objects to the controller -------------------------------------

    def _forward(self, change: Change) -> None:
        obj, kind = change.obj, _KINDS[change.resource]
        if kind == "Pod" and not obj.get("spec", {}).get("nodeName"):
            return  # no node yet: nothing for an edge (the scheduler's, later)
        meta = obj["metadata"]
        if change.type == "DELETED" or meta.get("deletionTimestamp"):
            self._ask(ApiOperation.DELETE, {"kind": kind, "namespace": meta.get("namespace", ""), "name": meta["name"]})
            if kind == "Pod" and change.type != "DELETED":
                self._finish_delete(obj)
        elif change.old is None or _sent_part(change.old) != _sent_part(obj):
            self._ask(ApiOperation.APPLY, {"objects": [_sent_part(obj)]})

    def _finish_delete(self, pod: Obj) -> None:
        """The controller has the delete; once the node is connected the edge gets it: the pod goes."""
        if pod["spec"]["nodeName"] in self._connected:
            meta = pod["metadata"]
            try:
                assert _PODS is not None
                self.api.delete(_PODS, meta.get("namespace", ""), meta["name"], 0)
            except KubeApiError as exc:
                if exc.code != 404:
                    raise

    # -- up: what the edges report to the API server ------------------------------------------

    def _status_up(self) -> None:
        nodes = self._ask(ApiOperation.LIST, {"namespace": None}, resource="nodes").get("items") or []
        self._connected = {row["name"] for row in nodes if row.get("connection") == "connected"}
        for row in nodes:
            if row.get("connection") != "never connected":
                self._node_up(row)
        for row in self._ask(ApiOperation.LIST, {"namespace": None}, resource="pods").get("items") or []:
            if row.get("status"):
                self._pod_up(row)
        assert _PODS is not None
        for pod in self.api.list(_PODS, None, Selection())[0]:
            if pod["metadata"].get("deletionTimestamp") and pod.get("spec", {}).get("nodeName"):
                self._finish_delete(pod)

    def _node_up(self, row: dict[str, Any]) -> None:
        assert _NODES is not None
        name = row["name"]
        try:
            node = self.api.get(_NODES, "", name)
        except KubeApiError as exc:
            if exc.code != 404:
                raise
            node = self.api.create(_NODES, "", {"metadata": {"name": name, "labels": {EDGE_ROLE_LABEL: ""}}})
        reported = (row.get("status") or {}).get("Status")
        status = copy.deepcopy(reported) if isinstance(reported, dict) else {}
        if row.get("connection") != "connected":
            if _ready_of(node.get("status") or {}) == "Unknown":
                return  # already marked; its lastTransitionTime stays
            _ready_unknown(status)
        if node.get("status") != status:
            self.api.update(_NODES, "", name, {**node, "status": status}, status=True)

    def _pod_up(self, row: dict[str, Any]) -> None:
        assert _PODS is not None
        try:
            pod = self.api.get(_PODS, row["namespace"], row["name"])
        except KubeApiError as exc:
            if exc.code == 404:
                return
            raise
        if pod.get("spec", {}).get("nodeName") != row["node"] or pod.get("status") == row["status"]:
            return
        self.api.update(_PODS, row["namespace"], row["name"], {**pod, "status": row["status"]}, status=True)

    # -- the controller ---------------------------------------------------------------------

    def _ask(self, operation: ApiOperation, content: dict[str, Any], resource: str = "") -> dict[str, Any]:
        request = Message.new(source="kubeapi", group=API_GROUP, operation=operation, resource=resource, content=content)
        try:
            reply = self.router.send_sync(CONTROLLER_MODULE, request, _ASK_TIMEOUT_S).result(_ASK_TIMEOUT_S + 5)
        except (DeadLetterError, DeliveryError, TimeoutError) as exc:
            raise BridgeError(f"the controller did not answer {operation} {resource}: {exc}") from exc
        if reply.is_error:
            logger.warning("kube-bridge: the controller refused %s: %s", operation, reply.content)
            return {}
        return reply.content if isinstance(reply.content, dict) else {}


def _sent_part(obj: Obj) -> Obj:
    sent = {k: copy.deepcopy(v) for k, v in obj.items() if k != "status"}
    for field in _NOT_SENT_METADATA:
        sent["metadata"].pop(field, None)
    return sent


def _ready_of(status: Obj) -> str | None:
    ready = next((c for c in status.get("conditions") or [] if isinstance(c, dict) and c.get("type") == "Ready"), None)
    return ready.get("status") if ready else None


def _ready_unknown(status: Obj) -> None:
    """The edge is away: its Ready condition becomes Unknown, as Kubernetes' node lifecycle controller does."""
    conditions = status.setdefault("conditions", [])
    ready = next((c for c in conditions if isinstance(c, dict) and c.get("type") == "Ready"), None)
    if ready is None:
        ready = {"type": "Ready"}
        conditions.append(ready)
    if ready.get("status") != "Unknown":
        ready.update({"status": "Unknown", "reason": "NodeStatusUnknown", "message": "The edge is not connected.",
                      "lastTransitionTime": now()})  # fmt: skip


__all__ = ["EDGE_ROLE_LABEL", "BridgeError", "KubeBridge"]
