"""The embedded broker adapter on a real socket (amqtt in its own thread)."""

from __future__ import annotations

import socket

import pytest

from actors.bus.broker import AmqttBroker, EmbeddedBrokerError
from tests.integration.twin_device_app import DeviceApp
from tests.services import free_port


def test_device_topics_starting_with_a_dollar_are_relayed() -> None:
    port = free_port()
    broker = AmqttBroker(f"tcp://127.0.0.1:{port}")
    broker.start()
    app = DeviceApp("127.0.0.1", port)
    try:
        app.publish("$hw/events/device/d1/twin/update/result", {"event_id": "x"})

        assert app.wait_for("$hw/events/device/d1/twin/update/result") == {"event_id": "x"}
    finally:
        app.close()
        broker.stop()


def test_a_taken_port_is_a_clear_error_and_leaves_no_thread_behind() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        broker = AmqttBroker(f"tcp://127.0.0.1:{port}")

        with pytest.raises(EmbeddedBrokerError, match=f"cannot listen on tcp://127.0.0.1:{port}"):
            broker.start()

    broker.stop()  # harmless after a failed start


def test_the_broker_stops_and_its_port_is_free_again() -> None:
    port = free_port()
    broker = AmqttBroker(f"tcp://127.0.0.1:{port}")
    broker.start()

    broker.stop()

    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
