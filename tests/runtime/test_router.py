"""The router: delivery by name and group, sync requests, dead letters (docs/protocol.md#1.2 and docs/protocol.md#1.3)."""

from __future__ import annotations

import pytest

from kubeedge_actors import DeadLetterError, Router, SyncTimeoutError
from kubeedge_actors.handover import Handed, Handover
from kubeedge_actors.testing import ManualScheduler, make_message, start_probe, wait_until


def test_send_delivers_to_the_named_module(router: Router) -> None:
    probe = start_probe(router, "meta", "meta")
    message = make_message()

    delivered = router.send("meta", message)

    assert delivered is True
    assert probe.wait_for() == message


def test_messages_to_one_module_arrive_in_order(router: Router) -> None:
    probe = start_probe(router, "meta", "meta")
    messages = [make_message(content=i) for i in range(200)]

    for message in messages:
        router.send("meta", message)

    assert probe.wait_for_count(200) == messages


def test_send_to_group_reaches_every_member(router: Router) -> None:
    first = start_probe(router, "a", "bus")
    second = start_probe(router, "b", "bus")
    start_probe(router, "c", "other")

    count = router.send_to_group("bus", make_message())

    assert count == 2
    first.wait_for()
    second.wait_for()


def test_an_unknown_module_is_a_counted_dead_letter(router: Router) -> None:
    delivered = router.send("nobody", make_message())

    assert delivered is False
    assert router.dead_letters() == {"nobody": 1}


def test_an_unknown_group_is_a_counted_dead_letter(router: Router) -> None:
    assert router.send_to_group("nobody", make_message()) == 0
    assert router.dead_letter_count == 1


def test_a_stopped_unsupervised_module_is_a_dead_letter(router: Router) -> None:
    probe = start_probe(router, "meta", "meta")
    probe.stop()

    assert router.send("meta", make_message()) is False
    assert router.dead_letters() == {"meta": 1}


def test_send_sync_resolves_with_the_reply_to_the_request(router: Router) -> None:
    start_probe(router, "meta", "meta", auto_reply=lambda request: ["answer"])
    request = make_message("query", "default/configmap/cm")

    reply = router.send_sync("meta", request, timeout_s=5).result(timeout=5)

    assert reply.parent_id == request.id
    assert reply.content == ["answer"]


def test_send_sync_marks_the_request_sync(router: Router) -> None:
    probe = start_probe(router, "meta", "meta", auto_reply=lambda request: "ok")

    router.send_sync("meta", make_message()).result(timeout=5)

    assert probe.messages[0].is_sync


def test_a_reply_from_another_module_resolves_the_waiter(router: Router) -> None:
    start_probe(router, "hub", "hub")  # takes the request and never answers itself
    request = make_message("query")
    future = router.send_sync("hub", request, timeout_s=5)

    taken = router.send_resp(request.reply("from the cloud"))

    assert taken is True
    assert future.result(timeout=1).content == "from the cloud"


def test_a_reply_sent_before_the_request_is_read_still_reaches_the_waiter(router: Router) -> None:
    # The waiter is registered before the request is enqueued (docs/protocol.md#1.3 item 5).
    request = make_message()
    router.register("slow", "g", start_probe(router, "slow", "g").ref)  # type: ignore[arg-type]
    future = router.send_sync("slow", request)

    router.send_resp(request.reply("instant"))

    assert future.result(timeout=1).content == "instant"


def test_a_sync_timeout_is_a_clear_error_and_leaves_no_waiter(router: Router) -> None:
    start_probe(router, "mute", "g")
    request = make_message()

    future = router.send_sync("mute", request, timeout_s=0.05)

    with pytest.raises(SyncTimeoutError, match=f"no reply from 'mute' to request {request.id} within 0.05 s"):
        future.result(timeout=5)
    assert router.has_waiter(request.id) is False
    assert router.pending_sync_count() == 0


def test_a_late_reply_after_the_timeout_finds_no_waiter(router: Router) -> None:
    start_probe(router, "mute", "g")
    request = make_message()
    future = router.send_sync("mute", request, timeout_s=0.01)
    wait_until(future.done)

    assert router.send_resp(request.reply("late")) is False


def test_a_short_timeout_after_a_long_one_still_expires_on_time(router: Router) -> None:
    start_probe(router, "mute", "g")
    long = router.send_sync("mute", make_message(), timeout_s=60)

    short = router.send_sync("mute", make_message(), timeout_s=0.05)

    with pytest.raises(SyncTimeoutError, match=r"within 0\.05 s"):
        short.result(timeout=5)
    assert not long.done()


