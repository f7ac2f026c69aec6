"""What to do with one pod's containers now: the restart policy and the kubelet's back-off.

Pure decisions, made on the actor's thread; :mod:`actors.edged.sync` carries them out on a
worker. One container of a pod, as the planner sees it::

    none ──start──► running ──exit──► exited ──policy says restart?──► start (restartCount+1)
                      │  spec hash changed: kill, start new                │ not before the
                      │                                                    │ back-off: waiting
                      ▼                                                    ▼ CrashLoopBackOff
                 pod deleted / terminating: stop (grace period), remove

Back-off (docs/protocol.md#7.3, the kubelet's): the first restart is immediate, then 10 s doubling to
300 s; a container that ran for 10 minutes starts from the beginning again. Failed image pulls
and failed creates wait 10 s doubling to 300 s (ErrImagePull → ImagePullBackOff).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace

from actors.edged.model import ContainerInfo
from actors.edged.pods import ContainerSpec, Pod, Problem
from actors.edged.podspec_lifecycle import Handler
from actors.edged.timefmt import parse_docker_time
from kubeedge_actors.backoff import Backoff


@dataclass(frozen=True, slots=True)
class StartContainer:
    spec: ContainerSpec
    restart_count: int
    remove_first: str = ""  # a never-started leftover holding the same name


@dataclass(frozen=True, slots=True)
class KillContainer:
    container_id: str
    grace_s: float
    remove: bool
    pre_stop: Handler | None = None  # run within the grace period, before the stop signal


@dataclass(frozen=True)
class PodPlan:
    """The work for one pod; empty when nothing is to be done."""

    uid: str
    kills: tuple[KillContainer, ...] = ()
    starts: tuple[StartContainer, ...] = ()
    refresh_volumes: bool = False
    remove_pod_dir: bool = False

    @property
    def empty(self) -> bool:
        return not (self.kills or self.starts or self.refresh_volumes or self.remove_pod_dir)


@dataclass
class _Gate:
    backoff: Backoff
    not_before: float = 0.0
    exit_id: str = ""  # the exited container already counted
    failure_token: str = ""  # the failed pull or create already counted
    crash: bool = False  # blocked because the container crashed (vs. a failed pull/create)


@dataclass
class StartGates:
    """When each container of one pod may (re)start, by container name; part of the pod's record."""

    initial_s: float = 10.0
    max_s: float = 300.0
    reset_after_s: float = 600.0
    _gates: dict[str, _Gate] = field(default_factory=dict)

    def note_exit(self, key: str, container: ContainerInfo) -> float:
        """Count a crash of ``container`` once; returns the epoch time it may restart."""
        gate = self._gates.get(key)
        if gate is not None and gate.exit_id == container.id:
            return gate.not_before
        started_at = parse_docker_time(container.started_at)
        if gate is not None and started_at is None:  # it never ran: its failed start was counted
            gate.exit_id, gate.crash = container.id, True
            return gate.not_before
        finished = parse_docker_time(container.finished_at) or 0.0
        started = started_at or finished
        if gate is None or finished - started >= self.reset_after_s:
            gate = self._gates[key] = _Gate(Backoff(self.initial_s, self.max_s))
            wait = 0.0  # the kubelet restarts a first crash at once
        else:
            wait = gate.backoff.next_delay()
        gate.not_before, gate.exit_id, gate.crash = max(gate.not_before, finished + wait), container.id, True
        return gate.not_before

    def note_failure(self, key: str, token: str, now: float) -> float:
        """Count a failed pull or create (``token`` makes it count once); returns when to retry."""
        gate = self._gates.setdefault(key, _Gate(Backoff(self.initial_s, self.max_s)))
        if gate.failure_token != token:
            gate.not_before, gate.failure_token, gate.crash = now + gate.backoff.next_delay(), token, False
        return gate.not_before

    def blocked_until(self, key: str, now: float) -> float | None:
        gate = self._gates.get(key)
        return gate.not_before if gate is not None and gate.not_before > now else None

    def current_wait_s(self, key: str) -> float:
        gate = self._gates.get(key)
        return 0.0 if gate is None else gate.backoff.peek() / gate.backoff.factor

    def is_crash(self, key: str) -> bool:
        gate = self._gates.get(key)
        return gate is not None and gate.crash

    def release(self, key: str) -> None:
        """Allow the next start at once (a missing object arrived)."""
        gate = self._gates.get(key)
        if gate is not None and not gate.crash:
            gate.not_before = 0.0


