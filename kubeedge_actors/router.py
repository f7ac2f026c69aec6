"""Beehive's context as an object: who is registered, and how messages reach them (docs/protocol.md#1.2).

Actors address each other by *name* through the router, never by holding an ``ActorRef``,
so that a restarted actor is reachable at once under the same name.

A sync request (docs/protocol.md#1.3) is matched to its reply by ``parent_msg_id``::

    send_sync(module, request) ──► waiter[request.id] registered ──► request enqueued
                                                                        │
    future.result() ◄── send_resp(reply) with reply.parent_id == request.id (whoever sends it)
                    ◄── SyncTimeoutError when the timeout passes first (the waiter is removed)
                    ◄── DeadLetterError at once when the module is unknown or dead
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import pykka

from kubeedge_actors.errors import DeadLetterError, DeliveryError, SyncTimeoutError
from kubeedge_actors.handover import Handed
from kubeedge_actors.message import Message
from kubeedge_actors.scheduler import Scheduler, TimerHandle

logger = logging.getLogger(__name__)
_S = TypeVar("_S")

DEFAULT_SYNC_TIMEOUT_S = 30.0  # beehive's default for a timeout <= 0 (docs/protocol.md#1.2)
HELD_MESSAGES_LIMIT = 1024  # beehive's channel capacity (docs/protocol.md#1.2)
#: Deadlines of answered requests stay in the heap until due; it is rebuilt from the waiters
#: still waiting once it holds this many more than them and twice as many.
_DEADLINES_SLACK = 1024
_DEAD_LETTER_LOG_INTERVAL_S = 10.0


@dataclass(eq=False)
class _Registration:
    name: str
    group: str
    ref: pykka.ActorRef[Any] | None  # None: reserved, not started yet
    supervised: bool
    # Messages sent while a supervised actor is down and waiting for its restart (or its
    # first start).
    held: deque[Message | Handed] = field(default_factory=deque)


#: A waiter's deadline: (when, order of sending, request id, its future, module, timeout_s).
_Deadline = tuple[float, int, str, "Future[Message]", str, float]


@dataclass(frozen=True, slots=True)
class MessageBatch:
    """Several messages for one module as one mailbox item (see :meth:`Router.send_batch`)."""

    messages: tuple[Message, ...]


class Router:
    """Routes messages between registered actors by name and by group.

    Args:
        scheduler: the timer thread for sync timeouts; one is made if not given.
        default_timeout_s: ``send_sync`` timeout when none is given.
    """

    def __init__(self, scheduler: Scheduler | None = None, default_timeout_s: float = DEFAULT_SYNC_TIMEOUT_S) -> None:
        self.scheduler = scheduler or Scheduler()
        self.default_timeout_s = default_timeout_s
        self._lock = threading.Lock()
        self._modules: dict[str, _Registration] = {}
        self._groups: dict[str, tuple[str, ...]] = {}
        self._waiters: dict[str, Future[Message]] = {}  # request id → the future of its reply
        # The waiters' deadlines, swept by one timer set at the earliest (a timer per request, set
        # and cancelled, cost more than the rest of send_sync). An entry names its future: a
        # request id sent again must not be failed by the deadline of its first sending.
        self._deadlines: list[_Deadline] = []
        self._deadline_order = itertools.count()
        self._deadlines_lock = threading.Lock()
        self._sweep_at: float | None = None
        self._sweep_timer: TimerHandle | None = None
        self._dead_letters: dict[str, int] = {}
        self._dead_letter_logged_at: dict[str, float] = {}
        self._shared: dict[type, Any] = {}
        self._shared_lock = threading.Lock()
        #: Told when a registered actor crashes; the runtime uses it to restart the module.
        self.crash_listener: Callable[[str, pykka.ActorRef[Any], BaseException | None], None] | None = None

    def shared(self, kind: type[_S]) -> _S:
        """The one ``kind()`` the modules of this router share, made on first use.

        For what one program's modules share beside messages (the hub's connection view, the
        bus's publisher, the cloud's stream desk): the router is what they all hold, and the
        runtime need not know the kinds.
        """
        with self._shared_lock:
            found = self._shared.get(kind)
            if found is None:
                found = self._shared[kind] = kind()
            return cast(_S, found)

    # --- registry ---------------------------------------------------------------------------

    def register(self, name: str, group: str, ref: pykka.ActorRef[Any], *, supervised: bool = False) -> None:
        """Register ``ref`` under ``name`` and in ``group``, replacing any earlier actor.

        Messages held for ``name`` while it was down are delivered to ``ref`` first, in order.
        A supervised actor's messages are held (not dead-lettered) while it is down, until it
        is registered again or :meth:`unregister` gives up on it.
        """
        with self._lock:
            previous = self._modules.get(name)
            registration = _Registration(name, group, ref, supervised)
            if previous is not None:
                self._remove_from_group(previous)
                # Flush before publishing the new registration, so held messages come first.
                while previous.held:
                    ref.tell(previous.held.popleft())
            self._modules[name] = registration
            self._groups[group] = (*self._groups.get(group, ()), name)

    def reserve(self, name: str, group: str) -> None:
        """Hold messages for ``name`` until an actor registers under it, as for a restarting one.

        The runtime reserves every module before it starts the first, so what one module sends
        another that starts later in the start order (meta's status forwards for the hub, say)
        waits for it instead of becoming a dead letter.
        """
        with self._lock:
            if name not in self._modules:
                self._modules[name] = _Registration(name, group, None, supervised=True)
                self._groups[group] = (*self._groups.get(group, ()), name)

    def unregister(self, name: str) -> None:
        """Remove ``name``; messages held for it become dead letters."""
        with self._lock:
            registration = self._modules.pop(name, None)
            if registration is None:
                return
            self._remove_from_group(registration)
            held = list(registration.held)
            registration.held.clear()
        for message in held:
            self._dead_letter(name, message, "module stopped before it could take the message")

    def _remove_from_group(self, registration: _Registration) -> None:
        members = tuple(n for n in self._groups.get(registration.group, ()) if n != registration.name)
        if members:
            self._groups[registration.group] = members
        else:
            self._groups.pop(registration.group, None)

    def modules(self) -> dict[str, str]:
        """Registered module names mapped to their group."""
        return {name: registration.group for name, registration in self._modules.items()}

    def group_members(self, group: str) -> tuple[str, ...]:
        return self._groups.get(group, ())

    def is_alive(self, name: str) -> bool:
        registration = self._modules.get(name)
        return registration is not None and registration.ref is not None and registration.ref.is_alive()

    def held_count(self, name: str) -> int:
        """Messages waiting for ``name`` to come back after a crash."""
        registration = self._modules.get(name)
        return len(registration.held) if registration is not None else 0

    def report_crash(self, name: str, ref: pykka.ActorRef[Any], error: BaseException | None) -> None:
        """Called by a crashing actor, on its own thread, after its cleanup."""
        listener = self.crash_listener
        if listener is None:
            logger.error("router: %s crashed and nobody supervises it: %r", name, error)
            return
        listener(name, ref, error)

    # --- sending ----------------------------------------------------------------------------

    def send(self, module: str, message: Message | Handed) -> bool:
        """Deliver ``message`` to ``module``'s mailbox (beehive ``Send``).

        A :class:`~kubeedge_actors.handover.Handed` message goes as it is (the actor reports it
        taken); as a dead letter it is reported taken here.

        Returns:
            True if delivered or held for a restarting actor; False for a dead letter.
        """
        registration = self._modules.get(module)
        if registration is None:
            self._dead_letter(module, message, "no such module")
            return False
        if registration.ref is None:
            return self._send_while_down(module, message)
        try:
            registration.ref.tell(message)
        except pykka.ActorDeadError:
            return self._send_while_down(module, message)
        return True

    def _send_while_down(self, module: str, message: Message | Handed) -> bool:
        with self._lock:
            registration = self._modules.get(module)
            if registration is not None and registration.ref is not None and registration.ref.is_alive():
                registration.ref.tell(message)  # (re)started meanwhile
                return True
            if registration is not None and registration.supervised:
                if len(registration.held) < HELD_MESSAGES_LIMIT:
                    registration.held.append(message)
                    return True
                reason = f"module is restarting and already holds {HELD_MESSAGES_LIMIT} messages"
            else:
                reason = "no such module" if registration is None else "module is dead"
        self._dead_letter(module, message, reason)
        return False

    def send_batch(self, module: str, messages: Sequence[Message]) -> bool:
        """Deliver ``messages`` to ``module`` in order as one mailbox item.

        The actor handles them one by one, exactly as if each had been sent; only the
        hand-over is shared: one queue operation and at most one wake-up instead of one per
        message, which is most of a message's cost between two busy threads.

        Returns:
            True if delivered (or held for a restarting actor); False if any was a dead letter.
        """
        if not messages:
            return True
        registration = self._modules.get(module)
        if registration is None:
            for message in messages:
                self._dead_letter(module, message, "no such module")
            return False
        ref = registration.ref
        if ref is not None:  # else reserved: not started yet
            try:
                ref.tell(MessageBatch(tuple(messages)))
                return True
            except pykka.ActorDeadError:
                pass
        return all([self._send_while_down(module, message) for message in messages])

    def send_to_group(self, group: str, message: Message | Handed) -> int:
        """Deliver ``message`` to every member of ``group`` (beehive ``Send2Group``).

        Returns:
            how many members took it.
        """
        members = self._groups.get(group, ())
        if not members:
            self._dead_letter(f"group {group}", message, "no such group")
            return 0
        return sum(self.send(member, message) for member in members)

    def send_sync(self, module: str, message: Message, timeout_s: float | None = None) -> Future[Message]:
        """Send a request and return a future for its reply (beehive ``SendSync``).

        The request goes out with ``sync`` set. The future resolves with the reply message
        (operation ``response`` or ``error``), or fails with :class:`SyncTimeoutError` after
        ``timeout_s`` (default :attr:`default_timeout_s`), or at once with
        :class:`DeadLetterError` if the module is unknown or dead. Callbacks added to the
        future run on the thread that resolves it: keep them to a ``tell``.
        """
        request = message if message.header.sync else message.with_header(sync=True)
        timeout = self.default_timeout_s if timeout_s is None or timeout_s <= 0 else timeout_s
        request_id = request.header.id
        future: Future[Message] = Future()
        # The waiter exists before the request is enqueued: an instant reply cannot miss it.
        self._waiters[request_id] = future
        self._add_deadline((time.monotonic() + timeout, next(self._deadline_order), request_id, future, module, timeout))
        self.send(module, request)
        return future

    def send_resp(self, reply: Message) -> bool:
        """Resolve the waiter registered under ``reply.parent_id`` (beehive ``SendResp``).

        Returns:
            True if a waiter took the reply; False if none was waiting (it is then dropped
            here, and the caller may route it elsewhere).
        """
        future = self._waiters.pop(reply.header.parent_id, None)
        if future is None:
            logger.debug("router: no waiter for reply %s to %s", reply.header.id, reply.header.parent_id)
            return False
        future.set_result(reply)  # its deadline stays in the heap: the sweep skips it
        return True

    def has_waiter(self, request_id: str) -> bool:
        """Whether a ``send_sync`` still waits for a reply to ``request_id``."""
        return request_id in self._waiters

    def pending_sync_count(self) -> int:
        return len(self._waiters)

    def deadlines_kept(self) -> int:
        """Deadlines in the sweep's heap, those of answered requests included (for tests)."""
        with self._deadlines_lock:
            return len(self._deadlines)

    def _add_deadline(self, entry: _Deadline) -> None:
        with self._deadlines_lock:
            deadlines = self._deadlines
            if len(deadlines) > _DEADLINES_SLACK + 2 * len(self._waiters):
                deadlines[:] = [kept for kept in deadlines if self._waiters.get(kept[2]) is kept[3]]
                heapq.heapify(deadlines)
            heapq.heappush(deadlines, entry)
            if self._sweep_at is None or entry[0] < self._sweep_at:
                self._sweep_later(entry[0])

    def _sweep_later(self, deadline: float) -> None:
        """Set the one sweep timer to ``deadline``. Holds the deadlines lock."""
        if self._sweep_timer is not None:
            self._sweep_timer.cancel()
        self._sweep_at = deadline
        self._sweep_timer = self.scheduler.call_later(deadline - time.monotonic(), self._sweep)

    def _sweep(self) -> None:
        """Timer thread: fail the waiters whose deadline passed; set the timer to the next one."""
        due: list[_Deadline] = []
        waiters = self._waiters
        with self._deadlines_lock:
            now, deadlines = time.monotonic(), self._deadlines
            self._sweep_at = self._sweep_timer = None
            while deadlines and (deadlines[0][0] <= now or waiters.get(deadlines[0][2]) is not deadlines[0][3]):
                entry = heapq.heappop(deadlines)
                if entry[0] <= now and waiters.get(entry[2]) is entry[3]:
                    due.append(entry)
            if deadlines:
                self._sweep_later(deadlines[0][0])
        for _, _, request_id, future, module, timeout_s in due:
            if waiters.get(request_id) is future:
                self._fail_waiter(request_id, SyncTimeoutError(f"no reply from {module!r} to request {request_id} within {timeout_s:g} s"))

    def _fail_waiter(self, request_id: str, error: Exception) -> None:
        future = self._waiters.pop(request_id, None)
        if future is not None:
            future.set_exception(error)

    def close(self) -> None:
        """Fail every pending ``send_sync`` and stop the timer thread."""
        waiting = list(self._waiters)
        for request_id in waiting:
            self._fail_waiter(request_id, DeliveryError(f"router closed before a reply to {request_id} arrived"))
        self.scheduler.close()

    # --- dead letters -----------------------------------------------------------------------

    @property
    def dead_letter_count(self) -> int:
        """Messages that reached no actor, since start."""
        return sum(self._dead_letters.values())

    def dead_letters(self) -> dict[str, int]:
        """Dead letters counted per destination."""
        with self._lock:
            return dict(self._dead_letters)

    def _dead_letter(self, destination: str, message: Message | Handed, reason: str) -> None:
        if isinstance(message, Handed):
            message.handover.taken()  # its place in the hand-over is free: nobody will take it
            message = message.message
        now = time.monotonic()
        with self._lock:
            count = self._dead_letters.get(destination, 0) + 1
            self._dead_letters[destination] = count
            last_logged = self._dead_letter_logged_at.get(destination)
            should_log = last_logged is None or now - last_logged >= _DEAD_LETTER_LOG_INTERVAL_S
            if should_log:
                self._dead_letter_logged_at[destination] = now
        if should_log:
            logger.warning(
                "router: dead letter %s (%s %s) for %s: %s [%d so far]",
                message.header.id,
                message.route.operation,
                message.route.resource,
                destination,
                reason,
                count,
            )
        if message.header.sync:
            self._fail_waiter(message.header.id, DeadLetterError(f"cannot deliver {message.header.id} to {destination}: {reason}"))


__all__ = ["DEFAULT_SYNC_TIMEOUT_S", "MessageBatch", "Router"]
