"""One record per pod uid: everything edged keeps about a pod, on the actor's thread.

A record is made when meta gives a pod, or when Docker shows containers of a uid edged must
clean up, and dropped once nothing of the pod is left (no pod from meta, no container, no
work under way). Forgetting a pod is one assignment; nothing else holds state keyed by uid::

    meta gives pod ──► live (pod) ──► deleted (pod None, grace kept) ──► cleaned: dropped
                         ▲  │ replaced under its name / deleted            ▲
                         └──┘ given again                 containers of a uid meta never had
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from actors.edged.lifecycle import StartGates
from actors.edged.objects import FetchedObject, ObjectKey
from actors.edged.pods import Pod, Problem, volumes_show_new_metadata
from actors.edged.timefmt import now_k8s
from kubeedge_actors.scheduler import TimerHandle


@dataclass(eq=False)
class PodRecord:
    """What edged knows and does about one pod uid.

    Attributes:
        pod: the desired pod from meta; None once deleted (or for containers of a pod meta
            never gave).
        deletion_grace_s: set while a deleted pod's containers are not gone yet.
        refresh_volumes: a configmap or secret of its volumes changed: rewrite them.
        busy: a sync is under way (objects being fetched, or a job on a worker).
        dirty: something changed while busy: look again when it ends.
        gates: when each container may start again (restart and pull back-off).
        failures: the last failed start of each container, shown while it waits.
        waiting: why each container that does not run waits, for its status.
        wake: when and by which timer the pod is looked at again (a back-off ends).
        objects: configmaps and secrets fetched for the next job.
        wanted: objects the last job found it needs (image pull secrets).
        fetching: objects asked of meta and not answered yet; True: changed since asked, so
            its answer is not kept.
        start_time: when edged first saw it (the status' startTime).
        status: the status computed last; sent: the status sent to meta last.
    """

    uid: str
    pod: Pod | None = None
    deletion_grace_s: float | None = None
    refresh_volumes: bool = False
    busy: bool = False
    dirty: bool = False
    gates: StartGates = field(default_factory=StartGates)
    failures: dict[str, Problem] = field(default_factory=dict)
    waiting: dict[str, Problem] = field(default_factory=dict)
    wake: tuple[float, TimerHandle] | None = None
    objects: dict[ObjectKey, FetchedObject] = field(default_factory=dict)
    wanted: set[ObjectKey] = field(default_factory=set)
    fetching: dict[ObjectKey, bool] = field(default_factory=dict)
    start_time: str = ""
    status: dict[str, Any] | None = None
    sent: dict[str, Any] | None = None

    @property
    def deleted(self) -> bool:
        return self.deletion_grace_s is not None

    def cancel_wake(self) -> None:
        if self.wake is not None:
            self.wake[1].cancel()
            self.wake = None


class PodTable:
    """The records by uid, and the live pods by ``<namespace>/<name>``."""

    def __init__(self, gates: StartGates) -> None:
        self._gates = gates  # the back-off every new record starts with (settings)
        self._records: dict[str, PodRecord] = {}
        self._uid_by_key: dict[str, str] = {}
        #: meta's pod list is in: a uid it lacks is one to clean up, not one not known yet.
        self.loaded = False

    def get(self, uid: str) -> PodRecord | None:
        return self._records.get(uid)

    def record(self, uid: str) -> PodRecord:
        """The record of ``uid``, made if there is none."""
        record = self._records.get(uid)
        if record is None:
            record = self._records[uid] = PodRecord(uid, gates=self._new_gates())
        return record

    def pod(self, uid: str) -> Pod | None:
        record = self._records.get(uid)
        return record.pod if record is not None else None

    def uid_of(self, key: str) -> str | None:
        """The uid of the live pod ``<namespace>/<name>``."""
        return self._uid_by_key.get(key)

    def live(self) -> Iterator[PodRecord]:
        """Records of the pods meta gives, in the order they were first given."""
        return (record for record in self._records.values() if record.pod is not None)

    def pods(self) -> list[Pod]:
        return [record.pod for record in self._records.values() if record.pod is not None]

    def live_uids(self) -> set[str]:
        return {record.uid for record in self.live()}

    def uids(self) -> set[str]:
        """Every uid with a record: live, deleted and not cleaned, or being cleaned up."""
        return set(self._records)

    def named(self, name: str) -> list[Pod]:
        return [pod for pod in self.pods() if pod.name == name]

    def rivals(self, pod: Pod) -> list[Pod]:
        """Pods of ``pod``'s name that meta's list may have placed differently: one whose
        namespace was assumed against one whose message named it (``placed_by_containers``)."""
        return [p for p in self.named(pod.name) if p.uid != pod.uid and p.namespace_assumed != pod.namespace_assumed]

    def using(self, key: ObjectKey, node_namespace: str) -> list[PodRecord]:
        """Live pods that read ``key``: in a volume or the environment, or as an image pull
        secret (docs/protocol.md#7.1 step 4: those live in the node's namespace)."""
        ref = key.ref
        pull_secret = ref.kind == "secret" and key.namespace == node_namespace
        return [
            record
            for record in self.live()
            if record.pod is not None
            and ((pull_secret and ref.name in record.pod.pull_secrets) or (record.pod.namespace == key.namespace and record.pod.uses(ref)))
        ]

    def set_pod(self, pod: Pod) -> tuple[PodRecord, bool]:
        """Record ``pod`` as given by meta; returns its record and whether it changed."""
        record = self.record(pod.uid)
        changed = record.pod != pod
        record.refresh_volumes |= volumes_show_new_metadata(record.pod, pod)  # docs/protocol.md#7.10
        record.pod, record.deletion_grace_s = pod, None
        record.start_time = record.start_time or now_k8s()
        self._uid_by_key[pod.key] = pod.uid
        return record, changed

    def forget(self, uid: str, grace_s: float) -> PodRecord:
        """The pod is deleted: its containers go with ``grace_s``; what it waited for is moot."""
        record = self.record(uid)
        pod = record.pod
        if pod is not None and self._uid_by_key.get(pod.key) == uid:
            del self._uid_by_key[pod.key]
        record.pod, record.deletion_grace_s = None, grace_s
        record.cancel_wake()
        record.gates = self._new_gates()
        record.failures, record.waiting = {}, {}
        record.objects, record.wanted = {}, set()
        record.start_time, record.status, record.sent = "", None, None
        return record

    def drop(self, uid: str) -> None:
        """Nothing of the pod is left; a record under way is never dropped."""
        record = self._records.get(uid)
        if record is not None and record.pod is None and not record.busy:
            record.cancel_wake()
            del self._records[uid]

    def busy_count(self) -> int:
        return sum(1 for record in self._records.values() if record.busy)

    def deleted_count(self) -> int:
        return sum(1 for record in self._records.values() if record.deleted)

    def _new_gates(self) -> StartGates:
        gates = self._gates
        return StartGates(gates.initial_s, gates.max_s, gates.reset_after_s)


__all__ = ["PodRecord", "PodTable"]
