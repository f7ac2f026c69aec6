"""Tier 1: the hub's word on the cloud connection, as every module of an edge reads it, and
the hub's reports to a durable sender (docs/architecture.md#4.1, docs/architecture.md#5.2)."""

from __future__ import annotations

import pytest

from actors.protocol import (
    CLOUD_AWAY_REASON,
    CloudState,
    DeliveryReport,
    cloud_away_reply,
    cloud_connection_view,
    is_cloud_away_reply,
    is_delivery_report,
)
from kubeedge_actors import MessageRejected, Router
from kubeedge_actors.testing import make_message


def test_before_any_hub_has_spoken_the_view_has_no_state_and_says_not_connected() -> None:
    view = cloud_connection_view(Router())

    assert (view.state, view.connected) == (None, False)


def test_each_change_the_hub_publishes_is_numbered() -> None:
    view = cloud_connection_view(Router())

    states = [view.publish(True), view.publish(False), view.publish(True)]

    assert states == [CloudState(True, 1), CloudState(False, 2), CloudState(True, 3)]
    assert view.state == CloudState(True, 3) and view.connected


def test_the_modules_of_one_router_share_one_view_and_another_router_has_its_own() -> None:
    router, other = Router(), Router()

    cloud_connection_view(router).publish(True)

    assert cloud_connection_view(router).connected
    assert cloud_connection_view(other).state is None


def test_a_delivery_report_reads_back_as_it_was_sent() -> None:
    report = DeliveryReport(written=("a", "b"), connection=4, returned=("c",), hub_started=False)

    message = report.to_message("twin")

    assert is_delivery_report(message)
    assert (message.source, message.group, message.resource) == ("edgehub", "twin", "node/delivery")
    assert DeliveryReport.of(message) == report


@pytest.mark.parametrize("content", ["written", {"written": ["a"], "returned": []}, None], ids=["text", "json-of-one", "none"])
def test_a_delivery_message_without_the_hubs_report_is_refused_naming_what_it_carries(content: object) -> None:
    message = make_message("response", "node/delivery", content, source="edgehub", group="twin")

    with pytest.raises(MessageRejected, match=rf"node/delivery must carry the hub's DeliveryReport, not {type(content).__name__}"):
        DeliveryReport.of(message)


def test_the_hubs_cloud_away_answer_is_an_error_to_the_request_and_recognised_as_such() -> None:
    request = make_message("query", "default/configmap/app", source="metaManager", group="meta", sync=True)

    answer = cloud_away_reply(request)

    assert (answer.operation, answer.parent_id, answer.source, answer.content) == ("error", request.id, "edgehub", CLOUD_AWAY_REASON)
    assert is_cloud_away_reply(answer)
    assert not is_cloud_away_reply(request.error_reply("forbidden").with_route(source="controller"))
