"""Keeping each running container's probes going, on the edged actor's thread (docs/protocol.md#7.8).

The actor's helper, like the syncer: it starts the probes of a container when it is seen
running, asks the :class:`~actors.edged.probes.Prober` to run each when its timer (on the
scheduler) is due, counts the results against Kubernetes' thresholds, and says what changed::

    container running ──► startup probe (if any) ──success──► liveness + readiness probes
                                 │ failureThreshold                │ liveness: failureThreshold
                                 ▼                                 ▼
                          restart (under the restart policy, counted, with the back-off)

A readiness verdict that changed changes the status at once; a failed startup or liveness
probe marks the container unhealthy, and the syncer kills it (lifecycle.py).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Sequence

from actors.edged.events import Host, ProbeDone, ProbeDue
from actors.edged.lifecycle import newest_first
from actors.edged.model import ContainerInfo
from actors.edged.pods import ContainerSpec
from actors.edged.probes import ContainerProbes, ProbeCounter, ProbeOutcome, Prober
from actors.edged.records import PodRecord, PodTable

logger = logging.getLogger(__name__)


class ProbeEffect(enum.Enum):
    NONE = "none"
    STATUS = "status"  # started or ready changed: report the status
    RESTART = "restart"  # a startup or liveness probe failed: sync the pod (it kills the container)


class ProbeKeeper:
    """Timers, results and verdicts of every probe; owned by the actor, used on its thread only."""

    def __init__(self, host: Host, table: PodTable, prober: Prober, host_ip: Callable[[], str]) -> None:
        self._host = host
        self._table = table
        self._prober = prober
        self._host_ip = host_ip

    def follow(self, record: PodRecord, containers: Sequence[ContainerInfo]) -> None:
        """Start the probes of the pod's containers that now run, stop those of the others."""
        wanted = _probed_running(record, containers)
        for name, probes in list(record.probes.items()):
            seen = wanted.get(name)
            if seen is None or seen[1].id != probes.container_id or seen[0].lifecycle != probes.lifecycle:
                probes.cancel()
                del record.probes[name]
        for name, (spec, container) in wanted.items():
            if name not in record.probes:
                probes = record.probes[name] = ContainerProbes(container.id, spec.lifecycle)
                for kind in ("startup",) if spec.lifecycle.startup is not None else ("liveness", "readiness"):
                    self._begin(record.uid, name, probes, kind)

    def due(self, event: ProbeDue) -> None:
        counter = self._counter(event.uid, event.name, event.container_id, event.kind)
        if counter is None or counter.running:
            return
        counter.timer, counter.running = None, True
        host = self._host

        def done(outcome: ProbeOutcome) -> None:  # on a prober thread: hand over
            host.module_tell_self(ProbeDone(event.uid, event.name, event.container_id, event.kind, outcome))

        self._prober.submit(event.container_id, counter.probe, self._host_ip(), done)

    def done(self, event: ProbeDone) -> ProbeEffect:
        """Count a result; returns what the actor must do about it."""
        counter = self._counter(event.uid, event.name, event.container_id, event.kind)
        record = self._table.get(event.uid)
        if counter is None or record is None:
            return ProbeEffect.NONE  # the container or the pod is gone meanwhile
        counter.running = False
        probes = record.probes[event.name]
        changed = counter.count(event.outcome)
        pod_key = record.pod.key if record.pod is not None else event.uid
        if changed:  # a liveness probe's first success is no news
            verdict = "succeeded" if counter.result else f"failed: {event.outcome.message}"
            log = logger.debug if counter.result and event.kind == "liveness" else logger.info
            log("edged: pod %s: container %s: %s probe %s", pod_key, event.name, event.kind, verdict)
        if counter.result is False and event.kind in ("startup", "liveness"):
            probes.unhealthy = f"{event.kind} probe failed: {event.outcome.message}"
            logger.info("edged: pod %s: container %s failed its %s probe, will be restarted", pod_key, event.name, event.kind)
            probes.cancel()
            return ProbeEffect.RESTART
        if event.kind == "startup" and counter.result is True:
            for kind in ("liveness", "readiness"):  # the startup probe is done for this container
                self._begin(event.uid, event.name, probes, kind)
            return ProbeEffect.STATUS
        self._schedule(ProbeDue(event.uid, event.name, event.container_id, event.kind), counter, counter.probe.period_s)
        return ProbeEffect.STATUS if changed and event.kind == "readiness" else ProbeEffect.NONE

    def close(self) -> None:
        self._prober.close()

    def _begin(self, uid: str, name: str, probes: ContainerProbes, kind: str) -> None:
        probe = getattr(probes.lifecycle, kind)
        if probe is None:
            return
        counter = probes.counters[kind] = ProbeCounter(probe)
        self._schedule(ProbeDue(uid, name, probes.container_id, kind), counter, probe.initial_delay_s)

    def _schedule(self, due: ProbeDue, counter: ProbeCounter, delay_s: float) -> None:
        counter.cancel()
        counter.timer = self._host.module_tell_later(delay_s, due)

    def _counter(self, uid: str, name: str, container_id: str, kind: str) -> ProbeCounter | None:
        record = self._table.get(uid)
        probes = record.probes.get(name) if record is not None else None
        if probes is None or probes.container_id != container_id or probes.unhealthy:
            return None
        return probes.counters.get(kind)


def _probed_running(record: PodRecord, containers: Sequence[ContainerInfo]) -> dict[str, tuple[ContainerSpec, ContainerInfo]]:
    """The newest container of each probed spec, where it runs (none while the pod terminates)."""
    pod = record.pod
    if pod is None or pod.terminating:
        return {}
    wanted: dict[str, tuple[ContainerSpec, ContainerInfo]] = {}
    for spec in pod.containers:
        if spec.lifecycle.probed:
            owned = newest_first([c for c in containers if c.container_name == spec.name])
            if owned and owned[0].is_running:
                wanted[spec.name] = (spec, owned[0])
    return wanted


__all__ = ["ProbeEffect", "ProbeKeeper"]
