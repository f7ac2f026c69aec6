"""Helpers for actor-level tests: mock mailboxes, probes, message factories.

Three tiers, three tools:

1. :class:`ActorHarness` drives an actor *object* on the test's own thread: its router is a
   :class:`RecordingRouter` (the mock mailbox: it records what the actor sends and delivers
   nothing), time is a :class:`ManualScheduler` moved by :meth:`ActorHarness.advance`, and
   background jobs run inline. Deterministic, no sleeps.
2. :func:`start_probe` puts a :class:`ProbeActor` in a real :class:`Router` as a stand-in for
   a peer module; :meth:`Probe.wait_for` waits on what it received, with a timeout.
3. :class:`ActorErrorWatcher` turns an actor crash that pykka would only log into a test
   failure (the project's ``conftest.py`` installs it for every test).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import pykka

from kubeedge_actors.actor import ModuleActor
from kubeedge_actors.config import Config
from kubeedge_actors.handover import Handed
from kubeedge_actors.message import Content, Message
from kubeedge_actors.router import Router
from kubeedge_actors.scheduler import Scheduler, TimerHandle

A = TypeVar("A", bound=ModuleActor)
_T = TypeVar("_T")

# --- message factories ------------------------------------------------------------------------


def make_message(
    operation: str = "update",
    resource: str = "default/pod/nginx",
    content: Content = None,
    *,
    source: str = "test",
    group: str = "user",
    sync: bool = False,
    parent_id: str = "",
) -> Message:
    """A message with test-friendly defaults; every field can be given."""
    return Message.new(source=source, group=group, operation=operation, resource=resource, content=content, parent_id=parent_id, sync=sync)


# --- tier 1: the actor object on the test's thread -------------------------------------------


@dataclass(frozen=True)
class Sent:
    """One thing an actor asked the router to do."""

    kind: str  # "send", "group", "sync" or "resp"
    destination: str  # module, group, or "" for a reply
    message: Message
    handed: Handed | None = None  # sent as Handed: reported taken when the test takes it


class ManualScheduler(Scheduler):
    """A scheduler whose clock only moves when the test calls :meth:`advance`."""

    def __init__(self) -> None:
        super().__init__()
        self.now_s = 0.0
        self._manual: list[tuple[float, float, TimerHandle, Callable[[], None]]] = []

    def _schedule(self, delay_s: float, callback: Callable[[], None], period_s: float) -> TimerHandle:
        handle = TimerHandle()
        self._manual.append((self.now_s + max(delay_s, 0.0), period_s, handle, callback))
        return handle

    def advance(self, seconds: float) -> int:
        """Move the clock, running due callbacks in deadline order; returns how many ran."""
        target = self.now_s + seconds
        ran = 0
        while True:
            due = [entry for entry in self._manual if entry[0] <= target and not entry[2].cancelled]
            if not due:
                break
            entry = min(due, key=lambda e: e[0])
            self._manual.remove(entry)
            deadline, period_s, handle, callback = entry
            self.now_s = deadline
            if period_s:
                self._manual.append((deadline + period_s, period_s, handle, callback))
            callback()
            ran += 1
        self.now_s = target
        return ran

    def pending_count(self) -> int:
        return sum(1 for entry in self._manual if not entry[2].cancelled)

    def close(self) -> None:
        self._manual.clear()


class RecordingRouter(Router):
    """The mock mailbox: records every send, delivers nothing, answers sync requests on demand.

    ``send_sync`` returns a real future; resolve it with :meth:`reply_to`. Anything sent is in
    :attr:`sent`; :meth:`take` pops what matched.
    """

    def __init__(self, scheduler: Scheduler | None = None) -> None:
        super().__init__(scheduler or ManualScheduler())
        self.sent: list[Sent] = []
        self._pending: dict[str, Future[Message]] = {}

    def send(self, module: str, message: Message | Handed) -> bool:
        """Recorded; a :class:`~kubeedge_actors.handover.Handed` message as its message, reported
        taken (as the module would) when :meth:`take` takes it."""
        self._record("send", module, message)
        return True

    def send_batch(self, module: str, messages: Sequence[Message]) -> bool:
        """Recorded as one ``send`` per message: a batch is only a way of handing them over."""
        self.sent.extend(Sent("send", module, message) for message in messages)
        return True

    def send_to_group(self, group: str, message: Message | Handed) -> int:
        self._record("group", group, message)
        return 1

    def _record(self, kind: str, destination: str, message: Message | Handed) -> None:
        if isinstance(message, Handed):
            self.sent.append(Sent(kind, destination, message.message, message))
        else:
            self.sent.append(Sent(kind, destination, message))

    def send_sync(self, module: str, message: Message, timeout_s: float | None = None) -> Future[Message]:
        request = message if message.is_sync else message.with_header(sync=True)
        self.sent.append(Sent("sync", module, request))
        future: Future[Message] = Future()
        self._pending[request.id] = future
        return future

    def send_resp(self, reply: Message) -> bool:
        self.sent.append(Sent("resp", "", reply))
        return True

    def reply_to(self, request: Message, reply: Message | Content) -> None:
        """Resolve the ``send_sync`` future of ``request`` with a message or reply content."""
        answer = reply if isinstance(reply, Message) else request.reply(reply)
        self._pending.pop(request.id).set_result(answer)

    def fail(self, request: Message, error: BaseException) -> None:
        """Fail the ``send_sync`` future of ``request`` (e.g. with a SyncTimeoutError)."""
        self._pending.pop(request.id).set_exception(error)

    def take(self, kind: str | None = None, destination: str | None = None) -> list[Message]:
        """Remove and return the recorded messages of this kind and destination, in order."""
        taken = [s for s in self.sent if (kind is None or s.kind == kind) and (destination is None or s.destination == destination)]
        self.sent = [s for s in self.sent if s not in taken]
        for s in taken:
            if s.handed is not None:
                s.handed.handover.taken()
        return [s.message for s in taken]


class _InlineExecutor(Executor):
    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_result(fn(*args, **kwargs))
        return future


class ActorHarness(Generic[A]):
    """An actor object driven on the test's thread, with a recording router and manual time.

    ``harness.deliver(msg)`` hands a message to the actor and then runs everything the actor
    told itself (timer ticks, worker results) until its mailbox is empty.

    Args:
        actor_class: the :class:`ModuleActor` subclass under test.
        config: its configuration (the defaults of the actor's key table when None).
        **kwargs: extra constructor arguments, e.g. fake adapters.
    """

    def __init__(self, actor_class: type[A], config: Config | None = None, **kwargs: Any) -> None:
        self.router = RecordingRouter()
        self.scheduler: ManualScheduler = self.router.scheduler  # type: ignore[assignment]
        # None: the actor's own defaults (ModuleActor.module_config_keys), all its keys present.
        self.actor: A = actor_class(self.router, config, **kwargs)
        self.actor._module_workers = _InlineExecutor()  # background jobs run at once

    def start(self) -> A:
        self.actor.on_start()
        self.run_pending()
        return self.actor

    def deliver(self, message: object) -> None:
        """Hand one envelope or internal event to the actor, then run what it queued."""
        self.actor.on_receive(message)
        self.run_pending()

    def run_pending(self) -> int:
        """Process the actor's own mailbox until it is empty; returns how many were handled."""
        handled = 0
        inbox = self.actor.actor_inbox
        while not inbox.empty():
            self.actor.on_receive(inbox.get().message)
            handled += 1
        return handled

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of timer time pass, then run what the timers queued."""
        self.scheduler.advance(seconds)
        self.run_pending()

    def stop(self) -> None:
        self.actor.on_stop()


# --- tier 2: probes in a real router --------------------------------------------------------


class Probe:
    """What a :class:`ProbeActor` received, readable from the test's thread.

    Attributes:
        name: the module name the probe is registered under.
        ref: the probe actor's ref.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.ref: pykka.ActorRef[ProbeActor] | None = None
        self._condition = threading.Condition()
        self._received: list[object] = []

    def record(self, item: object) -> None:
        with self._condition:
            self._received.append(item)
            self._condition.notify_all()

    @property
    def messages(self) -> list[Message]:
        """Envelopes received so far, in order."""
        with self._condition:
            return self._envelopes()

    def clear(self) -> None:
        with self._condition:
            self._received.clear()

    def wait_for(self, predicate: Callable[[Message], bool] = lambda m: True, timeout_s: float = 5.0) -> Message:
        """The first received envelope matching ``predicate``; waits for it up to ``timeout_s``.

        Raises:
            AssertionError: nothing matched in time (the message lists what did arrive).
        """
        return self._wait(
            lambda messages: next((m for m in messages if predicate(m)), None),
            timeout_s,
            lambda messages: f"no matching message within {timeout_s} s; got {[(m.operation, m.resource, m.source) for m in messages]}",
        )

    def wait_for_count(self, count: int, timeout_s: float = 5.0) -> list[Message]:
        """Wait until ``count`` envelopes arrived; returns them all."""
        return self._wait(
            lambda messages: messages if len(messages) >= count else None,
            timeout_s,
            lambda messages: f"{len(messages)} of {count} messages within {timeout_s} s",
        )

    def _envelopes(self) -> list[Message]:
        return [m for m in self._received if isinstance(m, Message)]

    def _wait(self, found: Callable[[list[Message]], _T | None], timeout_s: float, failure: Callable[[list[Message]], str]) -> _T:
        """``found(envelopes)`` once it is not None, re-checked on every arrival until ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        with self._condition:
            while True:
                messages = self._envelopes()
                result = found(messages)
                if result is not None:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"probe {self.name}: {failure(messages)}")
                self._condition.wait(remaining)

    def stop(self) -> None:
        if self.ref is not None:
            self.ref.stop()


class ProbeActor(ModuleActor):
    """Stands in for a peer module: records every message and internal event into a :class:`Probe`.

    Optionally ``auto_reply(request) -> content`` answers sync requests as the real module would.
    """

    module_name = "probe"
    module_group = "probe"

    def __init__(
        self,
        router: Router,
        config: Config | None = None,
        *,
        name: str | None = None,
        group: str | None = None,
        probe: Probe | None = None,
        auto_reply: Callable[[Message], Content] | None = None,
    ) -> None:
        super().__init__(router, config, name=name, group=group)
        self.probe = probe or Probe(self.module_name)
        self._auto_reply = auto_reply

    def handle_message(self, message: Message) -> None:
        self.probe.record(message)
        if message.is_sync and self._auto_reply is not None:
            self.module_router.send_resp(message.reply(self._auto_reply(message)))

    def handle_internal(self, event: object) -> None:  # records every event: no @handles table
        self.probe.record(event)


def start_probe(router: Router, name: str, group: str, *, auto_reply: Callable[[Message], Content] | None = None) -> Probe:
    """Start a :class:`ProbeActor` registered in ``router`` as ``name`` in ``group``."""
    probe = Probe(name)
    probe.ref = ProbeActor.start(router, None, name=name, group=group, probe=probe, auto_reply=auto_reply)
    router.register(name, group, probe.ref)
    return probe


def wait_until(condition: Callable[[], _T], timeout_s: float = 5.0, interval_s: float = 0.01, what: str = "condition") -> _T:
    """Poll ``condition`` until it returns something truthy; returns that value.

    Raises:
        AssertionError: it stayed falsy for ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not met within {timeout_s} s")
        time.sleep(interval_s)


# --- tier 3 and all: crashes fail the test --------------------------------------------------


class ActorErrorWatcher(logging.Handler):
    """Collects ERROR records from pykka and kubeedge-actors, which mean an actor crashed.

    Install with :meth:`install`, check with :meth:`assert_clean`, remove with
    :meth:`uninstall`. A test that crashes an actor on purpose calls :meth:`expect`.
    """

    LOGGERS = ("pykka", "kubeedge_actors", "actors")

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self.expected = False

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def install(self) -> ActorErrorWatcher:
        for name in self.LOGGERS:
            logging.getLogger(name).addHandler(self)
        return self

    def uninstall(self) -> None:
        for name in self.LOGGERS:
            logging.getLogger(name).removeHandler(self)

    def expect(self) -> None:
        """Errors are part of this test: do not fail it for them."""
        self.expected = True

    def assert_clean(self) -> None:
        if self.expected or not self.records:
            return
        lines = "\n".join(f"{r.name}: {r.getMessage()}" + (f"\n{self.format_exc(r)}" if r.exc_info else "") for r in self.records)
        raise AssertionError(f"an actor logged errors (crashed?):\n{lines}")

    @staticmethod
    def format_exc(record: logging.LogRecord) -> str:
        return logging.Formatter().formatException(record.exc_info) if record.exc_info else ""


def stop_all_actors(timeout_s: float = 10.0) -> None:
    """Stop every pykka actor still running (after each test)."""
    pykka.ActorRegistry.stop_all(timeout=timeout_s)


__all__ = [
    "ActorErrorWatcher",
    "ActorHarness",
    "ManualScheduler",
    "Probe",
    "ProbeActor",
    "RecordingRouter",
    "Sent",
    "make_message",
    "start_probe",
    "stop_all_actors",
    "wait_until",
]
