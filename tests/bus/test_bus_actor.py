"""Tier 1: the bus actor object with fake broker clients, a recording router and manual time."""

from __future__ import annotations

import base64
import json
import logging

import pytest

from actors.bus.actor import BusActor
from actors.bus.topics import FIXED_SUBSCRIPTIONS
from actors.keys import edge_defaults
from actors.protocol import Group, Module, encode_topic
from actors.testing import connection_event
from kubeedge_actors.testing import ActorHarness, make_message
from tests.bus.fakes import FakeBroker, FakeMqttClient


def started_bus(*clients: FakeMqttClient, mode: int = 2, **values: object) -> ActorHarness[BusActor]:
    config = edge_defaults().with_values({"mqtt.mode": mode, "edgehub.controller.node-id": "node-1", **values})
    broker = FakeBroker() if mode in (0, 1) else None
    harness = ActorHarness(BusActor, config, clients=list(clients or [FakeMqttClient()]), broker=broker)
    harness.start()
    return harness


def connected_bus(**values: object) -> tuple[ActorHarness[BusActor], FakeMqttClient]:
    client = FakeMqttClient()
    harness = started_bus(client, **values)
    client.fire_connected()
    harness.run_pending()
    return harness, client


# --- connecting and subscribing ------------------------------------------------------------------


def test_the_fixed_subscriptions_are_made_at_qos_1_once_connected() -> None:
    _harness, client = connected_bus()

    assert client.subscribed == [(FIXED_SUBSCRIPTIONS, 1)]
    assert FIXED_SUBSCRIPTIONS == (
        "$hw/events/upload/#",
        "$hw/events/device/+/state/update",
        "$hw/events/device/+/twin/+",
        "$hw/events/node/+/membership/get",
        "SYS/dis/upload_records",
    )


def test_subscriptions_are_made_again_after_a_reconnect() -> None:
    harness, client = connected_bus()
    harness.deliver(make_message("subscribe", "custom/topic/#", source="cloud"))

    client.fire_lost()
    harness.run_pending()
    harness.advance(60)
    client.fire_connected()
    harness.run_pending()

    assert client.connect_calls == 2
    assert client.subscribed[-1] == ((*FIXED_SUBSCRIPTIONS, "custom/topic/#"), 1)


def test_an_unreachable_broker_is_retried_with_growing_waits_up_to_the_cap() -> None:
    client = FakeMqttClient(connect_failures=20)
    harness = started_bus(client, **{"mqtt.reconnect-max-interval": 4.0})

    calls_after = []
    for _ in range(8):
        harness.advance(1.0)
        calls_after.append(client.connect_calls)

    # waits of ~0.5, 1, 2, 4, 4 ... s (jittered down by at most 20 %)
    assert calls_after[0] >= 2
    assert 4 <= calls_after[-1] <= 7


def test_each_change_of_broker_state_is_logged_once_not_once_per_retry(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="actors.bus")
    client = FakeMqttClient(connect_failures=6)
    harness = started_bus(client)

    for _ in range(10):
        harness.advance(30)
    client.fire_connected()
    harness.run_pending()

    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO and r.name.startswith("actors.bus")]
    assert [line.split(" the ")[0] for line in lines] == ["bus: cannot reach", "bus: connected to"]
    assert client.connect_calls == 7


def test_a_lost_connection_is_logged_once_and_redialled_after_a_back_off(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="actors.bus")
    harness, client = connected_bus()

    client.fire_lost("keepalive timeout")
    client.fire_lost("keepalive timeout")  # paho may report one loss twice
    harness.run_pending()
    harness.advance(0.3)
    dialled_early = client.connect_calls
    harness.advance(1.0)

    assert dialled_early == 1
    assert client.connect_calls == 2
    assert sum("lost the external broker" in r.getMessage() for r in caplog.records) == 1


def test_mode_1_runs_the_embedded_broker_and_uses_both_brokers() -> None:
    internal, external = FakeMqttClient("internal", "tcp://127.0.0.1:1884"), FakeMqttClient("external")
    harness = started_bus(internal, external, mode=1, **{"mqtt.qos": 0, "mqtt.retain": True})
    broker = harness.actor.broker
    internal.fire_connected()
    external.fire_connected()
    harness.run_pending()

    harness.deliver(make_message("publish", "a/b", "x", source="twin"))

    assert isinstance(broker, FakeBroker) and broker.running
    assert internal.published == [("a/b", b"x", 0, True)]
    assert external.published == [("a/b", b"x", 1, False)]
    harness.stop()
    assert not broker.running and internal.closed and external.closed


