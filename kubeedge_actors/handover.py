"""A bounded stage between a library thread and an actor's mailbox.

paho's network loop or a websocket reader can deliver faster than an actor handles; pykka
mailboxes are unbounded, so without a bound a flood becomes unbounded memory. The library
thread calls :meth:`Handover.offer` (convert, then hand over); the actor calls
:meth:`Handover.taken` for each event it handles. Beyond ``limit`` events in flight, offers are
dropped and counted, and a warning is logged once per overflow episode.

A library thread may also hand a message straight to the module it is for, through the router,
as a :class:`Handed`: the module's actor reports it taken when it comes to it, so the bound
holds across the hop the stage saved (the bus hands device topics to the twin this way).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from kubeedge_actors.message import Message

logger = logging.getLogger(__name__)

E = TypeVar("E")


class Handover(Generic[E]):
    """Counts events of type ``E`` in flight to one actor and refuses more than ``limit``.

    Args:
        deliver: puts one event in the actor's mailbox (usually ``ModuleActor.module_tell_self``).
        limit: events handed over and not yet taken.
        name: for the log line, e.g. ``"bus: mqtt"``.
    """

    def __init__(self, deliver: Callable[[E], None], limit: int, name: str) -> None:
        self._deliver = deliver
        self.limit = limit
        self.name = name
        self._lock = threading.Lock()
        self._in_flight = 0
        self._overflowing = False
        self.dropped = 0
        self.accepted = 0

    def offer(self, event: E) -> bool:
        """Hand ``event`` over, or drop it when ``limit`` are in flight. Any thread."""
        with self._lock:
            accepted = self._in_flight < self.limit
            if accepted:
                self._in_flight += 1
                self.accepted += 1
            else:
                self.dropped += 1
                first_drop, self._overflowing = not self._overflowing, True
        if accepted:
            self._deliver(event)
        elif first_drop:
            logger.warning("%s: %d events waiting; dropping until the actor catches up", self.name, self.limit)
        return accepted

    def taken(self) -> None:
        """The actor handled one event. Actor thread."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            if self._overflowing and self._in_flight <= self.limit // 2:
                self._overflowing = False
                logger.warning("%s: caught up; %d events dropped so far", self.name, self.dropped)

    @property
    def in_flight(self) -> int:
        return self._in_flight


@dataclass(frozen=True, slots=True)
class Handed:
    """A message that holds a place in ``handover`` until the actor it is sent to takes it.

    Send it with :meth:`Router.send <kubeedge_actors.router.Router.send>`: a
    :class:`~kubeedge_actors.actor.ModuleActor` reports it taken and handles the message as if
    it had been sent alone; the router reports it taken when it becomes a dead letter.
    """

    message: Message
    handover: Handover[Any]


__all__ = ["Handed", "Handover"]
