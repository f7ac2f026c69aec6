"""Docker's view of this node's containers, kept for the edged actor (docs/protocol.md#7.1).

The observer follows Docker's event stream (redialled with back-off when it ends), lists and
inspects containers on the actor's workers, and keeps what it saw in a
:class:`ContainerInventory`. It lives on the actor's thread: the actor hands it its Docker
events and worker results, and gets back an :class:`Observed` naming the pods to look at.

A container a pod's job makes is inspected once, by the job after starting it: the job says
beforehand which names it makes (:meth:`ContainerObserver.expect_made`), and the ``create``
and ``start`` events of those containers, early or late, carry nothing that inspection did
not see. Any other event (``die``, ``oom``, an outsider's ``start``...) is inspected. What is
expected and never comes (events lost while the stream was down) is forgotten when the stream
opens again; the listing that follows looks at every container.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from actors.edged.errors import RuntimeUnavailableError
from actors.edged.events import (
    ContainerChanged,
    ContainerInspected,
    ContainersListed,
    EventsEnded,
    EventsOpened,
    Host,
    Listing,
    ReconnectEvents,
)
from actors.edged.inventory import ContainerInventory, Observation
from actors.edged.model import ContainerEvent, ContainerInfo, ContainerRuntime, ContainerSummary, EventWatch
from actors.edged.settings import EdgedTimings
from kubeedge_actors.backoff import Backoff
from kubeedge_actors.handover import Handover

logger = logging.getLogger(__name__)

#: Events about the containers a job makes that its own inspection covers.
_MADE_BY_JOB = frozenset({"create", "start"})


@dataclass(frozen=True)
class Observed:
    """What the observer saw that the actor acts on."""

    changed: frozenset[str] = frozenset()  # pod uids whose containers changed
    listing: bool = False  # a full listing was applied: containers of pods meta lacks show
    first: bool = False  # ... the first one: until now Docker's containers were unknown
    resync_all: bool = False  # Docker is back, or the poll ran: look at every pod


NOTHING = Observed()


def list_and_inspect(runtime: ContainerRuntime, known: dict[str, str], next_seq: Callable[[], int]) -> Listing:
    """List this node's containers and inspect those that are new or changed state (blocking)."""
    list_seq = next_seq()
    summaries: list[ContainerSummary] = runtime.list_containers()
    inspected = []
    for summary in summaries:
        if known.get(summary.id) != summary.status:
            seq = next_seq()
            info = runtime.inspect_container(summary.id)
            if info is not None:
                inspected.append((seq, info))
    return list_seq, {s.id for s in summaries}, inspected


