"""The scheduler for pods without ``spec.nodeName`` (issue 15, item 3): pure functions over the
controller's cache (docs/protocol.md#12.5).

A node fits when it is an edge node, its ``Ready`` condition is ``True``, its labels match the
pod's ``nodeSelector``, and the pod's requests (cpu, memory, and any other resource it names)
fit in the node's allocatable minus what its pods already request. Of the nodes that fit, the
least loaded wins: the highest fraction of cpu or memory requested once the pod is there,
then the number of pods, then the name (so a tie is decided the same way every time).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kubernetes.utils import parse_quantity

Obj = dict[str, Any]
_TERMINAL = ("Succeeded", "Failed")


@dataclass(frozen=True)
class Placement:
    """``node`` chosen, or None with ``reason`` (the ``PodScheduled=False`` message)."""

    node: str | None
    reason: str = ""


def requests_of(pod: Obj) -> dict[str, Decimal]:
    """The pod's requests: the sum over its containers, or the largest init container's if larger."""
    spec = pod.get("spec") or {}
    total: dict[str, Decimal] = {}
    for container in spec.get("containers") or []:
        for name, value in ((container.get("resources") or {}).get("requests") or {}).items():
            total[name] = total.get(name, Decimal(0)) + _quantity(value)
    for container in spec.get("initContainers") or []:
        for name, value in ((container.get("resources") or {}).get("requests") or {}).items():
            total[name] = max(total.get(name, Decimal(0)), _quantity(value))
    return total


def place(pod: Obj, nodes: Iterable[Obj], pods: Iterable[Obj]) -> Placement:
    """Where ``pod`` goes among the edge ``nodes``, given the ``pods`` already bound."""
    wanted = requests_of(pod)
    selector: Mapping[str, str] = (pod.get("spec") or {}).get("nodeSelector") or {}
    used: dict[str, dict[str, Decimal]] = {}
    counts: dict[str, int] = {}
    for other in pods:
        node = (other.get("spec") or {}).get("nodeName")
        if node and (other.get("status") or {}).get("phase") not in _TERMINAL:
            counts[node] = counts.get(node, 0) + 1
            for name, value in requests_of(other).items():
                used.setdefault(node, {})[name] = used.get(node, {}).get(name, Decimal(0)) + value
    candidates: list[tuple[Decimal, int, str]] = []
    not_ready = mismatched = short = 0
    for node in nodes:
        name = node["metadata"]["name"]
        if not _ready(node):
            not_ready += 1
        elif any((node["metadata"].get("labels") or {}).get(k) != v for k, v in selector.items()):
            mismatched += 1
        elif (load := _load_after(node, used.get(name, {}), wanted)) is None:
            short += 1
        else:
            candidates.append((load, counts.get(name, 0), name))
    if candidates:
        return Placement(min(candidates)[2])
    total = not_ready + mismatched + short
    if total == 0:
        return Placement(None, "0/0 nodes are available: no edge node.")
    reasons = ((not_ready, "node(s) not ready"), (mismatched, "node(s) didn't match Pod's node affinity/selector"),
               (short, "node(s) had insufficient resources"))  # fmt: skip
    parts = [f"{n} {why}" for n, why in reasons if n]
    return Placement(None, f"0/{total} nodes are available: {', '.join(parts)}.")


def _load_after(node: Obj, used: Mapping[str, Decimal], wanted: Mapping[str, Decimal]) -> Decimal | None:
    """The node's highest cpu or memory fraction with the pod on it; None when a request does not fit."""
    allocatable = {k: _quantity(v) for k, v in ((node.get("status") or {}).get("allocatable") or {}).items()}
    load = Decimal(0)
    for name, value in wanted.items():
        if value and value + used.get(name, Decimal(0)) > allocatable.get(name, Decimal(0)):
            return None
    for name in ("cpu", "memory"):
        if allocatable.get(name):
            load = max(load, (used.get(name, Decimal(0)) + wanted.get(name, Decimal(0))) / allocatable[name])
    return load


def _ready(node: Obj) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions if isinstance(c, dict))


def _quantity(value: Any) -> Decimal:
    try:
        return Decimal(parse_quantity(value))  # type: ignore[no-untyped-call]
    except (ValueError, TypeError):
        return Decimal(0)


__all__ = ["Placement", "place", "requests_of"]
