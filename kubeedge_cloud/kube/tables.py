"""``Accept: application/json;as=Table;v=v1;g=meta.k8s.io``: the rows ``kubectl get`` prints,
with the columns the Kubernetes API server gives each kind (docs/protocol.md#12.4)."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from kubeedge_cloud.kube.resources import Resource

Obj = dict[str, Any]
Column = tuple[str, str, int, Callable[[Obj], Any]]  # name, type, priority (1: only -o wide), cell


def table(resource: Resource, objects: list[Obj], resource_version: str, include: str) -> Obj:
    """A ``meta.k8s.io/v1`` Table of ``objects``; ``include`` is the request's ``includeObject``."""
    columns = _COLUMNS.get(resource.kind, _DEFAULT)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [
            {"name": name, "type": kind, "format": "name" if name == "Name" else "", "description": name, "priority": priority}
            for name, kind, priority, _cell in columns
        ],
        "rows": [{"cells": [cell(obj) for *_, cell in columns], "object": _row_object(obj, include)} for obj in objects],
    }


def _row_object(obj: Obj, include: str) -> Obj | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata", {})}


def age(timestamp: str | None, now: datetime.datetime | None = None) -> str:
    """Kubernetes' HumanDuration of the time since ``timestamp`` ("<unknown>" without one)."""
    if not timestamp:
        return "<unknown>"
    then = datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    seconds = int(((now or datetime.datetime.now(datetime.UTC)) - then).total_seconds())
    return human_duration(max(seconds, 0))


def human_duration(seconds: int) -> str:
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration, to the second."""
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    steps: list[tuple[bool, int, str, int, str]] = [  # (applies, big, big unit, small, small unit)
        (seconds < 120, seconds, "s", 0, ""),
        (minutes < 10, minutes, "m", seconds % 60, "s"),
        (minutes < 180, minutes, "m", 0, ""),
        (hours < 8, hours, "h", minutes % 60, "m"),
        (hours < 48, hours, "h", 0, ""),
        (hours < 24 * 8, days, "d", hours % 24, "h"),
        (days < 365 * 2, days, "d", 0, ""),
        (days < 365 * 8, days // 365, "y", days % 365, "d"),
        (True, days // 365, "y", 0, ""),
    ]
    _, big, big_unit, small, small_unit = next(step for step in steps if step[0])
    return f"{big}{big_unit}{small}{small_unit}" if small else f"{big}{big_unit}"


def _name(obj: Obj) -> str:
    return str(obj.get("metadata", {}).get("name", ""))


def _age(obj: Obj) -> str:
    return age(obj.get("metadata", {}).get("creationTimestamp"))


def _pod_ready(pod: Obj) -> str:
    statuses = pod.get("status", {}).get("containerStatuses") or []
    total = len(pod.get("spec", {}).get("containers") or [])
    return f"{sum(1 for s in statuses if s.get('ready'))}/{total}"


def pod_status(pod: Obj) -> str:
    """The STATUS column: kubectl's printPod, for the states an edge reports."""
    status = pod.get("status", {})
    reason = status.get("reason") or status.get("phase") or "Pending"
    for container in status.get("containerStatuses") or []:
        state = container.get("state") or {}
        if state.get("waiting", {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif state.get("terminated", {}).get("reason"):
            reason = state["terminated"]["reason"]
        elif "terminated" in state:
            code = state["terminated"].get("exitCode", 0)
            reason = f"ExitCode:{code}"
    if pod.get("metadata", {}).get("deletionTimestamp"):
        reason = "Terminating"
    return str(reason)


def _restarts(pod: Obj) -> int:
    return sum(int(s.get("restartCount", 0)) for s in pod.get("status", {}).get("containerStatuses") or [])


def node_status(node: Obj) -> str:
    """NAME's STATUS as kubectl prints it: Ready when the Ready condition is True, NotReady when it
    is False or Unknown (an edge away), Unknown without one; SchedulingDisabled when cordoned."""
    ready = next((c for c in node.get("status", {}).get("conditions") or [] if c.get("type") == "Ready"), None)
    text = "Unknown" if ready is None else "Ready" if ready.get("status") == "True" else "NotReady"
    if node.get("spec", {}).get("unschedulable"):
        text += ",SchedulingDisabled"
    return text


def node_roles(node: Obj) -> str:
    prefix = "node-role.kubernetes.io/"
    labels = node.get("metadata", {}).get("labels") or {}
    roles = sorted(key[len(prefix) :] for key in labels if key.startswith(prefix) and key[len(prefix) :])
    return ",".join(roles) or "<none>"


def _address(kind: str) -> Callable[[Obj], str]:
    def cell(node: Obj) -> str:
        found = [a.get("address", "") for a in node.get("status", {}).get("addresses") or [] if a.get("type") == kind]
        return found[0] if found else "<none>"

    return cell


def _node_info(field: str, missing: str = "<unknown>") -> Callable[[Obj], str]:
    return lambda node: str(node.get("status", {}).get("nodeInfo", {}).get(field, "") or missing)


def _event_object(event: Obj) -> str:
    involved = event.get("involvedObject", {})
    return f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}"


_NAME: Column = ("Name", "string", 0, _name)
_AGE: Column = ("Age", "string", 0, _age)
_DEFAULT: list[Column] = [_NAME, _AGE]
_COLUMNS: dict[str, list[Column]] = {
    "Pod": [
        _NAME,
        ("Ready", "string", 0, _pod_ready),
        ("Status", "string", 0, pod_status),
        ("Restarts", "string", 0, _restarts),
        _AGE,
        ("IP", "string", 1, lambda pod: pod.get("status", {}).get("podIP") or "<none>"),
        ("Node", "string", 1, lambda pod: pod.get("spec", {}).get("nodeName") or "<none>"),
        ("Nominated Node", "string", 1, lambda pod: pod.get("status", {}).get("nominatedNodeName") or "<none>"),
        ("Readiness Gates", "string", 1, lambda pod: "<none>"),
    ],
    "Node": [
        _NAME,
        ("Status", "string", 0, node_status),
        ("Roles", "string", 0, node_roles),
        _AGE,
        ("Version", "string", 0, _node_info("kubeletVersion", "")),
        ("Internal-IP", "string", 1, _address("InternalIP")),
        ("External-IP", "string", 1, _address("ExternalIP")),
        ("OS-Image", "string", 1, _node_info("osImage")),
        ("Kernel-Version", "string", 1, _node_info("kernelVersion")),
        ("Container-Runtime", "string", 1, _node_info("containerRuntimeVersion")),
    ],
    "Namespace": [_NAME, ("Status", "string", 0, lambda ns: ns.get("status", {}).get("phase", "Active")), _AGE],
    "ConfigMap": [_NAME, ("Data", "integer", 0, lambda cm: len(cm.get("data") or {}) + len(cm.get("binaryData") or {})), _AGE],
    "Secret": [
        _NAME,
        ("Type", "string", 0, lambda s: s.get("type", "Opaque")),
        ("Data", "integer", 0, lambda s: len(s.get("data") or {})),
        _AGE,
    ],
    "Event": [
        ("Last Seen", "string", 0, lambda e: age(e.get("lastTimestamp") or e.get("eventTime"))),
        ("Type", "string", 0, lambda e: e.get("type", "")),
        ("Reason", "string", 0, lambda e: e.get("reason", "")),
        ("Object", "string", 0, _event_object),
        ("Message", "string", 0, lambda e: e.get("message", "")),
    ],
}

__all__ = ["age", "human_duration", "node_roles", "node_status", "pod_status", "table"]
