"""The base class of every module: a Pykka actor that speaks :class:`Message`.

Lifecycle of one module, as the runtime drives it::

    start ─► on_start (opens resources, on the actor's thread)
               │
               ▼
           handle_message / handle_internal ◄── mailbox (router, timers, workers)
               │ MessageRejected: warning (+ error reply to a sync request), keep serving
               │ any other exception: crash ─► on_stop cleanup ─► runtime restarts it with
               │                              back-off under the same name (see runtime.py)
               ▼
           on_stop (closes resources)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from concurrent.futures import wait as wait_for_futures
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import pykka

from kubeedge_actors.config import RUNTIME_KEYS, Config, KeyTable
from kubeedge_actors.errors import MessageRejected, ModuleDefinitionError
from kubeedge_actors.handover import Handed
from kubeedge_actors.message import Message
from kubeedge_actors.router import MessageBatch
from kubeedge_actors.scheduler import TimerHandle
from kubeedge_actors.workers import DaemonThreadPool

if TYPE_CHECKING:
    from kubeedge_actors.router import Router

logger = logging.getLogger(__name__)

T = TypeVar("T")


_HANDLES = "_module_handles"
H = TypeVar("H", bound=Callable[..., None])


def handles(*event_types: type) -> Callable[[H], H]:
    """Mark a :class:`ModuleActor` method as the handler of internal events of these types::

        @handles(DialCloud)
        def _dial(self, event: DialCloud) -> None: ...

    The one way every module dispatches its own events (timers, worker results, library data).
    """

    def mark(method: H) -> H:
        setattr(method, _HANDLES, (*getattr(method, _HANDLES, ()), *event_types))
        return method

    return mark


@dataclass(frozen=True, slots=True)
class Outcome(Generic[T]):
    """What a background job produced: a value, or the exception it raised."""

    value: T | None = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class _Ping:
    """Asked by the runtime after start: answered once ``on_start`` has run."""


@dataclass(frozen=True, slots=True)
class _MetricsRequest:
    """Asked by the metrics endpoint: answered with the actor's figures, read on its thread."""


