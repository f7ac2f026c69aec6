"""The embedded broker as the bus runs it: on its own thread, on a real socket."""

from __future__ import annotations

import socket

import pytest

from actors.bus.broker import BrokerSettings
from actors.bus.broker.server import EmbeddedBroker, EmbeddedBrokerError, EmbeddedMqttBroker
from actors.bus.settings import BusSettings
from actors.keys import edge_defaults
from tests.integration.twin_device_app import DeviceApp
from tests.services import free_port


def test_device_topics_starting_with_a_dollar_are_relayed(broker: EmbeddedMqttBroker) -> None:
    app = DeviceApp("127.0.0.1", broker.settings.port)
    try:
        app.publish("$hw/events/device/d1/twin/update/result", {"event_id": "x"})

        assert app.wait_for("$hw/events/device/d1/twin/update/result") == {"event_id": "x"}
    finally:
        app.close()


def test_a_taken_port_is_a_clear_error_and_leaves_no_thread_behind() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        broker = EmbeddedMqttBroker(BrokerSettings("127.0.0.1", port))

        with pytest.raises(EmbeddedBrokerError, match=f"cannot listen on tcp://127.0.0.1:{port}"):
            broker.start()

    broker.stop()  # harmless after a failed start


def test_the_broker_stops_and_its_port_is_free_again() -> None:
    port = free_port()
    broker = EmbeddedMqttBroker(BrokerSettings("127.0.0.1", port))
    broker.start()
    app = DeviceApp("127.0.0.1", port)

    broker.stop()

    app.close()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_the_settings_come_from_the_mqtt_keys() -> None:
    config = edge_defaults().with_values({"mqtt.internal-server": "tcp://127.0.0.1:2884", "mqtt.session-queue-size": 7})

    settings = BusSettings.from_config(config).broker
    assert settings is not None

    assert (settings.host, settings.port, settings.session_queue_size, settings.max_packet_size) == ("127.0.0.1", 2884, 7, 1 << 20)


def test_the_broker_is_what_the_bus_expects_of_an_embedded_broker(broker: EmbeddedMqttBroker) -> None:
    embedded: EmbeddedBroker = broker

    assert embedded.url == f"tcp://127.0.0.1:{broker.settings.port}"
    assert embedded.figures()["mqtt_broker_connections"] == 0
