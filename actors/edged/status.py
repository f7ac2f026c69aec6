"""A pod's v1.PodStatus from its containers, as Kubernetes defines phase, conditions and
container states (docs/protocol.md#7.5), and the body edged sends meta for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from actors.edged.lifecycle import newest_first
from actors.edged.model import ContainerInfo
from actors.edged.pods import ContainerSpec, Pod, Problem
from actors.edged.support import status_message
from actors.edged.timefmt import docker_to_k8s


def pod_status_body(pod: Pod, status: dict[str, Any]) -> dict[str, Any]:
    """docs/protocol.md#7.5: Go field names without JSON tags, so the keys are capitalised."""
    return {"UID": pod.uid, "Name": pod.name, "Status": status}


def pod_status(
    pod: Pod,
    containers: Sequence[ContainerInfo],
    waiting: Mapping[str, Problem],
    *,
    host_ip: str,
    start_time: str,
    now: str,
    previous: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The v1.PodStatus of ``pod``.

    Args:
        containers: every container of the pod Docker has (any state).
        waiting: why a container that is not running waits (back-off, pull error, bad spec).
        previous: the status reported before, to keep condition transition times.
        now: the time to stamp on conditions that change now.
    """
    by_name: dict[str, list[ContainerInfo]] = {}
    for container in containers:
        by_name.setdefault(container.container_name, []).append(container)
    statuses = [
        container_status(spec, newest_first(by_name.get(spec.name, [])), waiting.get(spec.name), pod.terminating) for spec in pod.containers
    ]
    phase = pod_phase(pod.restart_policy, statuses, len(pod.containers))
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": _conditions(phase, statuses, previous, now),
        "hostIP": host_ip,
        "podIP": host_ip,  # host networking (docs/protocol.md#7.5)
        "podIPs": [{"ip": host_ip}] if host_ip else [],
        "startTime": start_time,
        "containerStatuses": statuses,
        "qosClass": qos_class(pod.containers),
    }
    if pod.problem is not None and not pod.containers:
        status["reason"], status["message"] = pod.problem.reason, pod.problem.message
    if pod.visible_notes and "message" not in status:  # docs/protocol.md#7.11: what it runs without, named
        status["message"] = status_message(pod.visible_notes)
    return status


def container_status(spec: ContainerSpec, owned: Sequence[ContainerInfo], waiting: Problem | None, terminating: bool) -> dict[str, Any]:
    latest = owned[0] if owned else None
    previous = owned[1] if len(owned) > 1 else None
    state: dict[str, Any]
    last_state: dict[str, Any] = {}
    if latest is not None and latest.is_running:
        state = {"running": {"startedAt": docker_to_k8s(latest.started_at)}}
        last_state = _terminated(previous) if previous is not None else {}
    elif latest is not None and not latest.never_started and (waiting is None or terminating):
        state = _terminated(latest)
        last_state = _terminated(previous) if previous is not None else {}
    else:
        problem = waiting or Problem("ContainerCreating", "")
        state = {"waiting": {"reason": problem.reason, **({"message": problem.message} if problem.message else {})}}
        if latest is not None and not latest.never_started:
            last_state = _terminated(latest)
    running = "running" in state
    status: dict[str, Any] = {
        "name": spec.name,
        "state": state,
        "lastState": last_state,
        "ready": running and not terminating,
        "restartCount": latest.restart_count if latest is not None else 0,
        "image": spec.image,
        "imageID": f"docker://{latest.image_id}" if latest is not None and latest.image_id else "",
        "started": running,
    }
    if latest is not None:
        status["containerID"] = f"docker://{latest.id}"
    return status


def _terminated(container: ContainerInfo) -> dict[str, Any]:
    exit_code = container.exit_code
    if container.oom_killed:
        reason = "OOMKilled"
    elif container.error:
        reason, exit_code = "ContainerCannotRun", exit_code or 128
    else:
        reason = "Completed" if exit_code == 0 else "Error"
    terminated: dict[str, Any] = {"exitCode": exit_code, "reason": reason}
    if container.error:
        terminated["message"] = container.error
    terminated["startedAt"] = docker_to_k8s(container.started_at)
    terminated["finishedAt"] = docker_to_k8s(container.finished_at)
    terminated["containerID"] = f"docker://{container.id}"
    return {"terminated": terminated}


def pod_phase(restart_policy: str, statuses: Sequence[Mapping[str, Any]], container_count: int) -> str:
    """Kubernetes' getPhase: Pending, Running, Succeeded or Failed from the container states."""
    running = waiting = stopped = succeeded = 0
    for status in statuses:
        state = status["state"]
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            succeeded += state["terminated"]["exitCode"] == 0
        elif "terminated" in status["lastState"]:
            stopped += 1  # waiting to restart after having run
        else:
            waiting += 1
    unknown = container_count - len(statuses)
    if waiting > 0 or container_count == 0:
        return "Pending"
    if running > 0 and unknown == 0:
        return "Running"
    if running == 0 and stopped > 0 and unknown == 0:
        if restart_policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        return "Failed" if restart_policy == "Never" else "Running"
    return "Pending"


def _conditions(phase: str, statuses: Sequence[Mapping[str, Any]], previous: Mapping[str, Any] | None, now: str) -> list[dict[str, Any]]:
    unready = [s["name"] for s in statuses if not s["ready"]]
    if phase in ("Succeeded", "Failed"):
        ready: tuple[str, str, str] = ("False", "PodCompleted", "")
    elif unready or not statuses:
        ready = ("False", "ContainersNotReady", f"containers with unready status: [{' '.join(unready)}]")
    else:
        ready = ("True", "", "")
    before = {c.get("type"): c for c in (previous or {}).get("conditions", [])}
    conditions = []
    for kind, (value, reason, message) in (
        ("Initialized", ("True", "", "")),
        ("Ready", ready),
        ("ContainersReady", ready),
        ("PodScheduled", ("True", "", "")),
    ):
        earlier = before.get(kind)
        changed = earlier is None or earlier.get("status") != value
        condition: dict[str, Any] = {
            "type": kind,
            "status": value,
            "lastProbeTime": None,
            "lastTransitionTime": now if changed else earlier.get("lastTransitionTime") if earlier else now,
        }
        if reason:
            condition["reason"] = reason
        if message:
            condition["message"] = message
        conditions.append(condition)
    return conditions


def qos_class(containers: Sequence[ContainerSpec]) -> str:
    """Guaranteed, Burstable or BestEffort, from requests and limits."""
    if not any(c.cpu_request_millis or c.cpu_limit_millis or c.memory_request or c.memory_limit for c in containers):
        return "BestEffort"
    guaranteed = all(
        c.cpu_limit_millis is not None
        and c.memory_limit is not None
        and (c.cpu_request_millis in (None, c.cpu_limit_millis))
        and (c.memory_request in (None, c.memory_limit))
        for c in containers
    )
    return "Guaranteed" if guaranteed else "Burstable"


__all__ = ["container_status", "pod_phase", "pod_status", "pod_status_body", "qos_class"]
