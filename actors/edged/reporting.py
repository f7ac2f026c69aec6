"""Status bookkeeping (docs/protocol.md#7.5). Pod status: computed on every change, sent to meta only when
it changed, sent again when meta did not store it, and listed on ``GET /pods`` (docs/protocol.md#7.7);
what was computed and sent lives in the pod's record. Node status: sent on a timer, keeping its
Ready condition's transition time."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from actors.edged.model import ContainerInfo
from actors.edged.node import HostFacts, node_status_body
from actors.edged.pods import Pod, Problem
from actors.edged.probes import ProbeView
from actors.edged.records import PodRecord
from actors.edged.status import pod_status
from actors.edged.timefmt import now_k8s
from kubeedge_actors.message import Message
from kubeedge_actors.metrics import labelled

logger = logging.getLogger(__name__)

#: Kubernetes' pod phases, always shown so that a phase at 0 is a series at 0, not a gap.
POD_PHASES = ("Pending", "Running", "Succeeded", "Failed", "Unknown")
#: Docker states always shown (the others appear when a container is in them).
CONTAINER_STATES = ("created", "running", "exited")


def changed_status(record: PodRecord, containers: Sequence[ContainerInfo], host_ip: str) -> dict[str, Any] | None:
    """The live pod's status now, or None when it is what was last sent (the record keeps both)."""
    assert record.pod is not None
    status = pod_status(
        record.pod,
        containers,
        record.waiting,
        host_ip=host_ip,
        start_time=record.start_time,
        now=now_k8s(),
        previous=record.status,
        probed={name: ProbeView(p.container_id, p.started, p.ready) for name, p in record.probes.items()},
    )
    record.status = status
    if status == record.sent:
        return None
    record.sent = status
    return status


def status_answered(record: PodRecord, status: dict[str, Any], request_id: str, reply: Message | None, error: BaseException | None) -> None:
    """meta's answer to pod status ``request_id``: one it did not store is sent again at the next report."""
    if error is None and reply is not None and not reply.is_error:
        return
    reason = error if error is not None else reply.content if reply is not None else "no reply"
    logger.warning("edged: pod status %s not stored by meta (%s); resent at the next poll", request_id, reason)
    if record.sent is status:
        record.sent = None


def phases(records: Iterable[PodRecord]) -> Counter[str]:
    """How many of these pods are in each phase (Pending until a status was computed)."""
    return Counter((record.status or {}).get("phase", "Pending") for record in records)


def pod_list(records: Iterable[PodRecord]) -> list[dict[str, Any]]:
    """The items of ``GET /pods``: each live pod with its last status, and the namespace and
    uid edged runs it under (filled in when the cloud sent none)."""
    return [
        {**record.pod.raw, "metadata": _metadata(record.pod), "status": record.status or {}} for record in records if record.pod is not None
    ]


def _metadata(pod: Pod) -> dict[str, Any]:
    metadata = pod.raw.get("metadata")
    return {**(metadata if isinstance(metadata, dict) else {}), "namespace": pod.namespace, "uid": pod.uid}


class NodeReports:
    """The node status last built (its Ready condition keeps its transition time) and whether
    meta stored the last one sent (a failure is logged when it starts and when it ends)."""

    def __init__(self) -> None:
        self._body: dict[str, Any] | None = None
        self._failing = False

    def body(
        self, facts: HostFacts, *, docker_version: str | None, docker_error: str, kubelet_version: str, server_port: int
    ) -> dict[str, Any]:
        """The node status to send now."""
        self._body = node_status_body(
            facts,
            docker_version=docker_version,
            docker_error=docker_error,
            kubelet_version=kubelet_version,
            server_port=server_port,
            now=now_k8s(),
            previous=self._body,
        )
        return self._body

    def answered(self, request_id: str, reply: Message | None, error: BaseException | None) -> None:
        """meta's answer to node status ``request_id``."""
        failed = error is not None or reply is None or reply.is_error
        if failed and not self._failing:
            logger.warning("edged: node status %s not stored by meta: %s", request_id, error or (reply.content if reply else ""))
        elif not failed and self._failing:
            logger.info("edged: node status stored by meta again (%s)", request_id)
        self._failing = failed


def edged_figures(
    phases: Counter[str], containers: Iterable[ContainerInfo], waiting: Iterable[Mapping[str, Problem]], **gauges: float
) -> dict[str, float]:
    """The metrics endpoint's figures: pods by phase, containers by Docker state, containers
    waiting by reason (CrashLoopBackOff, ImagePullBackOff...), and the ``gauges`` given."""
    figures = {labelled("pods", phase=phase): float(phases.get(phase, 0)) for phase in POD_PHASES}
    for phase in set(phases) - set(POD_PHASES):
        figures[labelled("pods", phase=phase)] = float(phases[phase])
    states = Counter(container.status for container in containers)
    for state in (*CONTAINER_STATES, *(s for s in states if s not in CONTAINER_STATES)):
        figures[labelled("containers", state=state)] = float(states.get(state, 0))
    reasons = Counter(problem.reason for problems in waiting for problem in problems.values())
    for reason, count in reasons.items():
        figures[labelled("containers_waiting", reason=reason)] = float(count)
    figures.update(gauges)
    return figures


__all__ = ["CONTAINER_STATES", "POD_PHASES", "NodeReports", "changed_status", "edged_figures", "phases", "pod_list", "status_answered"]
