"""paho-mqtt behind one narrow adapter: one client per broker.

The actor owns every decision (what to subscribe, when to reconnect); a client only
connects when told, and reports what happened. paho's network thread runs the callbacks
below, which convert what paho gives into frozen events and hand them over: messages
through ``on_message`` (a bounded :class:`~kubeedge_actors.handover.Handover`, they can
flood), connection changes through ``on_state`` (never dropped).

Back-pressure on publishing: QoS 1 publishes wait for the broker's PUBACK with at most
``MAX_INFLIGHT`` in flight (the broker paces us); beyond ``queue_limit`` waiting, a publish
is refused and counted instead of growing memory (ENVIRONMENT.md: unpaced publishing loses
messages at the broker's queue limits).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from kubeedge_actors.errors import KubeEdgeActorsError

logger = logging.getLogger(__name__)

KEEPALIVE_S = 60
MAX_INFLIGHT = 100
DEFAULT_PORTS = {"tcp": 1883, "mqtt": 1883, "ssl": 8883, "mqtts": 8883}


class MqttError(KubeEdgeActorsError):
    """A broker could not be reached or refused us."""


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where a broker listens, parsed from ``tcp://host:port`` (``ssl://`` for TLS)."""

    host: str
    port: int
    tls: bool = False

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise MqttError(f"broker address {url!r} is not scheme://host[:port] with scheme tcp, ssl, mqtt or mqtts")
        return cls(parts.hostname, parts.port or DEFAULT_PORTS[parts.scheme], parts.scheme in ("ssl", "mqtts"))


# --- what a client reports (built on paho's thread, handled on the actor's) ------------------


@dataclass(frozen=True, slots=True)
class MqttConnected:
    """The broker accepted our CONNECT."""

    broker: str


@dataclass(frozen=True, slots=True)
class MqttConnectionLost:
    """The connection ended (or the broker refused it)."""

    broker: str
    reason: str


@dataclass(frozen=True, slots=True)
class MqttMessageReceived:
    """One message from a subscription."""

    broker: str
    topic: str
    payload: bytes


#: A change of a client's connection, reported to the actor (never dropped).
MqttStateChange = MqttConnected | MqttConnectionLost


class MqttClient(Protocol):
    """What the bus needs from one broker connection."""

    name: str
    url: str
    dropped_publishes: int

    def bind(self, on_message: Callable[[MqttMessageReceived], object], on_state: Callable[[MqttStateChange], None]) -> None:
        """Where to hand received messages and connection changes (before :meth:`connect`)."""

    def connect(self) -> None:
        """Open the connection; blocks, so call it from a worker. Raises :class:`MqttError`."""

    def subscribe(self, topic_filters: Sequence[str], qos: int) -> None:
        """Subscribe; ignored while disconnected (the actor re-subscribes on connect)."""

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> bool:
        """Queue one publish; False when it was refused (queue full or disconnected at QoS 0)."""

    def waiting(self) -> int:
        """Publishes queued and not yet sent (QoS 0: written; QoS 1: acknowledged by the broker)."""

    def close(self) -> None:
        """Disconnect and stop the network thread; the client is not used again."""


#: The paho-mqtt release :meth:`PahoMqttClient.waiting` was verified against: it reads two of
#: paho's private queues (there is no public count); tests/bus/test_bus_flow_control.py fails on
#: another release until it is checked again.
WAITING_VERIFIED_WITH = "2.2.0"


class PahoMqttClient:
    """One paho-mqtt 2.x client, connected on demand, never reconnecting by itself.

    Args:
        name: which broker this is, for events and logs ("internal" or "external").
        url: ``tcp://host:port`` or ``ssl://host:port``.
        queue_limit: publishes waiting to be sent before more are refused.
    """

    def __init__(self, name: str, url: str, *, queue_limit: int = 10_000) -> None:
        self.name = name
        self.url = url
        self.address = BrokerAddress.parse(url)
        self.dropped_publishes = 0
        self._lock = threading.Lock()
        self._closed = False
        self._on_message: Callable[[MqttMessageReceived], object] | None = None
        self._on_state: Callable[[MqttStateChange], None] | None = None
        client_id = f"hub-client-{name}-{os.urandom(4).hex()}"  # message ids share a per-process prefix
        # The actor decides when to reconnect (with back-off), so paho must not.
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True, reconnect_on_failure=False)
        self._client.max_inflight_messages_set(MAX_INFLIGHT)
        self._client.max_queued_messages_set(queue_limit)
        if self.address.tls:
            self._client.tls_set()
            self._client.tls_insecure_set(True)  # docs/protocol.md#4.2: the original skips verification
        self._client.on_connect = self._paho_connected
        self._client.on_disconnect = self._paho_disconnected
        self._client.on_message = self._paho_message

    def bind(self, on_message: Callable[[MqttMessageReceived], object], on_state: Callable[[MqttStateChange], None]) -> None:
        self._on_message = on_message
        self._on_state = on_state

    def connect(self) -> None:
        with self._lock:
            if self._closed:
                raise MqttError(f"{self.name} broker client is closed")
            self._client.loop_stop()  # joins the network thread of the last connection, if any
            try:
                self._client.connect(self.address.host, self.address.port, keepalive=KEEPALIVE_S)
            except (OSError, ValueError) as exc:
                raise MqttError(f"cannot connect to {self.url}: {exc}") from exc
            self._client.loop_start()

    def subscribe(self, topic_filters: Sequence[str], qos: int) -> None:
        if topic_filters:
            self._client.subscribe([(topic_filter, qos) for topic_filter in topic_filters])

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> bool:
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc == paho.MQTT_ERR_SUCCESS or (info.rc == paho.MQTT_ERR_NO_CONN and qos > 0):
            return True  # a QoS>0 publish made while disconnected goes out after the reconnect
        self.dropped_publishes += 1
        return False

    def waiting(self) -> int:
        # paho has no public figure for it: QoS>0 publishes wait in _out_messages (bounded by
        # max_queued_messages), every packet, QoS 0 publishes included, in _out_packet until
        # written. Reading two lengths from the actor's thread is safe (each len is atomic);
        # tests/bus/test_bus_flow_control.py checks it against a real broker.
        client = self._client
        return len(client._out_messages) + len(client._out_packet)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._client.disconnect()
            self._client.loop_stop()

    # --- paho's network thread: convert and hand over ----------------------------------------

    def _paho_connected(
        self, client: paho.Client, userdata: object, flags: paho.ConnectFlags, reason_code: ReasonCode, properties: Properties | None
    ) -> None:
        if reason_code.is_failure:
            self._report(MqttConnectionLost(self.name, f"broker refused the connection: {reason_code}"))
            return
        sock = client.socket()
        if isinstance(sock, socket.socket):
            # paho never sets it: without it QoS 1 stalls ~40 ms now and then (ENVIRONMENT.md).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._report(MqttConnected(self.name))

    def _paho_disconnected(
        self, client: paho.Client, userdata: object, flags: paho.DisconnectFlags, reason_code: ReasonCode, properties: Properties | None
    ) -> None:
        self._report(MqttConnectionLost(self.name, str(reason_code)))

    def _paho_message(self, client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        if self._on_message is not None:
            self._on_message(MqttMessageReceived(self.name, message.topic, bytes(message.payload)))

    def _report(self, event: MqttStateChange) -> None:
        if self._on_state is not None:
            self._on_state(event)


__all__ = [
    "BrokerAddress",
    "MqttClient",
    "MqttConnected",
    "MqttConnectionLost",
    "MqttError",
    "MqttMessageReceived",
    "MqttStateChange",
    "PahoMqttClient",
]
