"""What device apps and the bus use of the embedded broker, judged by paho-mqtt and raw sockets:
QoS 0/1/2, retained messages, sessions, wills, take-over, the ``$`` rule."""

from __future__ import annotations

import paho.mqtt.client as paho
import pytest

from actors.bus.broker.server import EmbeddedMqttBroker
from tests.bus.conftest import StartBroker
from tests.bus.paho_client import PahoClient
from tests.bus.raw_mqtt import (
    PINGREQ,
    PINGRESP,
    PUBACK,
    PUBCOMP,
    PUBLISH,
    PUBREC,
    PUBREL,
    SUBACK,
    UNSUBACK,
    RawClient,
    ack_packet,
    packet,
    publish_packet,
    string,
    subscribe_packet,
)

QOS = [0, 1, 2]


@pytest.mark.parametrize("subscribed_qos", QOS)
@pytest.mark.parametrize("published_qos", QOS)
def test_a_message_arrives_once_at_the_lower_of_the_publish_and_subscription_qos(
    broker: EmbeddedMqttBroker, published_qos: int, subscribed_qos: int
) -> None:
    subscriber = PahoClient(broker.settings.port, ("sensors/+/t", subscribed_qos))
    publisher = PahoClient(broker.settings.port)

    publisher.publish("sensors/s1/t", b"21.5", qos=published_qos)
    publisher.publish("sensors/s1/t", b"end", qos=published_qos)  # order holds within one QoS (MQTT 4.6)

    got = subscriber.wait_for(2)
    expected_qos = min(published_qos, subscribed_qos)
    assert [(g.payload, g.qos, g.retain) for g in got] == [(b"21.5", expected_qos, False), (b"end", expected_qos, False)]
    for client in (subscriber, publisher):
        client.close()


def test_a_retained_message_reaches_later_subscribers_flagged_and_an_empty_one_clears_it(broker: EmbeddedMqttBroker) -> None:
    publisher = PahoClient(broker.settings.port)
    current = PahoClient(broker.settings.port, ("lamp/state", 1))

    publisher.publish("lamp/state", b"on", qos=1, retain=True)
    later = PahoClient(broker.settings.port, ("lamp/#", 2))
    publisher.publish("lamp/state", b"", qos=0, retain=True)
    after_clear = PahoClient(broker.settings.port, ("lamp/#", 1))
    publisher.publish("lamp/marker", b"m")

    assert [(g.payload, g.retain) for g in current.wait_for(1)] == [(b"on", False)]  # MQTT-3.3.1-9
    assert [(g.topic, g.payload, g.qos, g.retain) for g in later.wait_for(1)] == [("lamp/state", b"on", 1, True)]
    assert [g.topic for g in after_clear.wait_for(1)] == ["lamp/marker"]
    for client in (publisher, current, later, after_clear):
        client.close()


def test_a_persistent_session_keeps_its_subscriptions_and_qos_1_messages_while_the_client_is_away(broker: EmbeddedMqttBroker) -> None:
    PahoClient(broker.settings.port, ("k/#", 1), client_id="keeper", clean_session=False).close()
    publisher = PahoClient(broker.settings.port)
    for payload, qos in ((b"1", 1), (b"lost at QoS 0", 0), (b"2", 2), (b"3", 1)):
        publisher.publish("k/v", payload, qos=qos)

    back = PahoClient(broker.settings.port, client_id="keeper", clean_session=False)

    assert back.session_present is True
    assert [g.payload for g in back.wait_for(3)] == [b"1", b"2", b"3"]
    back.close()
    fresh = PahoClient(broker.settings.port, client_id="keeper", clean_session=True)
    assert fresh.session_present is False
    fresh.close()
    publisher.close()


def test_an_absent_clients_queue_holds_session_queue_size_messages_and_counts_the_rest(start_broker: StartBroker) -> None:
    broker = start_broker(session_queue_size=5)
    PahoClient(broker.settings.port, ("q", 1), client_id="away", clean_session=False).close()
    publisher = PahoClient(broker.settings.port)
    for n in range(8):
        publisher.publish("q", b"%d" % n, qos=1)

    back = PahoClient(broker.settings.port, client_id="away", clean_session=False)
    publisher.publish("q", b"now", qos=1)

    assert [g.payload for g in back.wait_for(6)] == [b"0", b"1", b"2", b"3", b"4", b"now"]
    assert broker.figures()["mqtt_broker_messages_dropped_total"] == 3
    for client in (back, publisher):
        client.close()


def test_dollar_topics_flow_to_dollar_filters_but_not_to_filters_starting_with_a_wildcard(broker: EmbeddedMqttBroker) -> None:
    everything = PahoClient(broker.settings.port, ("#", 1), ("+/events/#", 1))
    devices = PahoClient(broker.settings.port, ("$hw/events/device/+/twin/+", 1))
    publisher = PahoClient(broker.settings.port)

    publisher.publish("$hw/events/device/lamp/twin/update", b"{}")
    publisher.publish("plain/events/x", b"p")

    assert [g.topic for g in everything.wait_for(1)] == ["plain/events/x"]
    assert [g.topic for g in devices.wait_for(1)] == ["$hw/events/device/lamp/twin/update"]
    for client in (everything, devices, publisher):
        client.close()


