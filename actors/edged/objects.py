"""The configmaps and secrets a pod sync needs, fetched from meta before its job starts.

The actor asks meta (a sync ``query`` per object, answered on the actor's thread,
docs/protocol.md#7.6) and starts the job with the answers in hand: a worker never waits on
meta. What a job finds it needs only while working (the image pull secrets, needed only when
an image must be pulled) it returns as :class:`ObjectNeeded`; the actor fetches those and
runs the sync again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from actors.edged.errors import EdgedError, MetaReplyError, ObjectFetchError
from actors.edged.lifecycle import PodPlan
from actors.edged.metaclient import meta_request, query_objects
from actors.edged.pods import ObjectRef, Pod
from actors.protocol import Operation
from kubeedge_actors.message import Message


@dataclass(frozen=True, slots=True)
class ObjectKey:
    """A configmap or secret of one namespace."""

    namespace: str
    ref: ObjectRef

    @property
    def resource(self) -> str:
        return f"{self.namespace}/{self.ref.kind}/{self.ref.name}"


@dataclass(frozen=True, slots=True)
class FetchedObject:
    """meta's answer for one object: the object, None when meta has none, or why it failed."""

    value: Mapping[str, Any] | None = None
    error: str = ""


class ObjectNeeded(EdgedError):
    """A job needs objects it was not given; the actor fetches them and syncs again."""

    def __init__(self, keys: Iterable[ObjectKey]) -> None:
        self.keys = frozenset(keys)
        super().__init__(f"needs {', '.join(sorted(k.resource for k in self.keys))}")


def objects_for(pod: Pod | None, plan: PodPlan) -> set[ObjectKey]:
    """What the plan's volumes and container environments read (pull secrets come on demand)."""
    if pod is None or not (plan.starts or plan.refresh_volumes):
        return set()
    refs = pod.volume_refs()
    for start in plan.starts:
        refs |= start.spec.objects()
    return {ObjectKey(pod.namespace, ref) for ref in refs}


def object_query(key: ObjectKey) -> Message:
    return meta_request(Operation.QUERY, key.resource)


def fetched(key: ObjectKey, reply: Message | None, error: BaseException | None) -> FetchedObject:
    """meta's answer (or the failure of the query) for ``key``."""
    why: BaseException | None = error
    if reply is not None and error is None:
        try:
            objects = query_objects(reply)
        except MetaReplyError as exc:
            why = exc
        else:
            return FetchedObject(objects[0] if objects else None)
    return FetchedObject(error=f"cannot read {key.ref.kind} {key.namespace}/{key.ref.name} from meta: {why or 'no reply'}")


class JobObjects:
    """The objects a job was given, looked up from the worker."""

    def __init__(self, fetched: Mapping[ObjectKey, FetchedObject]) -> None:
        self._fetched = dict(fetched)

    def get(self, namespace: str, ref: ObjectRef) -> Mapping[str, Any] | None:
        """The object, or None when meta has none.

        Raises:
            ObjectFetchError: meta could not answer for it.
            ObjectNeeded: it was not fetched for this job.
        """
        return self.get_all([ObjectKey(namespace, ref)])[0]

    def get_all(self, keys: list[ObjectKey]) -> list[Mapping[str, Any] | None]:
        """Like :meth:`get` for several; :class:`ObjectNeeded` names every one not fetched."""
        missing = [key for key in keys if key not in self._fetched]
        if missing:
            raise ObjectNeeded(missing)
        found = [self._fetched[key] for key in keys]
        for answer in found:
            if answer.error:
                raise ObjectFetchError(answer.error)
        return [answer.value for answer in found]


__all__ = ["FetchedObject", "JobObjects", "ObjectKey", "ObjectNeeded", "fetched", "object_query", "objects_for"]