def should_restart(policy: str, exit_code: int) -> bool:
    """docs/protocol.md#7.3: Never: no; OnFailure: exit code ≠ 0; Always: yes."""
    return policy == "Always" or (policy == "OnFailure" and exit_code != 0)


def newest_first(containers: Sequence[ContainerInfo]) -> list[ContainerInfo]:
    return sorted(containers, key=lambda c: (c.restart_count, c.created_at), reverse=True)


@dataclass(frozen=True)
class Decision:
    """The plan, plus containers kept waiting and when to look again."""

    plan: PodPlan
    waiting: Mapping[str, Problem]
    wake_at: float | None


def plan_pod(
    pod: Pod | None,
    uid: str,
    containers: Sequence[ContainerInfo],
    gates: StartGates,
    now: float,
    *,
    grace_s: float | None = None,
    refresh_volumes: bool = False,
    failures: Mapping[str, Problem] | None = None,
    unhealthy: Collection[str] = (),
    last_pod: Pod | None = None,
) -> Decision:
    """Decide the next actions for pod ``uid`` (``pod`` None: it was deleted).

    Args:
        unhealthy: ids of running containers a startup or liveness probe failed: killed, then
            restarted under the restart policy once they have stopped.
        last_pod: the deleted pod as it was, for its containers' preStop hooks.
    """
    if pod is None:
        gone = tuple(
            KillContainer(c.id, grace_s if grace_s is not None else c.grace_period_s, True, _pre_stop(last_pod, c)) for c in containers
        )
        return Decision(PodPlan(uid, kills=gone, remove_pod_dir=True), {}, None)
    by_name: dict[str, list[ContainerInfo]] = {}
    for container in containers:
        by_name.setdefault(container.container_name, []).append(container)
    specs = {c.name: c for c in (*pod.containers, *pod.init_containers)}
    kills: list[KillContainer] = []
    for name, owned in by_name.items():
        if name not in specs:  # a container taken out of the spec: it goes
            kills += [KillContainer(c.id, pod.stop_grace_s, True) for c in owned]
    if pod.terminating:
        kills += [_stop(pod, c) for c in containers if c.is_running and c.container_name in specs]
        return Decision(PodPlan(uid, kills=tuple(kills)), {}, None)
    starts, waiting, wake_at, initialized = _plan_init(pod, by_name, gates, now, failures or {})
    for spec in pod.containers:
        problem = pod.problem or spec.problem
        if problem is not None:
            waiting[spec.name] = problem
            continue
        if not initialized:
            waiting[spec.name] = Problem("PodInitializing", "")
            continue
        owned = newest_first(by_name.get(spec.name, []))
        kills += [_stop(pod, c) for c in owned[1:] if c.is_running]  # duplicates
        if owned and owned[0].is_running and owned[0].id in unhealthy:
            kills.append(_stop(pod, owned[0]))  # restarted once it has stopped
            continue
        step = _plan_container(pod, spec, owned[0] if owned else None, gates, now=now, failure=(failures or {}).get(spec.name))
        if isinstance(step, StartContainer):
            if owned and owned[0].is_running:
                kills.append(_stop(pod, owned[0]))  # spec changed
            starts.append(step)
        elif isinstance(step, tuple):
            waiting[spec.name], until = step
            wake_at = until if wake_at is None else min(wake_at, until)
    plan = PodPlan(uid, kills=tuple(kills), starts=tuple(starts), refresh_volumes=refresh_volumes)
    return Decision(plan, waiting, wake_at)