class ModuleActor(pykka.ThreadingActor):
    """A beehive module as a Pykka actor.

    Subclasses set :attr:`module_name` (the wire name) and :attr:`module_group`, implement
    :meth:`handle_message` for envelopes and :meth:`handle_internal` for their own frozen
    dataclass events, open resources in ``on_start`` and close them in ``on_stop`` (calling
    ``super().on_stop()``). ``on_stop`` also runs after a crash, so resources never leak.

    Framework attributes carry the ``module_`` prefix so subclasses cannot collide with them.

    Args:
        router: the router this actor sends through.
        config: the loaded configuration.
        name: overrides :attr:`module_name` (e.g. two instances of one class).
        group: overrides :attr:`module_group`.
    """

    module_name: ClassVar[str] = ""
    module_group: ClassVar[str] = ""
    #: A module that ignores its stop timeout must not keep the process alive after the
    #: runtime has stopped (the runtime stops every module before the process exits).
    use_daemon_thread = True
    #: The keys of the program this module belongs to: its configuration when none is given.
    module_config_keys: ClassVar[KeyTable] = RUNTIME_KEYS
    #: Threads for :meth:`module_run_in_background`; created on first use.
    module_worker_count: ClassVar[int] = 4
    #: How long a stop waits for background jobs already running (queued ones are dropped);
    #: one still running then (a long Docker call) is left behind and cannot hold the exit.
    module_stop_wait_s: ClassVar[float] = 1.0

    #: Event type → the method marked ``@handles(...)`` for it (built per class).
    _module_event_handlers: ClassVar[dict[type, Callable[[Any, Any], None]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table = dict(cls._module_event_handlers)  # a subclass inherits its base's handlers
        for member in vars(cls).values():
            for event_type in getattr(member, _HANDLES, ()):
                table[event_type] = member
        cls._module_event_handlers = table

    def __init__(self, router: Router, config: Config | None = None, *, name: str | None = None, group: str | None = None) -> None:
        super().__init__()
        self.module_router = router
        self.module_config = config if config is not None else Config.defaults(self.module_config_keys)
        if name:
            self.module_name = name  # type: ignore[misc]  # instance override of the class default
        if group:
            self.module_group = group  # type: ignore[misc]
        if not self.module_name or not self.module_group:
            raise ModuleDefinitionError(f"{type(self).__name__} needs a module_name and a module_group")
        self.module_received_count = 0
        self._module_timers: set[TimerHandle] = set()
        # Background values that need closing (see module_run_in_background's ``discard``):
        # held here until the actor takes them, so on_stop can close what it never took.
        self._module_unclaimed: set[_Unclaimed[Any]] = set()
        self._module_unclaimed_lock = threading.Lock()
        self._module_stopped = False
        self._module_workers: Executor | None = None
        self._module_jobs: set[Future[None]] = set()

    # --- what subclasses implement ---------------------------------------------------------

    def handle_message(self, message: Message) -> None:
        """Handle one envelope. Raise :class:`MessageRejected` for bad input."""
        logger.warning("%s: no handler for %s (%s %s)", self.module_name, message.id, message.operation, message.resource)

    def handle_internal(self, event: object) -> None:
        """Handle one of the actor's own events (timer ticks, worker results, library data):
        the method marked ``@handles(type(event))`` runs. Modules mark methods rather than
        override this (a recorder of everything, such as the test probe, overrides it)."""
        handler = self._module_event_handlers.get(type(event))
        if handler is None:
            logger.warning("%s: unexpected internal event %r", self.module_name, type(event).__name__)
            return
        handler(self, event)

    def module_metrics(self) -> dict[str, float]:
        """Figures for the metrics endpoint, e.g. ``{"cloud_connected": 1, "reconnects_total": 3}``.

        Runs on the actor's thread when a scrape asks. Names ending in ``_total`` are exposed
        as counters, the rest as gauges; each becomes ``kubeedge_<name>{module="..."}``.
        """
        return {}

    def handle_rejection(self, message: Message, error: MessageRejected) -> None:
        """Report bad input: a warning, and an error reply if the sender waits for one.

        An error with a ``code`` (the twin's result codes, docs/protocol.md#5.4) has it in the warning.
        """
        code = getattr(error, "code", None)
        logger.warning(
            "%s: rejected %s (%s %s from %s)%s: %s",
            self.module_name,
            message.id,
            message.operation,
            message.resource,
            message.source,
            "" if code is None else f" ({code})",
            error,
        )
        if message.is_sync:
            self.module_router.send_resp(message.error_reply(str(error)).with_route(source=self.module_name))

    # --- pykka hooks -----------------------------------------------------------------------

    def on_receive(self, message: Any) -> Any:  # noqa: PLR0911 - one return per kind of mailbox item
        if isinstance(message, Message):
            self.module_received_count += 1
            try:
                self.handle_message(message)
            except MessageRejected as error:
                self.handle_rejection(message, error)
            return None
        if isinstance(message, Handed):  # from a library thread, straight (kubeedge_actors.handover)
            message.handover.taken()
            return self.on_receive(message.message)
        if isinstance(message, MessageBatch):
            for item in message.messages:  # as if sent one by one (Router.send_batch)
                self.on_receive(item)
            return None
        if isinstance(message, _Ping):
            return True
        if isinstance(message, _MetricsRequest):
            return {"messages_received_total": float(self.module_received_count), **self.module_metrics()}
        if isinstance(message, _Deliver):
            message.callback()
            return None
        self.handle_internal(message)
        return None

    def on_stop(self) -> None:
        """Cancel timers and background jobs. Subclasses close their resources, then call this."""
        for timer in list(self._module_timers):
            timer.cancel()
        self._module_timers.clear()
        if self._module_workers is not None:
            self._module_workers.shutdown(wait=False, cancel_futures=True)
            self._module_workers = None
            self._wait_for_running_jobs()
        with self._module_unclaimed_lock:
            self._module_stopped = True
            leftovers, self._module_unclaimed = self._module_unclaimed, set()
        for unclaimed in leftovers:
            unclaimed.close(self.module_name)

    def _wait_for_running_jobs(self) -> None:
        # Most jobs are short (a container create, an inspect): let them end rather than cut
        # them off. The ones that do not end in time run on in their daemon threads, and what
        # they report is dropped: the process may exit under them (docs/protocol.md#1.1).
        jobs = set(self._module_jobs)
        if jobs:
            _, running = wait_for_futures(jobs, timeout=self.module_stop_wait_s)
            if running:
                logger.info("%s: %d background jobs still running at stop; left behind", self.module_name, len(running))

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Pykka skips on_stop after a crash; run it so sockets, files and threads are closed.
        try:
            self.on_stop()
        except Exception:
            logger.exception("%s: cleanup after crash failed", self.module_name)
        self.module_router.report_crash(self.module_name, self.actor_ref, exception_value)

    # --- helpers for subclasses ------------------------------------------------------------

    def module_tell_self(self, event: object) -> None:
        """Put ``event`` in this actor's own mailbox; safe from any thread, even after stop."""
        try:
            self.actor_ref.tell(event)
        except pykka.ActorDeadError:
            logger.debug("%s: dropped %r, actor stopped", self.module_name, type(event).__name__)

    def module_tell_later(self, delay_s: float, event: object) -> TimerHandle:
        """Deliver ``event`` to :meth:`handle_internal` after ``delay_s`` seconds."""

        def fire() -> None:
            self._module_timers.discard(timer)
            self.module_tell_self(event)

        timer = self.module_router.scheduler.call_later(delay_s, fire)
        self._module_timers.add(timer)
        return timer

    def module_tell_every(self, interval_s: float, event: object) -> TimerHandle:
        """Deliver ``event`` to :meth:`handle_internal` every ``interval_s`` seconds."""
        timer = self.module_router.scheduler.call_every(interval_s, lambda: self.module_tell_self(event))
        self._module_timers.add(timer)
        return timer

    def module_run_in_background(
        self,
        work: Callable[[], T],
        done: Callable[[Outcome[T]], object],
        *,
        discard: Callable[[T], None] | None = None,
    ) -> None:
        """Run slow ``work`` on a worker thread; then tell this actor ``done(outcome)``.

        ``done`` builds the internal event from the outcome; it runs on the worker thread, so
        it must only build a value. The event reaches :meth:`handle_internal`.

        ``discard`` is for a value that holds a resource (a connected socket): when the actor
        stops before its handler has taken the value, ``discard(value)`` closes it, on the
        worker thread or in ``on_stop``, so nothing leaks however the stop and the job race.

        When the actor stops, jobs not started yet are dropped, and running ones get
        :attr:`module_stop_wait_s` to end before the stop goes on without them; their events
        are dropped. Workers are daemon threads: a job that never ends cannot hold the exit.
        """
        if self._module_workers is None:
            self._module_workers = DaemonThreadPool(self.module_worker_count, f"{self.module_name}-worker")

        def job() -> None:
            try:
                outcome: Outcome[T] = Outcome(value=work())
            except Exception as error:  # reported to the actor, which decides
                outcome = Outcome(error=error)
            if discard is None or outcome.value is None:
                self.module_tell_self(done(outcome))
            else:
                self._hand_over_or_discard(_Unclaimed(outcome.value, discard), done(outcome))

        future = self._module_workers.submit(job)
        self._module_jobs.add(future)
        future.add_done_callback(self._module_jobs.discard)

    def _hand_over_or_discard(self, unclaimed: _Unclaimed[Any], event: object) -> None:
        """From a worker: tell the actor ``event``, or close the value if the actor has stopped."""
        with self._module_unclaimed_lock:
            stopped = self._module_stopped
            if not stopped:
                self._module_unclaimed.add(unclaimed)
        if stopped:
            unclaimed.close(self.module_name)
        else:
            # If the actor stops before it handles the event, on_stop finds the value and closes it.
            self.module_tell_self(_Deliver(lambda: self._claim(unclaimed, event)))

    def _claim(self, unclaimed: _Unclaimed[Any], event: object) -> None:
        """On the actor's thread: the handler of ``event`` owns the value from now on."""
        with self._module_unclaimed_lock:
            self._module_unclaimed.discard(unclaimed)
        self.handle_internal(event)

    def module_on_reply(self, future: Future[Message], callback: Callable[[Message | None, BaseException | None], None]) -> None:
        """Call ``callback(reply, error)`` on this actor's thread when a ``send_sync`` future ends."""

        def resolved(done: Future[Message]) -> None:
            error = done.exception()
            reply = None if error is not None else done.result()
            self.module_tell_self(_Deliver(lambda: callback(reply, error)))

        future.add_done_callback(resolved)


@dataclass(eq=False, slots=True)
class _Unclaimed(Generic[T]):
    """A background job's value that must be closed unless the actor takes it."""

    value: T
    discard: Callable[[T], None]

    def close(self, module_name: str) -> None:
        try:
            self.discard(self.value)
        except Exception:
            logger.exception("%s: closing a background result the stopped actor never took failed", module_name)


@dataclass(frozen=True, slots=True)
class _Deliver:
    """A callback to run on the actor's own thread (``module_on_reply``, ``module_run_in_background``)."""

    callback: Callable[[], None]


__all__ = ["ModuleActor", "Outcome"]
