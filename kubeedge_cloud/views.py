"""What ``ctl get`` shows, as JSON-ready rows built from the controller's records."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kubeedge_cloud.manifests import ObjectKey
from kubeedge_cloud.store import NodeRecord, PodStatusRecord, StoredObject


def node_rows(records: Iterable[NodeRecord], pod_nodes: Iterable[str]) -> list[dict[str, Any]]:
    """One row per node that ever connected or that a pod names."""
    rows: dict[str, dict[str, Any]] = {}
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


def _node_ready(status: dict[str, Any]) -> str:
    for condition in status.get("conditions") or []:
        if isinstance(condition, dict) and condition.get("type") == "Ready":
            return "Ready" if condition.get("status") == "True" else "NotReady"
    return "Unknown"


def pod_rows(pods: Iterable[StoredObject], statuses: dict[tuple[str, str], PodStatusRecord]) -> list[dict[str, Any]]:
    rows = []
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
                "phase": status.get("phase") or "Pending",
                "ready": f"{sum(1 for c in containers if c.get('ready'))}/{total}",
                "restarts": sum(int(c.get("restartCount") or 0) for c in containers),
                "created": pod.body["metadata"].get("creationTimestamp", ""),
                "status_at": record.updated_at if record else None,
                "status": status or None,
            }
        )
    return rows


def object_rows(objects: Iterable[StoredObject], targets: dict[ObjectKey, list[str]]) -> list[dict[str, Any]]:
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


__all__ = ["node_rows", "object_rows", "pod_rows"]