def test_mode_2_starts_no_embedded_broker() -> None:
    harness = started_bus(FakeMqttClient(), mode=2)

    assert harness.actor.broker is None


# --- MQTT → envelopes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "kind", "destination"),
    [
        ("$hw/events/device/dev1/twin/update", "group", Group.TWIN),
        ("$hw/events/device/dev1/state/update", "group", Group.TWIN),
        ("$hw/events/node/node-1/membership/get", "group", Group.TWIN),
        ("$hw/events/upload/reading", "send", Module.HUB),
    ],
    ids=["twin-update", "state-update", "membership-get", "upload-to-cloud"],
)
def test_a_message_from_mqtt_becomes_an_envelope_for_the_twin_or_the_cloud(topic: str, kind: str, destination: str) -> None:
    harness, client = connected_bus()

    client.fire_message(topic, b'{"event_id":"e1"}')
    harness.run_pending()

    [message] = harness.router.take(kind, destination)
    assert (message.source, message.group, message.operation) == ("bus", "user", "response")
    assert message.resource == base64.urlsafe_b64encode(topic.encode()).decode()
    assert message.content == '{"event_id":"e1"}'
    assert message.parent_id == ""


def test_the_resource_is_base64url_with_padding() -> None:
    assert encode_topic("$hw/events/device/dev1/twin/update") == "JGh3L2V2ZW50cy9kZXZpY2UvZGV2MS90d2luL3VwZGF0ZQ=="


def test_upload_records_keep_their_raw_topic_as_resource() -> None:
    harness, client = connected_bus()

    client.fire_message("SYS/dis/upload_records", b"records")
    harness.run_pending()

    [message] = harness.router.take("send", Module.HUB)
    assert message.resource == "SYS/dis/upload_records"


def test_a_payload_that_is_not_utf8_is_forwarded_with_replacement_characters() -> None:
    harness, client = connected_bus()

    client.fire_message("$hw/events/upload/x", b"\xff\xfeok")
    harness.run_pending()

    [message] = harness.router.take("send", Module.HUB)
    assert message.content == "\ufffd\ufffdok"


def test_a_flood_from_the_broker_is_dropped_and_counted_beyond_the_hand_over_limit() -> None:
    harness, client = connected_bus(**{"mqtt.inbound-queue-size": 10})

    accepted = [client.fire_message("$hw/events/upload/x", b"%d" % i) for i in range(25)]

    assert accepted.count(True) == 10
    assert harness.actor.inbound.dropped == 15
    assert len(harness.router.take("send", Module.HUB)) == 10


def test_messages_the_receiving_module_took_make_room_in_the_hand_over_again() -> None:
    harness, client = connected_bus(**{"mqtt.inbound-queue-size": 2})
    client.fire_message("$hw/events/device/d1/twin/update", b"{}")
    client.fire_message("$hw/events/device/d1/twin/update", b"{}")

    refused = client.fire_message("$hw/events/device/d1/twin/update", b"{}")
    harness.router.take("group", Group.TWIN)
    accepted = client.fire_message("$hw/events/device/d1/twin/update", b"{}")

    assert (refused, accepted) == (False, True)
    assert harness.actor.inbound.in_flight == 1


# --- envelopes → MQTT ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "payload"),
    [
        (b'{"raw":true}', b'{"raw":true}'),
        ("text payload", b"text payload"),
        ({"an": ["object"]}, b'{"an":["object"]}'),
        (42, b"42"),
    ],
    ids=["bytes", "text", "object-as-json", "number-as-json"],
)
def test_publish_sends_the_content_to_the_topic_in_the_resource(content: object, payload: bytes) -> None:
    harness, client = connected_bus()

    harness.deliver(make_message("publish", "$hw/events/device/d/twin/update/result", content, source="twin", group="bus"))

    assert client.published == [("$hw/events/device/d/twin/update/result", payload, 1, False)]


def test_the_hubs_connection_event_is_republished_on_the_node_connection_topic() -> None:
    harness, client = connected_bus()

    harness.deliver(connection_event(True, Group.BUS))

    assert client.published == [("node/connection", b"cloud_connected", 1, False)]


