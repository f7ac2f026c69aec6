"""Status bookkeeping (docs/protocol.md#7.5). Pod status: computed on every change, sent to meta only when
it changed, sent again when meta did not store it, and listed on ``GET /pods`` (docs/protocol.md#7.7).
Node status: sent on a timer, keeping its Ready condition's transition time."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from actors.edged.model import ContainerInfo
from actors.edged.node import HostFacts, node_status_body
from actors.edged.pods import Pod, Problem
from actors.edged.status import pod_status
from actors.edged.timefmt import now_k8s
from kubeedge_actors.message import Message
from kubeedge_actors.metrics import labelled

logger = logging.getLogger(__name__)

#: Kubernetes' pod phases, always shown so that a phase at 0 is a series at 0, not a gap.
POD_PHASES = ("Pending", "Running", "Succeeded", "Failed", "Unknown")
#: Docker states always shown (the others appear when a container is in them).
CONTAINER_STATES = ("created", "running", "exited")


class PodReports:
    """For each pod uid: when edged first saw it, its last computed and its last sent status."""

    def __init__(self) -> None:
        self._start_times: dict[str, str] = {}
        self._computed: dict[str, dict[str, Any]] = {}
        self._sent: dict[str, dict[str, Any]] = {}

    def pod_seen(self, uid: str) -> None:
        self._start_times.setdefault(uid, now_k8s())

    def forget(self, uid: str) -> None:
        for state in (self._start_times, self._computed, self._sent):
            state.pop(uid, None)

    def changed_status(
        self, pod: Pod, containers: Sequence[ContainerInfo], waiting: Mapping[str, Problem], host_ip: str
    ) -> dict[str, Any] | None:
        """The pod's status now, or None when it is what was last sent."""
        status = pod_status(
            pod,
            containers,
            waiting,
            host_ip=host_ip,
            start_time=self._start_times.get(pod.uid, ""),
            now=now_k8s(),
            previous=self._computed.get(pod.uid),
        )
        self._computed[pod.uid] = status
        if status == self._sent.get(pod.uid):
            return None
        self._sent[pod.uid] = status
        return status

    def not_stored(self, uid: str, status: dict[str, Any]) -> None:
        """meta did not take ``status``: the next report sends it again."""
        if self._sent.get(uid) is status:
            del self._sent[uid]

    def phases(self, uids: Iterable[str]) -> Counter[str]:
        """How many of these pods are in each phase (Pending until a status was computed)."""
        return Counter(self._computed.get(uid, {}).get("phase", "Pending") for uid in uids)

    def pod_list(self, pods: Iterable[Pod]) -> list[dict[str, Any]]:
        """The items of ``GET /pods``: each pod with its last status, and the namespace and uid
        edged runs it under (filled in when the cloud sent none)."""
        return [{**pod.raw, "metadata": _metadata(pod), "status": self._computed.get(pod.uid, {})} for pod in pods]


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


__all__ = ["CONTAINER_STATES", "POD_PHASES", "NodeReports", "PodReports", "edged_figures"]
