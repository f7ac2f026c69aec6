"""ModuleActor: dispatch, expected errors, timers, background work, replies."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from kubeedge_actors import Message, Router, handles
from kubeedge_actors.testing import ActorHarness, make_message, start_probe, wait_until
from tests.runtime.actors_for_tests import EchoActor, Tick, WorkDone


@pytest.fixture(autouse=True)
def clean_journal() -> Iterator[None]:
    EchoActor.journal.clear()
    EchoActor.lifecycle.clear()
    yield


def test_an_expected_error_on_a_sync_request_becomes_an_error_reply(router: Router) -> None:
    router.register("echo", "echo", EchoActor.start(router))
    request = make_message("bad", "ns/thing/x")

    reply = router.send_sync("echo", request, timeout_s=5).result(timeout=5)

    assert reply.is_error
    assert reply.parent_id == request.id
    assert reply.content == "no resource 'ns/thing/x' here"
    assert reply.source == "echo"


def test_an_expected_error_is_a_warning_and_the_actor_keeps_serving(router: Router, caplog: pytest.LogCaptureFixture) -> None:
    router.register("echo", "echo", EchoActor.start(router))
    router.send("echo", make_message("reject-plain"))

    reply = router.send_sync("echo", make_message("echo", content="still here"), timeout_s=5).result(timeout=5)

    assert reply.content == "still here"
    assert any("echo: rejected" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)


def test_harness_records_what_the_actor_sends_without_threads() -> None:
    harness = ActorHarness(EchoActor)
    harness.start()
    request = make_message("echo", content=42, sync=True)

    harness.deliver(request)

    [reply] = harness.router.take("resp")
    assert reply.parent_id == request.id and reply.content == 42


def test_tell_later_delivers_after_the_delay_only() -> None:
    harness = ActorHarness(EchoActor)
    harness.start()
    harness.actor.module_tell_later(5, Tick(1))

    harness.advance(4.9)
    assert EchoActor.journal == []
    harness.advance(0.2)

    assert EchoActor.journal == [("echo", Tick(1))]


def test_tell_every_repeats_until_the_actor_stops() -> None:
    harness = ActorHarness(EchoActor)
    harness.start()
    harness.actor.module_tell_every(1, Tick(0))

    harness.advance(3)
    harness.stop()
    harness.advance(3)

    assert EchoActor.journal == [("echo", Tick(0))] * 3


def test_background_work_reports_its_outcome_to_the_actor(router: Router) -> None:
    ref = EchoActor.start(router)
    actor = ref.proxy()

    actor.module_run_in_background(lambda: 6 * 7, WorkDone).get(timeout=5)

    wait_until(lambda: EchoActor.journal, what="worker result")
    [(_, event)] = EchoActor.journal
    assert event.outcome.ok and event.outcome.value == 42


def test_background_work_that_raises_reports_the_error(router: Router) -> None:
    def fail() -> int:
        raise OSError("docker is away")

    EchoActor.start(router).proxy().module_run_in_background(fail, WorkDone).get(timeout=5)

    wait_until(lambda: EchoActor.journal, what="worker result")
    [(_, event)] = EchoActor.journal
    assert not event.outcome.ok and "docker is away" in str(event.outcome.error)


@dataclass(frozen=True)
class Hold:
    """Keeps the actor busy until ``gate`` is set; ``holding`` is set once the actor is in it."""

    gate: threading.Event
    holding: threading.Event = field(default_factory=threading.Event)


class HoldingActor(EchoActor):
    @handles(Hold)
    def _hold(self, event: Hold) -> None:
        event.holding.set()
        event.gate.wait(5)


def test_a_background_value_the_actor_takes_is_not_discarded(router: Router) -> None:
    discarded: list[str] = []
    ref = EchoActor.start(router)

    ref.proxy().module_run_in_background(lambda: "socket", WorkDone, discard=discarded.append).get(timeout=5)
    wait_until(lambda: EchoActor.journal, what="worker result")
    ref.stop()

    [(_, event)] = EchoActor.journal
    assert event.outcome.value == "socket"
    assert discarded == []


def test_a_background_value_finished_after_the_actor_stopped_is_discarded(router: Router) -> None:
    discarded: list[str] = []
    release = threading.Event()
    ref = EchoActor.start(router)
    ref.proxy().module_run_in_background(lambda: release.wait(5) and "socket", WorkDone, discard=discarded.append).get(timeout=5)

    ref.stop()
    release.set()

    wait_until(lambda: discarded, what="the value discarded")
    assert discarded == ["socket"]
    assert EchoActor.journal == []


def test_a_background_value_whose_event_waits_behind_the_stop_is_discarded(router: Router) -> None:
    discarded: list[str] = []
    finish, busy = threading.Event(), threading.Event()
    ref = HoldingActor.start(router)
    ref.proxy().module_run_in_background(lambda: finish.wait(5) and "socket", WorkDone, discard=discarded.append).get(timeout=5)
    hold = Hold(busy)
    ref.tell(hold)
    assert hold.holding.wait(5)  # the actor is in Hold: the inbox now holds only what comes after it
    ref.stop(block=False)

    finish.set()  # the job's event lands behind the stop: the actor never handles it
    wait_until(lambda: ref.actor_inbox.qsize() == 2, what="the job's event queued behind the stop")
    busy.set()

    wait_until(lambda: discarded, what="the value discarded by on_stop")
    assert discarded == ["socket"]
    assert EchoActor.journal == []


def test_reply_callbacks_run_on_the_actor_thread(router: Router) -> None:
    start_probe(router, "peer", "peer", auto_reply=lambda request: "pong")
    ref = EchoActor.start(router)
    seen: list[tuple[str | None, str]] = []

    def on_reply(reply: Message | None, error: BaseException | None) -> None:
        import threading

        seen.append((reply.content if reply else None, threading.current_thread().name))

    future = router.send_sync("peer", make_message())
    ref.proxy().module_on_reply(future, on_reply).get(timeout=5)

    wait_until(lambda: seen, what="reply callback")
    assert seen[0][0] == "pong"
    assert seen[0][1].startswith("EchoActor")


def test_a_batch_is_handled_message_by_message_in_order_as_if_sent_one_by_one(router: Router) -> None:
    ref = EchoActor.start(router)
    router.register("echo", "echo", ref)
    batch = [make_message("note", content=0), make_message("bad", content=1), make_message("note", content=2)]

    delivered = router.send_batch("echo", batch)

    assert delivered is True
    wait_until(lambda: len(EchoActor.journal) == 3, what="the batch handled")
    assert [content for _, content in EchoActor.journal] == [0, 1, 2]  # the rejected one did not stop the rest
    assert ref.proxy().module_received_count.get() == 3


def test_a_batch_for_an_unknown_module_is_one_dead_letter_per_message(router: Router) -> None:
    delivered = router.send_batch("nobody", [make_message(), make_message()])

    assert delivered is False
    assert router.dead_letters() == {"nobody": 2}


def test_the_recording_router_records_a_batch_as_single_sends() -> None:
    harness = ActorHarness(EchoActor)
    messages = [make_message(content=n) for n in range(3)]

    harness.router.send_batch("meta", messages)

    assert harness.router.take("send", "meta") == messages


@dataclass(frozen=True)
class Ring:
    """An event only subclasses of :class:`Bell` know."""


class Bell(EchoActor):
    @handles(Ring)
    def _ring(self, event: Ring) -> None:
        self.journal.append((self.module_name, "ring"))


class LouderBell(Bell):
    @handles(Ring)
    def _ring_louder(self, event: Ring) -> None:
        self.journal.append((self.module_name, "RING"))


def test_internal_events_go_to_the_method_marked_for_their_type_and_subclasses_inherit_the_marks() -> None:
    bell = ActorHarness(Bell)

    bell.actor.handle_internal(Ring())
    bell.actor.handle_internal(Tick(7))

    assert EchoActor.journal == [("echo", "ring"), ("echo", Tick(7))]


def test_a_subclass_marking_a_type_again_replaces_its_base_handler() -> None:
    ActorHarness(LouderBell).actor.handle_internal(Ring())

    assert EchoActor.journal == [("echo", "RING")]


def test_an_internal_event_no_method_handles_is_a_warning_naming_its_type(caplog: pytest.LogCaptureFixture) -> None:
    echo = ActorHarness(EchoActor)

    echo.actor.handle_internal(Ring())

    assert EchoActor.journal == []
    assert "echo: unexpected internal event 'Ring'" in caplog.text