def _plan_init(
    pod: Pod, by_name: Mapping[str, list[ContainerInfo]], gates: StartGates, now: float, failures: Mapping[str, Problem]
) -> tuple[list[StartContainer], dict[str, Problem], float | None, bool]:
    """The next init container to run, in order (docs/protocol.md#7.8): (starts, waiting, wake at,
    whether all have completed). Once an app container exists the pod is initialized."""
    if not pod.init_containers or any(by_name.get(c.name) for c in pod.containers):
        return [], {}, None, True
    # Kubernetes: init containers of a pod that restarts Always are restarted OnFailure.
    policy = "OnFailure" if pod.restart_policy == "Always" else pod.restart_policy
    as_init = replace(pod, restart_policy=policy)
    for spec in pod.init_containers:
        problem = pod.problem or spec.problem
        owned = newest_first(by_name.get(spec.name, []))
        latest = owned[0] if owned else None
        if problem is None and latest is not None and completed(latest):
            continue
        if problem is not None or (latest is not None and latest.is_running):
            return [], {spec.name: problem} if problem is not None else {}, None, False
        step = _plan_container(as_init, spec, latest, gates, now=now, failure=failures.get(spec.name))
        if isinstance(step, tuple):
            return [], {spec.name: step[0]}, step[1], False
        # None: it failed for good (restartPolicy Never), and so did the pod
        return [step] if step is not None else [], {}, None, False
    return [], {}, None, True


def completed(container: ContainerInfo) -> bool:
    """It ran and exited 0."""
    return not container.is_running and not container.never_started and container.exit_code == 0 and not container.error


def _stop(pod: Pod, container: ContainerInfo) -> KillContainer:
    return KillContainer(container.id, pod.stop_grace_s, False, _pre_stop(pod, container))


def _pre_stop(pod: Pod | None, container: ContainerInfo) -> Handler | None:
    if pod is None or not container.is_running:
        return None
    spec = next((c for c in pod.containers if c.name == container.container_name), None)
    return spec.lifecycle.pre_stop if spec is not None else None


def _plan_container(
    pod: Pod, spec: ContainerSpec, latest: ContainerInfo | None, gates: StartGates, *, now: float, failure: Problem | None
) -> StartContainer | tuple[Problem, float] | None:
    key = spec.name
    if latest is None:
        return _gated(gates, key, StartContainer(spec, 0), now=now, failure=failure)
    if latest.is_running:
        return StartContainer(spec, latest.restart_count + 1) if latest.spec_hash != spec.spec_hash else None
    if latest.never_started:
        return StartContainer(spec, latest.restart_count, remove_first=latest.id)
    if not should_restart(pod.restart_policy, latest.exit_code or (1 if latest.error else 0)):
        return None
    return _plan_restart(pod, spec, latest, gates, now=now, failure=failure)


def _plan_restart(
    pod: Pod, spec: ContainerSpec, latest: ContainerInfo, gates: StartGates, *, now: float, failure: Problem | None
) -> StartContainer | tuple[Problem, float]:
    key = spec.name
    restart = StartContainer(spec, latest.restart_count + 1)
    not_before = gates.note_exit(key, latest)
    if not_before <= now:
        return restart
    if failure is not None and not gates.is_crash(key):
        return _gated(gates, key, restart, now=now, failure=failure)
    wait = round(max(gates.current_wait_s(key), not_before - now))
    message = f"back-off {wait}s restarting failed container={spec.name} pod={pod.name}_{pod.namespace}({pod.uid})"
    return Problem("CrashLoopBackOff", message), not_before


def _gated(
    gates: StartGates, key: str, start: StartContainer, *, now: float, failure: Problem | None
) -> StartContainer | tuple[Problem, float]:
    spec = start.spec
    until = gates.blocked_until(key, now)
    if until is None:
        return start
    if failure is None:
        return Problem("BackOff", f"Back-off restarting container {spec.name}"), until
    if failure.reason in ("ErrImagePull", "ImagePullBackOff"):
        return Problem("ImagePullBackOff", f'Back-off pulling image "{spec.image}": {failure.message}'), until
    return failure, until  # CreateContainerConfigError and friends stay visible while waiting


__all__ = [
    "Decision",
    "KillContainer",
    "PodPlan",
    "StartContainer",
    "StartGates",
    "completed",
    "newest_first",
    "plan_pod",
    "should_restart",
]
