"""Bad clients on the embedded broker, on raw sockets: each loses only its own connection, is
counted and logged once, and a paho client beside it notices nothing."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from actors.bus.broker.server import EmbeddedMqttBroker
from tests.bus.conftest import StartBroker
from tests.bus.paho_client import PahoClient
from tests.bus.raw_mqtt import (
    DISCONNECT,
    PINGREQ,
    PINGRESP,
    PUBCOMP,
    PUBREL,
    RawClient,
    ack_packet,
    connect_packet,
    packet,
    publish_packet,
    subscribe_packet,
    varint,
)

BROKER_LOGGER = "actors.bus.broker"


@pytest.fixture
def bystander(broker: EmbeddedMqttBroker) -> Iterator[PahoClient]:
    """A well-behaved paho client subscribed to everything."""
    client = PahoClient(broker.settings.port, ("#", 1), ("$hw/#", 1))
    yield client
    client.close()


def assert_unaffected(bystander: PahoClient) -> None:
    """The bystander publishes and receives, and nothing else reached it before."""
    bystander.publish("still/working", b"yes")
    [got] = bystander.wait_for(1)
    assert (got.topic, got.payload) == ("still/working", b"yes")


def warnings_from_the_broker(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith(BROKER_LOGGER) and r.levelno >= logging.WARNING]


def test_a_publish_to_a_wildcard_topic_ends_that_connection_and_its_payload_is_never_read_as_packets(
    broker: EmbeddedMqttBroker, bystander: PahoClient, caplog: pytest.LogCaptureFixture
) -> None:
    bad = RawClient(broker.settings.port)
    bad.connect("wildcard-publisher")
    # What amqtt 0.12 read as packets once it lost the framing: a PUBREL, a PUBCOMP, a PUBLISH.
    smuggled = ack_packet(PUBREL, 0x1234) + ack_packet(PUBCOMP, 0x5678) + publish_packet("smuggled", b"!")

    bad.send(publish_packet("sensors/+/temperature", smuggled))

    assert bad.closed_by_broker()
    assert_unaffected(bystander)
    assert broker.figures()["mqtt_broker_protocol_errors_total"] == 1
    [warning] = warnings_from_the_broker(caplog)
    assert "'wildcard-publisher'" in warning and "contains a wildcard (MQTT-3.3.2-2)" in warning


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (publish_packet("a/#", b"x", qos=1), "contains a wildcard"),
        (packet(0x00, b""), "packet type 0 is reserved"),
        (packet(0x80, b"\x00\x01\x00\x01a\x00"), "SUBSCRIBE with fixed-header flags"),
        (b"\x30\xff\xff\xff\xff\x01", "longer than 4 bytes"),
        (packet(0x36, b"\x00\x01a\x00\x01x"), "QoS 3"),
        (packet(0x40, b"\x00\x01\x00"), "PUBACK of 3 bytes"),
        (packet(0x20, b"\x00\x00"), "CONNACK is sent by brokers"),
        (connect_packet("again"), "a second CONNECT"),
        (packet(0x30, b"\x00\x09ab"), "topic name runs past the end"),
        (packet(0x30, b"\x00\x02\xc3\x28x"), "not valid UTF-8"),
        (packet(0x82, b"\x00\x01"), "SUBSCRIBE without a topic filter"),
        (subscribe_packet(1, ("a", 3)), "requested QoS byte 0x03"),
        (packet(0xE0, b"\x00"), "DISCONNECT with a body"),
    ],
    ids=[
        "wildcard-qos-1",
        "reserved-type",
        "subscribe-flags",
        "5-byte-length",
        "qos-3",
        "short-puback",
        "connack-from-client",
        "second-connect",
        "truncated-topic",
        "bad-utf8-topic",
        "empty-subscribe",
        "subscribe-qos-3",
        "disconnect-body",
    ],
)
def test_a_malformed_packet_ends_that_connection_counted_and_logged_once(
    broker: EmbeddedMqttBroker, bystander: PahoClient, caplog: pytest.LogCaptureFixture, data: bytes, reason: str
) -> None:
    bad = RawClient(broker.settings.port)
    bad.connect("malformed")

    bad.send(data + publish_packet("after/the/bad/packet", b"never routed"))

    assert bad.closed_by_broker()
    assert_unaffected(bystander)
    assert broker.figures()["mqtt_broker_protocol_errors_total"] == 1
    [warning] = warnings_from_the_broker(caplog)
    assert reason in warning


def test_a_first_packet_other_than_connect_is_answered_by_closing(broker: EmbeddedMqttBroker, caplog: pytest.LogCaptureFixture) -> None:
    bad = RawClient(broker.settings.port)

    bad.send(publish_packet("a", b"x"))

    assert bad.closed_by_broker()
    assert broker.figures()["mqtt_broker_protocol_errors_total"] == 1
    assert "not CONNECT (MQTT-3.1.0-1)" in warnings_from_the_broker(caplog)[0]


def test_a_packet_over_the_size_limit_is_refused_from_its_header_and_one_at_the_limit_passes(start_broker: StartBroker) -> None:
    broker = start_broker(max_packet_size=4096)
    listener = PahoClient(broker.settings.port, ("big/#", 0))
    fits = publish_packet("big/fits", b"x" * (4096 - 13))  # 2 header bytes + 11 topic bytes
    bad = RawClient(broker.settings.port)
    bad.connect("oversized")

    RawClient(broker.settings.port).send(connect_packet("fits") + fits)
    [got] = listener.wait_for(1)
    # 100 MiB announced: refused at the header, so nothing waits for (or buffers) the body.
    bad.send(b"\x30" + varint(100 << 20) + b"\x00\x03big")

    assert len(fits) == 4096 and got.topic == "big/fits"
    assert bad.closed_by_broker()
    assert broker.figures()["mqtt_broker_protocol_errors_total"] == 1
    listener.close()


def test_a_client_that_never_reads_is_dropped_when_its_queue_is_full_and_a_reader_gets_every_message(
    start_broker: StartBroker, caplog: pytest.LogCaptureFixture
) -> None:
    broker = start_broker(session_queue_size=10)
    reader = PahoClient(broker.settings.port, ("flood", 0))
    stalled = RawClient(broker.settings.port, receive_buffer=4096)
    stalled.connect("never-reads")
    stalled.send(subscribe_packet(1, ("flood", 0)))
    stalled.read()  # the SUBACK; then it reads nothing more
    publisher = PahoClient(broker.settings.port)
    payload = b"p" * 65536

    sent = 0
    while broker.figures()["mqtt_broker_slow_clients_dropped_total"] == 0:
        assert sent < 2000, "the stalled client was never dropped"
        publisher.publish("flood", payload + b"%d" % sent, qos=1)
        sent += 1
    publisher.publish("flood", payload + b"last", qos=1)

    received = reader.wait_for(sent + 1, timeout_s=30)
    assert [got.payload[65536:] for got in received] == [b"%d" % n for n in range(sent)] + [b"last"]
    assert stalled.closed_by_broker()
    assert broker.figures()["mqtt_broker_slow_clients_dropped_total"] == 1
    [warning] = warnings_from_the_broker(caplog)
    assert "'never-reads'" in warning and "it does not read" in warning
    for client in (reader, publisher):
        client.close()


def test_a_client_that_reads_but_never_acknowledges_keeps_its_connection_and_what_overflows_is_dropped(
    start_broker: StartBroker, caplog: pytest.LogCaptureFixture
) -> None:
    broker = start_broker(session_queue_size=5, max_inflight=2)
    unacking = RawClient(broker.settings.port)
    unacking.connect("never-acks")
    unacking.send(subscribe_packet(1, ("jobs", 1)))
    unacking.read()
    publisher = PahoClient(broker.settings.port)

    for n in range(10):
        publisher.publish("jobs", b"%d" % n, qos=1)
    unacking.send(packet(PINGREQ << 4, b""))

    assert [unacking.read().payload for _ in range(2)] == [b"0", b"1"]  # the inflight window
    assert unacking.read().kind == PINGRESP  # still connected and served
    assert broker.figures()["mqtt_broker_messages_dropped_total"] == 3  # 10 - 2 in flight - 5 queued
    assert broker.figures()["mqtt_broker_slow_clients_dropped_total"] == 0
    [warning] = warnings_from_the_broker(caplog)
    assert "'never-acks'" in warning and "acknowledges slower than messages come" in warning
    publisher.close()


def test_a_silent_client_is_closed_after_one_and_a_half_keep_alives_and_its_will_is_published(
    broker: EmbeddedMqttBroker, bystander: PahoClient
) -> None:
    silent = RawClient(broker.settings.port)

    silent.connect("silent", keepalive_s=1, will=("wills/silent", b"gone", 1, False))

    assert silent.closed_by_broker(timeout_s=5)
    [will] = bystander.wait_for(1)
    assert (will.topic, will.payload) == ("wills/silent", b"gone")
    assert broker.figures()["mqtt_broker_keepalive_expired_total"] == 1


def test_a_connection_that_sends_no_connect_is_closed(start_broker: StartBroker) -> None:
    broker = start_broker(connect_timeout_s=0.2)
    idle = RawClient(broker.settings.port)

    assert idle.closed_by_broker()
    assert broker.figures()["mqtt_broker_protocol_errors_total"] == 1


@pytest.mark.parametrize(
    ("options", "connack"),
    [
        ({"level": 5}, b"\x20\x02\x00\x01"),
        ({"level": 6}, b"\x20\x02\x00\x01"),
        ({"clean": False}, b"\x20\x02\x00\x02"),
    ],
    ids=["mqtt-5", "level-6", "empty-id-persistent"],
)
def test_a_connect_the_broker_cannot_serve_is_refused_with_the_right_return_code(
    broker: EmbeddedMqttBroker, bystander: PahoClient, caplog: pytest.LogCaptureFixture, options: dict[str, object], connack: bytes
) -> None:
    refused = RawClient(broker.settings.port)

    answer = refused.connect("", **options)

    assert answer == connack
    assert refused.closed_by_broker()
    assert broker.figures()["mqtt_broker_clients_refused_total"] == 1
    assert len(warnings_from_the_broker(caplog)) == 1
    assert_unaffected(bystander)


def test_a_clean_disconnect_is_neither_counted_nor_logged(broker: EmbeddedMqttBroker, caplog: pytest.LogCaptureFixture) -> None:
    client = RawClient(broker.settings.port)
    client.connect("polite", will=("wills/polite", b"gone", 0, False))

    client.send(packet(DISCONNECT << 4, b""))

    assert client.closed_by_broker()
    figures = broker.figures()
    assert sum(value for name, value in figures.items() if name.endswith("_total")) == 0
    assert warnings_from_the_broker(caplog) == []