class ContainerObserver:
    """Watches, lists and inspects; owned by the actor and used on its thread only."""

    def __init__(self, runtime: ContainerRuntime, host: Host, timings: EdgedTimings) -> None:
        self.inventory = ContainerInventory()
        self.ready = False  # the first listing is in: Docker's containers are known
        self.docker_down = False
        self._runtime = runtime
        self._host = host
        self._backoff = Backoff(timings.events_reconnect_initial_s, timings.events_reconnect_max_s, jitter=0.2)
        self._generation = 0
        self._watch: EventWatch | None = None
        self._handover = Handover(host.module_tell_self, 1000, "edged: docker events")
        self._drops_seen = 0
        self._listing = False
        self._list_again = False
        self._resync_after_listing = False
        self._expected: dict[str, set[str]] = {}  # container name → events its job's inspection covers

    @property
    def usable(self) -> bool:
        """Docker answers and its containers are known: pods may be reconciled."""
        return self.ready and not self.docker_down

    def open(self) -> None:
        self._generation += 1
        generation = self._generation

        # These run on the watch thread: they only convert and hand over.
        def on_event(event: ContainerEvent) -> None:
            self._handover.offer(ContainerChanged(event.container_id, event.action, event.name))

        self._watch = self._runtime.watch_events(
            on_open=lambda: self._host.module_tell_self(EventsOpened(generation)),
            on_event=on_event,
            on_end=lambda reason: self._host.module_tell_self(EventsEnded(generation, reason)),
        )

    def close(self) -> None:
        if self._watch is not None:
            self._watch.close()
            self._watch = None

    def poll(self) -> None:
        """The slow safety net: list again and have every pod looked at."""
        self._resync_after_listing = True
        self._relist()

    # --- the event stream: a library thread hands it over; a dropped stream is redialled ----

    def opened(self, event: EventsOpened) -> None:
        if event.generation != self._generation:
            return
        if self.docker_down:
            logger.warning("edged: Docker is reachable again; reconciling every pod")
        self.docker_down = False
        self._backoff.reset()
        self._expected.clear()  # events may have been missed: the listing looks at everything
        self._resync_after_listing = True
        self._relist()

    def ended(self, event: EventsEnded) -> None:
        if event.generation != self._generation:
            return
        if not self.docker_down:
            logger.warning("edged: lost Docker (%s); reconnecting with back-off", event.reason)
        self.docker_down = True
        self._watch = None
        self._host.module_tell_later(self._backoff.next_delay(), ReconnectEvents(event.generation))

    def reconnect(self, event: ReconnectEvents) -> None:
        if event.generation == self._generation and self._watch is None:
            self.open()

    def changed(self, event: ContainerChanged) -> Observed:
        self._handover.taken()
        if self._handover.dropped != self._drops_seen:
            self._drops_seen = self._handover.dropped
            self._relist()
        if self._covered_by_job(event):
            return NOTHING
        seq = self.inventory.next_seq()
        if event.action == "destroy":
            return self._changed(self.inventory.apply(seq, event.container_id, None))
        runtime, container_id = self._runtime, event.container_id
        self._host.module_run_in_background(
            lambda: runtime.inspect_container(container_id),
            lambda outcome: ContainerInspected(seq, container_id, outcome),
        )
        return NOTHING

    def inspected(self, event: ContainerInspected) -> Observed:
        if not event.outcome.ok:
            return NOTHING
        return self._changed(self.inventory.apply(event.seq, event.container_id, event.outcome.value))

    def _covered_by_job(self, event: ContainerChanged) -> bool:
        actions = self._expected.get(event.name)
        if actions is None or event.action not in actions:
            return False
        actions.discard(event.action)
        if not actions:
            del self._expected[event.name]
        return True

    # --- what a pod's job saw ----------------------------------------------------------------

    def expect_made(self, names: Iterable[str]) -> None:
        """A job is about to create and start containers of these names."""
        for name in names:
            self._expected[name] = set(_MADE_BY_JOB)

    def job_saw(self, names: Iterable[str], observations: Iterable[Observation]) -> None:
        """Apply what a job observed; ``names`` are the containers it was to make."""
        made: dict[str, ContainerInfo] = {}
        for seq, container_id, info in observations:
            self.inventory.apply(seq, container_id, info)
            if info is not None:
                made[info.name] = info
        for name in names:
            actions, info = self._expected.get(name), made.get(name)
            if actions is not None and info is None:
                del self._expected[name]  # not made: no event comes
            elif actions is not None and info is not None and info.status == "created":
                actions.discard("start")  # made, never started
                if not actions:
                    del self._expected[name]

    def removed(self, container_ids: Iterable[str]) -> None:
        """Containers removed by edged's own GC: gone is final."""
        for container_id in container_ids:
            self.inventory.apply(self.inventory.next_seq(), container_id, None)

    # --- listing: the first inventory, reconnects and the slow poll -------------------------

    def _relist(self) -> None:
        if self._listing:
            self._list_again = True
            return
        self._listing = True
        runtime, known, next_seq = self._runtime, self.inventory.statuses(), self.inventory.next_seq
        self._host.module_run_in_background(lambda: list_and_inspect(runtime, known, next_seq), ContainersListed)

    def listed(self, event: ContainersListed) -> Observed:
        self._listing = False
        if not event.outcome.ok or event.outcome.value is None:
            if not isinstance(event.outcome.error, RuntimeUnavailableError):
                logger.warning("edged: listing containers failed: %s", event.outcome.error)
            return NOTHING
        seq, present, inspected = event.outcome.value
        changed = self.inventory.apply_listing(seq, present, inspected)
        first, self.ready = not self.ready, True
        resync, self._resync_after_listing = first or self._resync_after_listing, False
        if self._list_again:
            self._list_again = False
            self._relist()
        return Observed(frozenset(changed), listing=True, first=first, resync_all=resync)

    @staticmethod
    def _changed(uid: str | None) -> Observed:
        return Observed(frozenset({uid})) if uid else NOTHING


__all__ = ["NOTHING", "ContainerObserver", "Observed", "list_and_inspect"]
