"""Tier 1: the twin acts on the hub's word on the cloud connection and keeps none of its own
(docs/architecture.md#4.1), and hands its messages over one batch at a time (docs/architecture.md#5.2)."""

from __future__ import annotations

from actors.protocol import DeliveryReport, Group, cloud_connection_view
from actors.testing import connection_event
from actors.twin.actor import TwinActor
from kubeedge_actors.testing import RecordingRouter
from tests.protocol.connection import hub_says, hub_wrote
from tests.twin.fakes import FakeTwinStore
from tests.twin.helpers import bus_message, handed_to_hub, sensor, to_cloud, twin_harness


def edge_update(value: str) -> object:
    return bus_message("$hw/events/device/sensor-1/twin/update", {"event_id": value, "twin": {"temp": {"actual": {"value": value}}}})


def values(messages: list) -> list[str]:
    return [m.content["twin"]["temp"]["actual"]["value"] for m in messages if m.resource.endswith("edge_updated")]


def test_a_late_connect_event_hands_nothing_over_when_the_hub_says_the_cloud_is_away() -> None:
    harness, _ = twin_harness(sensor())
    harness.deliver(hub_says(harness.router, True, Group.TWIN))
    to_cloud(harness)
    cloud_connection_view(harness.router).publish(False)  # the link broke; the hub's events are on their way
    harness.deliver(edge_update("1"))

    harness.deliver(connection_event(True, Group.TWIN))  # an older event, heard late

    assert handed_to_hub(harness) == []
    assert not harness.actor.connected


def test_an_event_heard_twice_asks_for_the_membership_detail_once() -> None:
    harness, _ = twin_harness()

    harness.deliver(hub_says(harness.router, True, Group.TWIN))
    harness.deliver(connection_event(True, Group.TWIN))  # the same state again

    assert [m.resource for m in to_cloud(harness)] == ["membership/detail"]


def test_messages_the_hub_returns_go_out_again_at_once_when_it_is_connected_again() -> None:
    harness, _ = twin_harness(sensor())
    harness.deliver(hub_says(harness.router, True, Group.TWIN))
    to_cloud(harness)
    harness.deliver(edge_update("1"))
    [handed] = handed_to_hub(harness)

    harness.deliver(hub_wrote(harness.router, [], returned=[handed]))  # the hub reconnected before the twin heard

    assert handed_to_hub(harness) == [handed]


def test_messages_the_hub_returns_wait_for_its_next_connect_while_the_cloud_is_away() -> None:
    harness, store = twin_harness(sensor())
    harness.deliver(hub_says(harness.router, True, Group.TWIN))
    to_cloud(harness)
    harness.deliver(edge_update("1"))
    [handed] = handed_to_hub(harness)
    cloud_connection_view(harness.router).publish(False)

    harness.deliver(hub_wrote(harness.router, [], returned=[handed]))
    while_away = handed_to_hub(harness)
    harness.deliver(hub_says(harness.router, False, Group.TWIN))
    harness.deliver(hub_says(harness.router, True, Group.TWIN))

    sent = to_cloud(harness)
    harness.advance(2)  # the tidy timer deletes delivered rows

    assert while_away == []
    assert values(sent) == ["1"]
    assert [r.message.resource for r in store.outbox] == ["membership/detail"]  # the report is delivered


def test_new_messages_wait_while_a_batch_is_with_the_hub_and_follow_it_in_order() -> None:
    harness, _ = twin_harness(sensor())
    harness.deliver(hub_says(harness.router, True, Group.TWIN))
    to_cloud(harness)
    harness.deliver(edge_update("1"))
    first = handed_to_hub(harness)

    harness.deliver(edge_update("2"))
    harness.deliver(edge_update("3"))
    while_with_the_hub = handed_to_hub(harness)
    harness.deliver(hub_wrote(harness.router, first))

    assert (values(first), while_with_the_hub, values(handed_to_hub(harness))) == (["1"], [], ["2", "3"])


def test_a_row_stays_in_the_store_until_the_hub_reports_the_message_written() -> None:
    harness, store = twin_harness(sensor())
    harness.deliver(hub_says(harness.router, True, Group.TWIN))
    to_cloud(harness)
    harness.deliver(edge_update("1"))
    [handed] = handed_to_hub(harness)
    harness.advance(5)
    kept_while_with_the_hub = [r.message.id for r in store.outbox]

    harness.deliver(hub_wrote(harness.router, [handed]))
    harness.advance(5)

    assert handed.id in kept_while_with_the_hub
    assert handed.id not in [r.message.id for r in store.outbox]


def test_a_starting_hub_makes_the_twin_hand_over_again_what_the_crashed_one_never_reported_on() -> None:
    harness, _ = twin_harness(sensor())
    harness.deliver(hub_says(harness.router, True, Group.TWIN))
    to_cloud(harness)
    harness.deliver(edge_update("1"))
    [lost] = handed_to_hub(harness)

    harness.deliver(DeliveryReport(hub_started=True).to_message(Group.TWIN))

    assert handed_to_hub(harness) == [lost]


def test_a_twin_restarted_on_the_same_edge_knows_the_cloud_confirms_reports_a_new_edge_does_not() -> None:
    harness, store = twin_harness(sensor())
    harness.deliver(hub_says(harness.router, True, Group.TWIN))
    harness.deliver(edge_update("1"))
    [report] = [m for m in to_cloud(harness) if m.resource.endswith("edge_updated")]
    harness.deliver(report.reply("OK").with_route(source="devicecontroller", group="twin"))

    restarted = TwinActor(harness.router, harness.actor.module_config, store=store)
    elsewhere = TwinActor(RecordingRouter(), harness.actor.module_config, store=FakeTwinStore())

    assert restarted.outbox.keep_until_confirmed and not elsewhere.outbox.keep_until_confirmed


def test_a_report_written_on_a_link_that_went_away_unseen_goes_out_again_on_the_next_connection() -> None:
    harness, _ = twin_harness(sensor())
    harness.deliver(hub_says(harness.router, True, Group.TWIN))
    to_cloud(harness)
    harness.actor.outbox.keep_until_confirmed = True  # a cloud that confirms reports (this project's)
    harness.deliver(edge_update("1"))
    written = to_cloud(harness)  # on connection 1; the cloud never confirms it: the link broke
    view = cloud_connection_view(harness.router)
    view.publish(False)
    view.publish(True)

    harness.deliver(connection_event(False, Group.TWIN))  # heard only once the link is up again

    assert values(written) == ["1"]
    assert values(handed_to_hub(harness)) == ["1"]


def test_a_report_written_on_the_current_connection_is_not_sent_again_when_the_twin_hears_of_it_late() -> None:
    harness, _ = twin_harness(sensor())
    harness.actor.outbox.keep_until_confirmed = True
    cloud_connection_view(harness.router).publish(True)  # the twin has not heard the event yet
    harness.deliver(edge_update("1"))
    sent = to_cloud(harness)

    harness.deliver(connection_event(True, Group.TWIN))

    assert [m.resource for m in sent] == ["device/sensor-1/twin/edge_updated", "membership/detail"]
    assert handed_to_hub(harness) == []