def test_a_request_sent_again_waits_its_own_full_timeout(router: Router) -> None:
    start_probe(router, "mute", "g")
    request = make_message()
    first = router.send_sync("mute", request, timeout_s=0.05)
    router.send_resp(request.reply("answered"))

    again = router.send_sync("mute", request, timeout_s=60)

    assert first.result(timeout=1).content == "answered"
    wait_until(lambda: router.deadlines_kept() == 1, timeout_s=5)  # the first deadline passed and was swept
    assert not again.done()


def test_answered_requests_leave_a_bounded_number_of_deadlines_behind(router: Router) -> None:
    start_probe(router, "echo", "g", auto_reply=lambda message: "ok")
    pending = router.send_sync("nobody-answers", make_message(), timeout_s=60)  # a dead letter: fails at once

    for _ in range(5000):
        router.send_sync("echo", make_message(), timeout_s=60).result(timeout=5)

    assert pending.done()
    assert router.pending_sync_count() == 0
    assert router.deadlines_kept() <= 1024 + 3  # the slack, twice the one waiter, the last push


def test_send_sync_to_an_unknown_module_fails_at_once(router: Router) -> None:
    future = router.send_sync("nobody", make_message(), timeout_s=60)

    assert future.done()
    with pytest.raises(DeadLetterError, match="nobody"):
        future.result()
    assert router.pending_sync_count() == 0


def test_send_resp_without_a_waiter_is_reported_as_not_taken(router: Router) -> None:
    assert router.send_resp(make_message().reply("x")) is False


def test_closing_fails_pending_requests(router: Router) -> None:
    start_probe(router, "mute", "g")
    future = router.send_sync("mute", make_message(), timeout_s=60)

    router.close()

    with pytest.raises(Exception, match="router closed"):
        future.result(timeout=1)


def test_registering_again_replaces_the_actor_and_its_group_entry(router: Router) -> None:
    old = start_probe(router, "meta", "meta")
    new = start_probe(router, "meta", "meta")

    router.send_to_group("meta", make_message())

    assert router.group_members("meta") == ("meta",)
    new.wait_for()
    assert old.messages == []


def test_unregister_removes_the_module(router: Router) -> None:
    start_probe(router, "meta", "meta")

    router.unregister("meta")

    assert router.modules() == {}
    assert router.send("meta", make_message()) is False


def test_messages_for_a_reserved_module_wait_for_it_and_arrive_first_in_order(router: Router) -> None:
    router.reserve("late", "late-group")
    early = [make_message(content=1), make_message(content=2)]
    router.send("late", early[0])
    router.send_to_group("late-group", early[1])

    probe = start_probe(router, "late", "late-group")
    router.send("late", make_message(content=3))

    assert [m.content for m in probe.wait_for_count(3)] == [1, 2, 3]
    assert router.dead_letter_count == 0


def test_a_reserved_module_is_not_alive_and_giving_it_up_dead_letters_what_waits(router: Router) -> None:
    router.reserve("late", "late-group")
    router.send_batch("late", [make_message(), make_message()])

    alive = router.is_alive("late")
    router.unregister("late")

    assert alive is False
    assert router.dead_letters() == {"late": 2}


def _stage(limit: int = 10) -> Handover[object]:
    return Handover(lambda _: None, limit, "test stage")


def test_an_actor_takes_a_handed_message_and_handles_it_as_if_sent_alone(router: Router) -> None:
    probe = start_probe(router, "twin", "twin")
    stage = _stage()
    stage.offer(object())
    message = make_message()

    router.send("twin", Handed(message, stage))

    assert probe.wait_for(lambda got: got.id == message.id).content == message.content
    wait_until(lambda: stage.in_flight == 0)


def test_a_handed_message_that_becomes_a_dead_letter_frees_its_place(router: Router) -> None:
    stage = _stage()
    stage.offer(object())

    router.send("nobody", Handed(make_message(), stage))

    assert stage.in_flight == 0
    assert router.dead_letter_count == 1


def test_what_the_modules_of_a_router_share_is_made_once_per_router_and_kind() -> None:
    class Desk:
        pass

    first, second = Router(scheduler=ManualScheduler()), Router(scheduler=ManualScheduler())

    assert first.shared(Desk) is first.shared(Desk)
    assert first.shared(Desk) is not second.shared(Desk)
    assert isinstance(first.shared(dict), dict)
