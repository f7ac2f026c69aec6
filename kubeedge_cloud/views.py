"""What the control API answers with: the rows of ``ctl get`` (built from the controllers'
records) and the result of each object applied or deleted. JSON-ready; ``ctl`` reads them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, NotRequired, TypedDict

from kubeedge_actors.message import Json, JsonObject

if TYPE_CHECKING:  # ctl reads these shapes without loading the stores
    from kubeedge_cloud.manifests import ObjectKey
    from kubeedge_cloud.store import NodeRecord, PodStatusRecord, StoredObject


class ObjectResult(TypedDict):
    """What became of one object of an ``apply`` or ``delete``."""

    kind: str
    namespace: str
    name: str
    action: str  # created | configured | unchanged | deleted | not found
    nodes: list[str]


class NodeRow(TypedDict):
    """A node: its connection, and its last node status (as the edge sent it)."""

    name: str
    connection: str  # connected | disconnected | never connected
    ready: str  # Ready | NotReady | Unknown
    version: str
    status: JsonObject | None
    connected_at: NotRequired[float | None]
    disconnected_at: NotRequired[float | None]
    status_at: NotRequired[float | None]


class PodRow(TypedDict):
    namespace: str
    name: str
    node: str
    phase: str  # the pod's phase, as the edge reports it ("Pending" before any status)
    state: str  # kubectl's STATUS column: the phase, or Init:N/M / Init:<reason> while it initializes
    ready: str  # "<ready>/<containers>"
    restarts: int
    created: str
    status_at: float | None
    status: JsonObject | None
    #: The status' message: what the edge says about the pod (docs/protocol.md#7.11: the fields
    #: edged runs it without); "" when it says nothing.
    message: NotRequired[str]
    #: The pod as applied (``kubeapi`` tells its own by an annotation: docs/protocol.md#12.5).
    object: NotRequired[JsonObject]


class ObjectRow(TypedDict):
    """A configmap or secret: how much data and which nodes it goes to (never the data)."""

    namespace: str
    name: str
    data: int
    nodes: list[str]
    created: str


class TwinRow(TypedDict):
    name: str
    type: str
    desired: str | None
    reported: Json  # as the edge reported it


class DeviceRow(TypedDict):
    namespace: str
    name: str
    node: str
    state: str
    protocol: str  # modbus-tcp | modbus-rtu | opcua | bluetooth | "" (docs/protocol.md#11.1)
    model: str
    twins: list[TwinRow]
    object: JsonObject  # the Device with status.twins[].reported filled in


class DeviceModelRow(TypedDict):
    namespace: str
    name: str
    properties: list[str]
    protocols: list[str]  # of its property visitors
    devices: list[str]  # the devices of its namespace that use it
    created: str
    object: JsonObject


def node_rows(records: Iterable[NodeRecord], pod_nodes: Iterable[str]) -> list[NodeRow]:
    """One row per node that ever connected or that a pod names."""
    rows: dict[str, NodeRow] = {}
    for record in records:
        status = (record.status or {}).get("Status") or {}
        rows[record.name] = {
            "name": record.name,
            "connection": "connected" if record.connected else ("disconnected" if record.connected_at else "never connected"),
            "connected_at": record.connected_at,
            "disconnected_at": record.disconnected_at,
            "ready": _node_ready(status),
            "version": ((status.get("nodeInfo") or {}).get("kubeletVersion")) or "",
            "status_at": record.status_at,
            "status": record.status,
        }
    for name in pod_nodes:
        if name and name not in rows:
            rows[name] = {"name": name, "connection": "never connected", "ready": "Unknown", "version": "", "status": None}
    return [rows[name] for name in sorted(rows)]


def _node_ready(status: JsonObject) -> str:
    for condition in status.get("conditions") or []:
        if isinstance(condition, dict) and condition.get("type") == "Ready":
            return "Ready" if condition.get("status") == "True" else "NotReady"
    return "Unknown"


def pod_rows(pods: Iterable[StoredObject], statuses: dict[tuple[str, str], PodStatusRecord]) -> list[PodRow]:
    rows: list[PodRow] = []
    for pod in pods:
        record = statuses.get((pod.key.namespace, pod.key.name))
        status = (record.status.get("Status") if record else None) or {}
        containers = [c for c in status.get("containerStatuses") or [] if isinstance(c, dict)]
        total = len((pod.body.get("spec") or {}).get("containers") or [])
        rows.append(
            {
                "namespace": pod.key.namespace,
                "name": pod.key.name,
                "node": (pod.body.get("spec") or {}).get("nodeName", ""),
                "phase": str(status.get("phase") or "Pending"),
                "state": status_column(status, len((pod.body.get("spec") or {}).get("initContainers") or [])),
                "ready": f"{sum(1 for c in containers if c.get('ready'))}/{total}",
                "restarts": sum(int(c.get("restartCount") or 0) for c in containers),
                "created": pod.body["metadata"].get("creationTimestamp", ""),
                "status_at": record.updated_at if record else None,
                "status": status or None,
                "message": str(status.get("message") or ""),
                "object": pod.body,
            }
        )
    return rows


def status_column(status: JsonObject, init_total: int) -> str:
    """The phase, or while the pod initializes what kubectl shows for its init containers:
    ``Init:N/M``, ``Init:<reason>`` of one that failed (``Init:Error``) or waits
    (``Init:CrashLoopBackOff``)."""
    phase = str(status.get("phase") or "Pending")
    if phase not in ("Pending", "Failed"):
        return phase
    for index, container in enumerate(status.get("initContainerStatuses") or []):
        state = (container.get("state") if isinstance(container, dict) else None) or {}
        terminated, waiting = state.get("terminated") or {}, state.get("waiting") or {}
        if terminated and terminated.get("exitCode") == 0:
            continue
        if terminated:
            return f"Init:{terminated.get('reason') or 'ExitCode:' + str(terminated.get('exitCode'))}"
        if waiting.get("reason") and waiting["reason"] not in ("PodInitializing", "ContainerCreating"):
            return f"Init:{waiting['reason']}"
        return f"Init:{index}/{init_total}"
    return phase


def object_rows(objects: Iterable[StoredObject], targets: dict[ObjectKey, list[str]]) -> list[ObjectRow]:
    """Configmaps and secrets: how much data and which nodes they go to (never the data)."""
    return [
        {
            "namespace": stored.key.namespace,
            "name": stored.key.name,
            "data": len(stored.body.get("data") or {}) + len(stored.body.get("binaryData") or {}),
            "nodes": targets.get(stored.key, []),
            "created": stored.body["metadata"].get("creationTimestamp", ""),
        }
        for stored in objects
    ]


__all__ = [
    "DeviceModelRow",
    "DeviceRow",
    "NodeRow",
    "ObjectResult",
    "ObjectRow",
    "PodRow",
    "TwinRow",
    "node_rows",
    "object_rows",
    "pod_rows",
    "status_column",
]
