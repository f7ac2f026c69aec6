"""Tier 1: the hub as the one owner of the connection, and what it does with each class of
message while the cloud is away (docs/architecture.md#4.1, docs/architecture.md#5.2)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from actors.hub import HubActor
from actors.hub.actor import LinkWrote
from actors.protocol import CLOUD_AWAY_REASON, CloudState, DeliveryReport, cloud_connection_view
from actors.testing import edged_message
from kubeedge_actors import Message
from kubeedge_actors.message import decode_message
from kubeedge_actors.testing import ActorHarness, make_message
from tests.hub.fakes import FakeDialer
from tests.hub.test_hub_actor import hub_config, start_hub


@pytest.fixture
def dialer() -> Iterator[FakeDialer]:
    dialer = FakeDialer()
    yield dialer
    assert dialer.unexpected == [], f"the hub dialled without a scripted answer: generations {dialer.unexpected}"


def twin_report(n: int = 0) -> Message:
    return Message.new(source="twin", group="resource", operation="update", resource=f"device/d{n}/twin/edge_updated", content={})


def reports_to_twin(harness: ActorHarness[HubActor]) -> list[DeliveryReport]:
    return [DeliveryReport.of(m) for m in harness.router.take("send", "twin")]


def test_a_durable_senders_message_is_reported_written_once_the_link_has_written_it(dialer: FakeDialer) -> None:
    harness = start_hub(dialer.accept())
    reports_to_twin(harness)  # the one every starting hub sends
    dialer.link.writes_at_once = False
    report = twin_report()

    harness.deliver(report)
    before_the_write = reports_to_twin(harness)
    dialer.link.write()
    harness.run_pending()

    assert before_the_write == []
    assert reports_to_twin(harness) == [DeliveryReport(written=(report.id,), connection=1)]  # the hub's first connect
    assert [decode_message(f) for f in dialer.link.sent] == [report]


def test_a_durable_senders_message_taken_while_the_cloud_is_away_is_returned_not_kept(dialer: FakeDialer) -> None:
    harness = start_hub(dialer.refuse().accept())
    reports_to_twin(harness)
    report = twin_report()

    harness.deliver(report)
    returned = reports_to_twin(harness)
    harness.advance(1.0)  # connected again

    assert returned == [DeliveryReport(returned=(report.id,))]
    assert harness.actor.outbox_length == 0 and dialer.link.sent == []
    assert harness.actor.module_metrics()["messages_returned_total"] == 1


def test_what_a_breaking_link_never_wrote_goes_back_a_durable_senders_to_it_the_rest_to_the_outbox(dialer: FakeDialer) -> None:
    harness = start_hub(dialer.accept(2))
    reports_to_twin(harness)
    dialer.link.writes_at_once = False
    status_a, report_1, status_b, report_2 = (
        edged_message("update", "default/podstatus/a"),
        twin_report(1),
        edged_message("update", "default/podstatus/b"),
        twin_report(2),
    )
    for message in (status_a, report_1, status_b, report_2):
        harness.actor.on_receive(message)  # one turn of the mailbox: one hand-over
    harness.run_pending()
    dialer.link.write(2)  # status_a and report_1 reach the socket

    dialer.link.lose("broken pipe")
    harness.run_pending()
    lost = reports_to_twin(harness)
    harness.advance(1.0)

    assert lost == [DeliveryReport(written=(report_1.id,), connection=1, returned=(report_2.id,))]
    assert [decode_message(f) for f in dialer.link.sent] == [status_b]  # the next link: the outbox, no twin report


def test_a_durable_sender_hears_what_became_of_its_messages_before_it_hears_the_cloud_went_away(dialer: FakeDialer) -> None:
    harness = start_hub(dialer.accept())
    harness.router.take()
    dialer.link.writes_at_once = False
    harness.deliver(twin_report())

    dialer.link.lose()
    harness.run_pending()

    to_twin = [(s.kind, s.message.resource) for s in harness.router.sent if s.destination == "twin"]
    assert to_twin == [("send", "node/delivery"), ("group", "node/connection")]


def test_a_request_someone_waits_for_is_answered_at_once_while_the_cloud_is_away(dialer: FakeDialer) -> None:
    harness = start_hub(dialer.refuse())
    query = make_message("query", "default/configmap/app", source="metaManager", group="meta", sync=True)
    harness.router.has_waiter = lambda request_id: request_id == query.id  # type: ignore[method-assign]

    harness.deliver(query)

    [answer] = harness.router.take("resp")
    assert (answer.operation, answer.parent_id, answer.source, answer.content) == ("error", query.id, "edgehub", CLOUD_AWAY_REASON)
    assert harness.actor.outbox_length == 0
    assert harness.actor.module_metrics()["cloud_requests_refused_total"] == 1


def test_a_message_nobody_waits_for_is_kept_while_the_cloud_is_away_even_when_marked_sync(dialer: FakeDialer) -> None:
    harness = start_hub(dialer.refuse())
    forwarded = edged_message("update", "default/podstatus/a", {}, sync=True)  # edged's status, as meta forwards it

    harness.deliver(forwarded)

    assert harness.actor.outbox_length == 1 and harness.router.take("resp") == []


def test_a_starting_hub_tells_the_twin_that_an_earlier_hub_will_never_report_on_what_it_took(dialer: FakeDialer) -> None:
    harness = start_hub(dialer.refuse())

    assert reports_to_twin(harness) == [DeliveryReport(hub_started=True)]


def test_the_hub_publishes_its_state_in_the_routers_view_before_it_tells_the_others(dialer: FakeDialer) -> None:
    harness = ActorHarness(HubActor, hub_config(), dialer=dialer.accept(2))
    view = cloud_connection_view(harness.router)
    seen: list[tuple[Any, CloudState | None]] = []
    send_to_group = harness.router.send_to_group

    def recording(group: str, message: Message) -> int:
        seen.append((message.content, view.state))
        return send_to_group(group, message)

    harness.router.send_to_group = recording  # type: ignore[method-assign]
    harness.start()
    dialer.link.lose()
    harness.run_pending()

    assert seen[0] == ("cloud_connected", CloudState(True, 1)) and seen[3] == ("cloud_disconnected", CloudState(False, 2))
    assert view.state == CloudState(False, 2) and not view.connected


def test_stopping_reports_what_the_link_wrote_before_it_closed_and_returns_the_rest(dialer: FakeDialer) -> None:
    harness = start_hub(dialer.accept())
    reports_to_twin(harness)
    dialer.link.writes_at_once = False
    written, unwritten = twin_report(1), twin_report(2)
    harness.deliver(written)
    harness.deliver(unwritten)
    dialer.link.write(1)

    harness.stop()

    reports = reports_to_twin(harness)
    assert DeliveryReport(written=(written.id,), connection=1, returned=(unwritten.id,)) in reports
    assert not cloud_connection_view(harness.router).connected


def test_a_write_report_of_an_older_link_changes_nothing(dialer: FakeDialer) -> None:
    harness = start_hub(dialer.accept(2))
    reports_to_twin(harness)
    old = dialer.link
    old.writes_at_once = False
    report = twin_report()
    harness.deliver(report)
    old.lose()
    harness.run_pending()
    harness.advance(1.0)
    settled = reports_to_twin(harness)
    dialer.link.writes_at_once = False
    harness.deliver(report)  # the twin hands it to the new link

    harness.deliver(LinkWrote(old.generation, 1))  # the dead link's thread, late

    assert settled == [DeliveryReport(connection=1, returned=(report.id,))]
    assert reports_to_twin(harness) == []
