"""How to test your own actor with kubeedge_actors.testing: ``pytest examples/``.

Tier 1 drives the actor object on the test's thread (recording router, manual clock); tier 2
starts it for real, with a probe standing in for the eventbus.
"""

from __future__ import annotations

from actors.protocol import Module
from examples.uptime_actor import UptimeActor
from kubeedge_actors import Router
from kubeedge_actors.testing import ActorHarness, make_message, start_probe


def test_the_uptime_is_published_to_the_bus_every_interval() -> None:
    harness = ActorHarness(UptimeActor, interval_s=10)
    harness.start()

    harness.advance(30)

    published = harness.router.take("send", Module.BUS)
    assert [m.resource for m in published] == ["site/uptime"] * 3


def test_a_query_for_the_uptime_is_answered_to_its_waiter() -> None:
    harness = ActorHarness(UptimeActor)
    harness.start()
    query = make_message("query", "default/uptime", sync=True)

    harness.deliver(query)

    [reply] = harness.router.take("resp")
    assert reply.parent_id == query.id
    assert "uptime_s" in reply.content


def test_an_unknown_request_gets_an_error_reply_and_the_actor_keeps_serving() -> None:
    harness = ActorHarness(UptimeActor)
    harness.start()

    harness.deliver(make_message("delete", "default/uptime", sync=True))
    harness.deliver(make_message("query", "default/uptime", sync=True))

    error, answer = harness.router.take("resp")
    assert error.is_error and "cannot delete" in error.content
    assert not answer.is_error


def test_started_for_real_it_reaches_a_probe_in_place_of_the_eventbus() -> None:
    router = Router()
    bus = start_probe(router, Module.BUS, "bus")
    router.register("uptime", "user", UptimeActor.start(router, interval_s=0.05))

    report = bus.wait_for(lambda m: m.resource == "site/uptime")

    assert report.operation == "publish"
    router.close()
