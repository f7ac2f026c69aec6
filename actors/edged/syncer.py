"""Bringing one pod's containers to what its record wants, on the edged actor's thread.

One sync of a pod: plan (lifecycle.py) from its record and the containers the observer knows;
ask meta for the configmaps and secrets the plan reads (objects.py) and plan again once they
are all in; run the plan on a worker (sync.py); apply what the job saw and count its failures
against the back-off. A pod has one sync under way at most (``busy``); anything that changes
meanwhile marks it ``dirty`` and it is planned again when the sync ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable
from functools import partial

from actors.edged.containers import container_name
from actors.edged.events import Host, PodSynced, Tools, WakePod
from actors.edged.lifecycle import PodPlan, plan_pod
from actors.edged.objects import JobObjects, ObjectKey, fetched, object_query, objects_for
from actors.edged.observer import ContainerObserver
from actors.edged.pods import Pod, Problem
from actors.edged.records import PodRecord, PodTable
from actors.edged.settings import EdgedSettings, EdgedTimings
from actors.edged.sync import ContainerOutcome, SyncContext, run_pod_sync
from actors.protocol import Module
from kubeedge_actors.message import Message

logger = logging.getLogger(__name__)


class PodSyncer:
    """Plans, fetches, runs and applies pod syncs; the actor's helper, on its thread only."""

    def __init__(
        self,
        host: Host,
        table: PodTable,
        observer: ContainerObserver,
        *,
        tools: Tools,
        settings: EdgedSettings,
        timings: EdgedTimings,
        clock: Callable[[], float],
        host_ip: Callable[[], str],
    ) -> None:
        self._host = host
        self._table = table
        self._observer = observer
        self._tools = tools
        self._node_namespace = settings.node_namespace
        self._timings = timings
        self._clock = clock
        self._host_ip = host_ip

    def sync(self, uid: str, fresh_failures: Collection[str] = ()) -> None:
        """Look at pod ``uid`` now (``fresh_failures``: containers whose start just failed)."""
        if not self._observer.usable:
            return
        record = self._table.get(uid)
        if record is not None and record.busy:
            record.dirty = True
            return
        containers = self._observer.inventory.of_pod(uid)
        if record is None or record.pod is None:
            if not (record is not None and record.deleted) and not (containers and self._table.loaded):
                return  # nothing to do; or not known yet, which is not deleted: wait for meta's list
            record = self._table.record(uid)
        decision = plan_pod(
            record.pod,
            uid,
            containers,
            record.gates,
            self._clock(),
            grace_s=record.deletion_grace_s,
            refresh_volumes=record.refresh_volumes,
            failures=record.failures,
            unhealthy={p.container_id for p in record.probes.values() if p.unhealthy},
            last_pod=record.last_pod,
        )
        if record.pod is not None:
            fresh = {n: record.failures[n] for n in fresh_failures if n in decision.waiting and n in record.failures}
            record.waiting = {**decision.waiting, **fresh}  # a new failure shows before its back-off
        if decision.wake_at is not None:
            self._wake(record, decision.wake_at)
        if not decision.plan.empty:
            self._prepare(record, decision.plan)

    def housekeep(self) -> None:
        """Containers of pods meta no longer has go (docs/protocol.md#7.1 housekeeping)."""
        if self._table.loaded and self._observer.ready:
            for uid in (self._observer.inventory.pod_uids() | self._table.uids()) - self._table.live_uids():
                self.sync(uid)

    def woke(self, event: WakePod) -> None:
        record = self._table.get(event.uid)
        if record is not None:
            record.wake = None
        self.sync(event.uid)

    # --- the objects first --------------------------------------------------------------------

    def _prepare(self, record: PodRecord, plan: PodPlan) -> None:
        """Start the plan's job, or first ask meta for what it reads."""
        needed = objects_for(record.pod, plan) | (record.wanted if plan.starts else set())
        missing = needed - record.objects.keys()
        if not missing:
            self._start(record, plan)
            return
        record.busy = True
        record.fetching = dict.fromkeys(missing, False)
        for key in missing:
            future = self._host.module_router.send_sync(Module.META, object_query(key), self._timings.meta_timeout_s)
            self._host.module_on_reply(future, partial(self._fetched, record, key))

    def _fetched(self, record: PodRecord, key: ObjectKey, reply: Message | None, error: BaseException | None) -> None:
        if not record.fetching.pop(key, True):  # an answer given before the object changed is not kept
            record.objects[key] = fetched(key, reply, error)
        if record.fetching:
            return
        record.busy = record.dirty = False
        self.sync(record.uid)  # plan again: things may have changed while meta answered

    # --- the job --------------------------------------------------------------------------------

    def _start(self, record: PodRecord, plan: PodPlan) -> None:
        pod, tools = record.pod, self._tools
        logger.debug(
            "edged: pod %s: kill %s, start %s",
            pod.key if pod else record.uid,
            [(k.container_id[:12], k.remove) for k in plan.kills],
            [(st.spec.name, st.restart_count) for st in plan.starts],
        )
        record.refresh_volumes = False
        record.busy = True
        names = tuple(container_name(pod, st.spec, st.restart_count) for st in plan.starts) if pod else ()
        self._observer.expect_made(names)
        next_seq = self._observer.inventory.next_seq
        seq = next_seq()  # names this attempt, for counting its failures once
        objects = JobObjects(record.objects)
        context = SyncContext(
            tools.runtime, tools.files, objects, self._node_namespace, self._host_ip(), next_seq, tools.pulled_images.record, tools.stopping
        )
        uid = record.uid
        self._host.module_run_in_background(lambda: run_pod_sync(plan, pod, context), lambda outcome: PodSynced(uid, seq, names, outcome))

    def synced(self, event: PodSynced) -> None:
        """A job ended: apply what it saw, count what failed, and look at the pod again."""
        record = self._table.record(event.uid)  # a record under way is never dropped
        record.busy = False
        if not event.outcome.ok or event.outcome.value is None:
            logger.error("edged: syncing pod %s failed unexpectedly", event.uid, exc_info=event.outcome.error)
            self._observer.job_saw(event.names, ())
            return
        result = event.outcome.value
        self._observer.job_saw(event.names, result.observations)
        if result.needs:
            record.wanted |= result.needs
        else:
            record.objects, record.wanted = {}, set()  # asked again for the next job: they may change
        fresh = self._note_outcomes(record, event.seq, result.outcomes)
        if record.pod is None and not result.failed_kills and not self._observer.inventory.of_pod(record.uid):
            self._table.drop(record.uid)  # cleaned up
        if record.dirty or (not result.runtime_down and not result.failed_kills):
            record.dirty = False
            self.sync(record.uid, fresh)

    def _note_outcomes(self, record: PodRecord, seq: int, outcomes: Iterable[ContainerOutcome]) -> set[str]:
        """Count each failed start against its back-off; returns the containers that failed."""
        pod = record.pod
        if pod is None:
            return set()
        failed = set()
        for outcome in outcomes:
            if outcome.problem is None:
                record.failures.pop(outcome.name, None)
                logger.info("edged: pod %s: container %s started", pod.key, outcome.name)
                continue
            self._note_failure(record, pod, outcome.name, outcome.problem, seq)
            failed.add(outcome.name)
        return failed

    def _note_failure(self, record: PodRecord, pod: Pod, name: str, problem: Problem, seq: int) -> None:
        if record.failures.get(name) != problem:
            logger.warning("edged: pod %s: container %s: %s: %s", pod.key, name, problem.reason, problem.message)
        record.failures[name] = problem
        now = self._clock()
        until = record.gates.note_failure(name, f"sync-{seq}", now)
        self._wake(record, now + min(self._timings.pull_backoff_flip_s, max(until - now, 0.0) / 2))

    def _wake(self, record: PodRecord, at: float) -> None:
        if record.wake is not None and record.wake[0] <= at:
            return
        record.cancel_wake()
        record.wake = (at, self._host.module_tell_later(max(at - self._clock(), 0.0), WakePod(record.uid)))


__all__ = ["PodSyncer"]