def test_the_message_operation_publishes_the_inner_message_as_json_to_its_topic() -> None:
    harness, client = connected_bus()
    content = {"message": {"topic": "app/cmd", "data": "go"}}

    harness.deliver(make_message("message", "whatever", content, source="cloud"))

    [(topic, payload, _, _)] = client.published
    assert topic == "app/cmd"
    assert json.loads(payload) == {"topic": "app/cmd", "data": "go"}


def test_get_result_on_auth_info_publishes_to_the_nodes_auth_info_topic() -> None:
    harness, client = connected_bus()

    harness.deliver(make_message("get_result", "auth_info", {"ak": "x"}, source="cloud"))

    assert client.published == [("$hw/events/node/node-1/authInfo/get/result", b'{"ak":"x"}', 1, False)]


@pytest.mark.parametrize(
    ("operation", "resource", "content", "reason"),
    [
        ("message", "x", "not an object", "must be"),
        ("message", "x", {"message": {"no": "topic"}}, "must be"),
        ("get_result", "something_else", {}, "only for auth_info"),
        ("dance", "x", None, "action not found"),
        ("publish", "", "x", "needs a topic"),
    ],
    ids=["message-not-object", "message-without-topic", "get-result-other", "unknown-operation", "publish-without-topic"],
)
def test_bad_requests_get_an_error_reply_and_the_bus_keeps_serving(operation: str, resource: str, content: object, reason: str) -> None:
    harness, client = connected_bus()

    harness.deliver(make_message(operation, resource, content, source="cloud", sync=True))
    harness.deliver(make_message("publish", "still/alive", "yes", source="cloud"))

    [error] = harness.router.take("resp")
    assert error.is_error and reason in error.content
    assert client.published == [("still/alive", b"yes", 1, False)]


def test_a_refused_publish_is_counted_not_raised() -> None:
    harness, client = connected_bus()
    client.refuse_publishes = True

    harness.deliver(make_message("publish", "a/b", "x", source="twin"))

    assert harness.actor.publish_failures == 1


# --- metrics -------------------------------------------------------------------------------------


def test_the_figures_show_each_brokers_state_and_losses() -> None:
    internal, external = FakeMqttClient("internal"), FakeMqttClient("external")
    harness = started_bus(internal, external, mode=1)
    internal.fire_connected()
    harness.run_pending()
    before = harness.actor.module_metrics()

    internal.fire_lost()
    harness.run_pending()
    lost = harness.actor.module_metrics()
    harness.advance(60)
    internal.fire_connected()
    harness.run_pending()
    back = harness.actor.module_metrics()

    assert (before['mqtt_connected{broker="internal"}'], before['mqtt_connected{broker="external"}']) == (1, 0)
    assert (lost['mqtt_connected{broker="internal"}'], lost['mqtt_connection_losses_total{broker="internal"}']) == (0, 1)
    assert (back['mqtt_connected{broker="internal"}'], back['mqtt_reconnects_total{broker="internal"}']) == (1, 1)
    assert back['mqtt_connection_losses_total{broker="external"}'] == 0


def test_the_figures_count_messages_through_the_bus_and_the_hand_overs_drops() -> None:
    harness, client = connected_bus(**{"mqtt.inbound-queue-size": 3})
    for n in range(5):
        client.fire_message("$hw/events/upload/x", b"%d" % n)
    harness.router.take("send", Module.HUB)  # the hub took the three it was handed
    harness.deliver(make_message("publish", "some/topic", "text", source="twin"))
    client.refuse_publishes = True
    harness.deliver(make_message("publish", "some/topic", "text", source="twin"))

    figures = harness.actor.module_metrics()

    assert (figures["mqtt_received_total"], figures["mqtt_inbound_dropped_total"], figures["mqtt_inbound_waiting"]) == (3, 2, 0)
    assert (figures["mqtt_published_total"], figures['mqtt_publishes_refused_total{broker="external"}']) == (1, 1)


def test_the_embedded_brokers_own_figures_are_among_the_bus_figures() -> None:
    harness = started_bus(FakeMqttClient("internal"), mode=0)

    figures = harness.actor.module_metrics()

    assert figures["mqtt_broker_connections"] == 1


def test_without_an_embedded_broker_there_are_no_broker_figures() -> None:
    harness = started_bus(mode=2)

    assert not any(name.startswith("mqtt_broker_") for name in harness.actor.module_metrics())
