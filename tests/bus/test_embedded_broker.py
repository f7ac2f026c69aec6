"""The embedded broker as the bus runs it: on its own thread, on a real socket."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from actors.bus.broker import BrokerSettings
from actors.bus.broker.connection import ClientConnection
from actors.bus.broker.server import EmbeddedBroker, EmbeddedBrokerError, EmbeddedMqttBroker
from actors.bus.broker.session import Session
from actors.bus.settings import BusSettings
from actors.keys import edge_defaults
from kubeedge_actors.testing import wait_until
from tests.bus.conftest import StartBroker
from tests.bus.paho_client import PahoClient
from tests.bus.raw_mqtt import DISCONNECT, RawClient, packet, subscribe_packet
from tests.integration.twin_device_app import DeviceApp
from tests.services import free_port

REPO = Path(__file__).resolve().parents[2]
BROKER_THREAD = "bus-embedded-broker"


def broker_threads() -> int:
    return sum(thread.name == BROKER_THREAD for thread in threading.enumerate())


def falling_behind(broker: EmbeddedMqttBroker, client_id: str) -> tuple[RawClient, PahoClient, int]:
    """A client subscribed to ``flood`` that reads nothing, and a publisher that sent it 64 KiB
    messages until the broker had to queue them (its socket and write buffer are full)."""
    slow = RawClient(broker.settings.port, receive_buffer=4096)
    slow.connect(client_id)
    slow.send(subscribe_packet(1, ("flood", 0)))
    slow.read()  # the SUBACK
    session: Session = broker.core.sessions[client_id]
    publisher = PahoClient(broker.settings.port)
    sent = 0
    while not session.queue:  # publish returns after the PUBACK, so after the routing
        assert sent < 500, "the broker never queued for the client that does not read"
        publisher.publish("flood", b"%d:" % sent + b"p" * 65536, qos=1)
        sent += 1
    return slow, publisher, sent


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


def test_importing_the_broker_does_not_import_asyncio() -> None:
    # asyncio costs an idle edge ~1.2 MiB, and the broker is what would load it.
    program = "import sys, actors.bus.broker.server; print(sorted(m for m in sys.modules if m.partition('.')[0] == 'asyncio'))"

    result = subprocess.run([sys.executable, "-c", program], cwd=REPO, capture_output=True, text=True, timeout=60, check=True)

    assert result.stdout.strip() == "[]"


def test_stopping_closes_every_connection_reports_each_closed_and_ends_the_thread() -> None:
    threads_before = broker_threads()
    broker = EmbeddedMqttBroker(BrokerSettings("127.0.0.1", free_port()))
    broker.start()
    connected, silent = RawClient(broker.settings.port), RawClient(broker.settings.port)
    connected.connect("connected")
    paho = PahoClient(broker.settings.port, ("a/#", 1))
    wait_until(lambda: broker.figures()["mqtt_broker_connections"] == 3, what="three connections")

    broker.stop()

    assert connected.closed_by_broker() and silent.closed_by_broker()
    assert broker.figures()["mqtt_broker_connections"] == 0
    assert broker_threads() == threads_before
    broker.stop()  # once is enough; again is harmless
    paho.close()


def test_a_client_that_disconnected_but_does_not_read_what_is_left_does_not_hold_the_stop(start_broker: StartBroker) -> None:
    broker = start_broker(session_queue_size=1000)
    stuck, publisher, _ = falling_behind(broker, "stuck")
    stuck.send(packet(DISCONNECT << 4, b""))
    # Closing gracefully: what was written waits for a client that reads nothing.
    wait_until(
        lambda: any(isinstance(link, ClientConnection) and link.closing for link in list(broker.core.links)), what="the DISCONNECT handled"
    )

    broker.stop()

    assert broker.figures()["mqtt_broker_connections"] == 0
    assert stuck.closed_by_broker()
    publisher.close()


def test_a_client_that_fell_behind_gets_everything_queued_for_it_in_order_once_it_reads_again(start_broker: StartBroker) -> None:
    broker = start_broker(session_queue_size=1000)
    slow, publisher, sent = falling_behind(broker, "slow-reader")

    received = [slow.read().payload.partition(b":")[0] for _ in range(sent)]

    assert received == [b"%d" % n for n in range(sent)]
    assert broker.figures()["mqtt_broker_messages_dropped_total"] == 0
    publisher.close()