def test_the_will_is_published_when_a_client_vanishes_but_not_after_disconnect(broker: EmbeddedMqttBroker) -> None:
    watcher = PahoClient(broker.settings.port, ("wills/#", 1))
    polite = PahoClient(broker.settings.port)
    polite.client.will_set("wills/polite", b"gone", qos=1)
    polite.client.reconnect()
    vanishing = RawClient(broker.settings.port)
    vanishing.connect("vanishing", will=("wills/vanishing", b"gone", 1, False))

    polite.close()
    vanishing.close()
    [will] = watcher.wait_for(1)
    watcher.publish("wills/marker", b"m")

    assert will.topic == "wills/vanishing"
    assert [g.topic for g in watcher.wait_for(2)] == ["wills/vanishing", "wills/marker"]
    watcher.close()


def test_a_second_connection_with_the_same_client_id_takes_over_and_closes_the_first(broker: EmbeddedMqttBroker) -> None:
    first = RawClient(broker.settings.port)
    first.connect("twin-app")
    second = RawClient(broker.settings.port)

    second.connect("twin-app")
    second.send(packet(PINGREQ << 4, b""))

    assert first.closed_by_broker()
    assert second.read().kind == PINGRESP


def test_a_qos_2_publish_sent_twice_before_pubrel_is_routed_once(broker: EmbeddedMqttBroker) -> None:
    subscriber = PahoClient(broker.settings.port, ("exactly/once", 1))
    publisher = RawClient(broker.settings.port)
    publisher.connect("qos2-publisher")

    publisher.send(publish_packet("exactly/once", b"1", qos=2, packet_id=9))
    first = publisher.read()
    publisher.send(publish_packet("exactly/once", b"1", qos=2, packet_id=9, dup=True))
    second = publisher.read()
    publisher.send(ack_packet(PUBREL, 9))
    complete = publisher.read()
    publisher.send(publish_packet("exactly/once", b"after", qos=1, packet_id=10))

    assert [(p.kind, p.packet_id) for p in (first, second, complete, publisher.read())] == [
        (PUBREC, 9),
        (PUBREC, 9),
        (PUBCOMP, 9),
        (PUBACK, 10),
    ]
    assert [g.payload for g in subscriber.wait_for(2)] == [b"1", b"after"]
    subscriber.close()


def test_a_qos_2_delivery_goes_through_pubrec_pubrel_pubcomp(broker: EmbeddedMqttBroker) -> None:
    subscriber = RawClient(broker.settings.port)
    subscriber.connect("qos2-subscriber")
    subscriber.send(subscribe_packet(1, ("q2", 2)))
    assert subscriber.read().kind == SUBACK
    publisher = PahoClient(broker.settings.port)

    publisher.publish("q2", b"x", qos=2)
    delivered = subscriber.read()
    subscriber.send(ack_packet(PUBREC, delivered.publish_id))
    release = subscriber.read()
    subscriber.send(ack_packet(PUBCOMP, delivered.publish_id))
    subscriber.send(packet(PINGREQ << 4, b""))

    assert (delivered.kind, delivered.qos, delivered.payload) == (PUBLISH, 2, b"x")
    assert (release.kind, release.flags, release.packet_id) == (PUBREL, 2, delivered.publish_id)
    assert subscriber.read().kind == PINGRESP
    publisher.close()


def test_an_unacknowledged_message_is_sent_again_flagged_dup_when_the_session_resumes(broker: EmbeddedMqttBroker) -> None:
    subscriber = RawClient(broker.settings.port)
    subscriber.connect("forgetful", clean=False)
    subscriber.send(subscribe_packet(1, ("resend", 1)))
    subscriber.read()
    publisher = PahoClient(broker.settings.port)
    publisher.publish("resend", b"important", qos=1)
    unacked = subscriber.read()
    subscriber.close()

    again = RawClient(broker.settings.port)
    connack = again.connect("forgetful", clean=False)
    resent = again.read()
    again.send(ack_packet(PUBACK, resent.publish_id))

    assert connack == b"\x20\x02\x01\x00"  # session present
    assert (resent.payload, resent.publish_id, resent.flags & 0x08) == (b"important", unacked.publish_id, 0x08)
    publisher.close()


def test_an_invalid_filter_is_refused_in_the_suback_and_the_valid_ones_beside_it_work(broker: EmbeddedMqttBroker) -> None:
    client = RawClient(broker.settings.port)
    client.connect("mixed")

    client.send(subscribe_packet(3, ("ok/#", 1), ("bad/#/filter", 1), ("also/ok", 0)))
    suback = client.read()
    client.send(publish_packet("ok/1", b"x"))

    assert (suback.kind, suback.body) == (SUBACK, b"\x00\x03\x01\x80\x00")
    assert client.read().topic == "ok/1"


def test_unsubscribed_filters_stop_delivering(broker: EmbeddedMqttBroker) -> None:
    client = RawClient(broker.settings.port)
    client.connect("unsubscriber")
    client.send(subscribe_packet(1, ("a", 0), ("b", 0)))
    client.read()

    client.send(packet(0xA2, b"\x00\x02" + string("a")))
    unsuback = client.read()
    client.send(publish_packet("a", b"not for me") + publish_packet("b", b"for me"))

    assert (unsuback.kind, unsuback.packet_id) == (UNSUBACK, 2)
    assert client.read().payload == b"for me"


def test_a_paho_client_speaking_mqtt_3_1_is_served(broker: EmbeddedMqttBroker) -> None:
    old = PahoClient(broker.settings.port, ("legacy", 1), protocol=paho.MQTTv31)

    old.publish("legacy", b"3.1", qos=1)

    assert [g.payload for g in old.wait_for(1)] == [b"3.1"]
    old.close()
