"""The bus's publish-queue query: the twin's flow control (docs/architecture.md#4.4).

Tier 1 with fake clients and manual time; the clients' queue figure against a real broker."""

from __future__ import annotations

import importlib.metadata

from actors.bus.actor import QUEUE_CHECK_S, BusActor
from actors.bus.mqtt import WAITING_VERIFIED_WITH, PahoMqttClient
from actors.keys import edge_defaults
from actors.protocol import PUBLISH_QUEUE_RESOURCE
from kubeedge_actors import Message
from kubeedge_actors.testing import ActorHarness, make_message, wait_until
from tests.bus.conftest import StartBroker
from tests.bus.fakes import FakeMqttClient


def bus_with(*clients: FakeMqttClient) -> ActorHarness[BusActor]:
    config = edge_defaults().with_values({"mqtt.mode": 2, "edgehub.controller.node-id": "node-1"})
    harness = ActorHarness(BusActor, config, clients=list(clients))
    harness.start()
    return harness


def connect(harness: ActorHarness[BusActor], client: FakeMqttClient) -> None:
    client.fire_connected()
    harness.run_pending()


def queue_query() -> Message:
    return make_message("query", PUBLISH_QUEUE_RESOURCE, None, source="twin", group="bus").with_header(sync=True)


def answers(harness: ActorHarness[BusActor]) -> list[Message]:
    return harness.router.take("resp")


def test_the_publish_queue_query_is_answered_at_once_when_the_queues_have_room() -> None:
    client = FakeMqttClient()
    harness = bus_with(client)
    connect(harness, client)
    client.queued = harness.actor.publish_low_mark
    query = queue_query()

    harness.deliver(query)

    [answer] = answers(harness)
    assert (answer.parent_id, answer.operation, answer.content) == (query.id, "response", {"waiting": 2_500})  # a quarter of 10,000


def test_the_publish_queue_query_waits_while_a_connected_client_holds_more_than_the_low_mark() -> None:
    client = FakeMqttClient()
    harness = bus_with(client)
    connect(harness, client)
    client.queued = harness.actor.publish_low_mark + 1
    first, second = queue_query(), queue_query()

    harness.deliver(first)
    harness.deliver(second)
    harness.advance(QUEUE_CHECK_S)
    assert answers(harness) == []
    client.queued = 10
    harness.advance(QUEUE_CHECK_S)

    assert [answer.parent_id for answer in answers(harness)] == [first.id, second.id]


def test_a_client_that_is_away_does_not_hold_the_publish_queue_query() -> None:
    away, connected = FakeMqttClient("internal"), FakeMqttClient("external")
    harness = bus_with(away, connected)
    connect(harness, connected)
    away.queued = 50_000

    harness.deliver(queue_query())

    assert len(answers(harness)) == 1


def test_a_paho_client_counts_the_publishes_it_has_not_sent_yet(start_broker: StartBroker) -> None:
    broker = start_broker()
    client = PahoMqttClient("internal", broker.url)
    client.bind(lambda _event: None, lambda _event: None)
    try:
        for n in range(300):
            assert client.publish("flow/test", str(n).encode(), 1, False)  # QoS 1 before connecting: kept
        assert client.waiting() == 300

        client.connect()

        wait_until(lambda: client.waiting() == 0, timeout_s=10, what="the broker acknowledged all 300 publishes")
    finally:
        client.close()


def test_the_queue_count_runs_on_the_paho_release_it_was_verified_against() -> None:
    installed = importlib.metadata.version("paho-mqtt")

    assert installed == WAITING_VERIFIED_WITH, (
        f"actors/bus/mqtt.py: PahoMqttClient.waiting reads paho's private _out_messages and _out_packet and was verified "
        f"against paho-mqtt {WAITING_VERIFIED_WITH}, but {installed} is installed. Check that both still hold what waits "
        "(test_a_paho_client_counts_the_publishes_it_has_not_sent_yet), then set WAITING_VERIFIED_WITH to the new release"
    )
