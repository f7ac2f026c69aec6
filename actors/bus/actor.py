"""The MQTT bridge (docs/protocol.md#4): device topics to the twin, the rest to the cloud, and back.

Connection lifecycle of each broker (one client per broker)::

    connecting ──connect ok──► (CONNACK) connected ──lost──► disconnected
        ▲   │ fails                 │ subscribe the fixed         │
        │   ▼                       │ and requested filters       │
        └── wait back-off ◄─────────┴─────────────────────────────┘
            (capped at mqtt.reconnect-max-interval; reset once connected)

One log line per change of state; retries in between log at DEBUG.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from actors.bus.mqtt import MqttClient, MqttConnected, MqttConnectionLost, MqttMessageReceived, PahoMqttClient
from actors.bus.settings import BusSettings
from actors.bus.topics import (
    FIXED_SUBSCRIPTIONS,
    SUBSCRIBE_QOS,
    message_operation_target,
    mqtt_to_message,
    payload_of,
)
from actors.keys import EDGE_KEYS
from actors.protocol import PUBLISH_QUEUE_RESOURCE, Group, Module, Operation, bus_publisher
from kubeedge_actors.actor import ModuleActor, handles
from kubeedge_actors.backoff import Backoff
from kubeedge_actors.config import Config
from kubeedge_actors.errors import MessageRejected, UnknownResourceError
from kubeedge_actors.handover import Handed, Handover
from kubeedge_actors.message import Content, Json, Message
from kubeedge_actors.metrics import labelled
from kubeedge_actors.router import Router

if TYPE_CHECKING:
    from actors.bus.broker.server import EmbeddedBroker

logger = logging.getLogger(__name__)

INTERNAL = "internal"
EXTERNAL = "external"
RECONNECT_INITIAL_S = 0.5
QUEUE_CHECK_S = 0.01  # how often a held publish-queue query looks again


@dataclass(frozen=True, slots=True)
class ReconnectBroker:
    """Timer: time to dial ``broker`` again."""

    broker: str


@dataclass(frozen=True, slots=True)
class CheckPublishQueue:
    """Timer: held publish-queue queries look at the clients' queues again."""


@dataclass(frozen=True, slots=True)
class BrokerDialed:
    """A worker finished ``connect()`` on ``broker``; ``error`` when it failed."""

    broker: str
    error: BaseException | None


@dataclass(eq=False)
class _Link:
    """One broker connection, its publish options and its state."""

    client: MqttClient
    publish_qos: int
    publish_retain: bool
    backoff: Backoff
    state: str = "connecting"  # connecting (never connected) | connected | disconnected
    retry_pending: bool = False
    connects: int = 0
    losses: int = 0


class BusActor(ModuleActor):
    """The eventbus module: MQTT brokers ↔ envelopes.

    Consumes:
        ``subscribe`` (resource = topic filter): subscribe on every broker, kept across
        reconnects. ``publish`` (resource = topic): publish the content (bytes as they are,
        text as UTF-8, anything else as its JSON); this includes the hub's ``node/connection``
        events (docs/protocol.md#3.9). ``message``: publish ``content["message"]`` as JSON to its
        ``topic``. ``get_result`` on ``auth_info``: publish the content's JSON to
        ``$hw/events/node/<node-id>/authInfo/get/result``. ``query`` on ``publish/queue``
        (``send_sync``, in-process: the twin's flow control, docs/architecture.md#4.4): answered
        once no connected client holds more than :attr:`publish_low_mark` publishes unsent.
        Anything else is rejected.
        Publishes also come from other modules' threads through the router's
        :class:`~actors.protocol.BusPublisher` (the twin's, docs/architecture.md#4.4).
    Produces:
        for each MQTT message on a subscription (docs/protocol.md#4.4): source ``bus``, group ``user``,
        operation ``response``, resource = base64url topic (raw for ``SYS/dis/upload_records``),
        content = payload text; sent to group ``twin`` for ``$hw/events/device…`` and
        ``$hw/events/node…`` topics, to module ``websocket`` otherwise: from paho's thread,
        straight, as a :class:`~kubeedge_actors.handover.Handed` message.

    Its settings (:class:`~actors.bus.settings.BusSettings`) are read from ``config`` once, here.

    Args:
        clients: broker clients (default: from ``mqtt.mode``, internal and/or external).
        broker: the embedded broker (default: ours on ``mqtt.internal-server`` in modes 0, 1).
    """

    module_name = Module.BUS
    module_group = Group.BUS
    module_config_keys = EDGE_KEYS

    def __init__(
        self,
        router: Router,
        config: Config | None = None,
        *,
        name: str | None = None,
        group: str | None = None,
        clients: Sequence[MqttClient] | None = None,
        broker: EmbeddedBroker | None = None,
    ) -> None:
        super().__init__(router, config, name=name, group=group)
        self.settings = settings = BusSettings.from_config(self.module_config)
        self.broker = broker if broker is not None or settings.broker is None else _embedded_broker(settings)
        self.clients = list(clients) if clients is not None else default_clients(settings)
        max_wait_s = settings.reconnect_max_interval_s
        self.links: dict[str, _Link] = {}
        for client in self.clients:
            qos, retain = settings.publish_options(internal=client.name == INTERNAL)
            backoff = Backoff(initial_s=min(RECONNECT_INITIAL_S, max_wait_s), max_s=max_wait_s, jitter=0.2)
            self.links[client.name] = _Link(client, qos, retain, backoff)
        self.subscriptions: list[str] = list(FIXED_SUBSCRIPTIONS)
        # Each MQTT message goes from paho's thread straight to the module it is for, holding a
        # place here until that module takes it (docs/architecture.md#2.2).
        self.inbound: Handover[tuple[str, Message]] = Handover(self._hand_on, settings.inbound_queue_size, "bus: mqtt inbound")
        self.queue_queries: list[Message] = []  # publish-queue queries held until the queues drain
        self._queue_check_pending = False
        #: A quarter of what a client queues before it refuses: room for a slice of the twin's
        #: publishes and the device apps' answers behind it.
        self.publish_low_mark = max(1, settings.inbound_queue_size // 4)
        self.published = 0
        self.publish_failures = 0
        # Publishes come from this actor's thread and, through the router's BusPublisher, from
        # the senders' own (the twin's): one at a time, so each goes to every broker in turn.
        self._publish_lock = threading.Lock()
        self._publisher = bus_publisher(router)

    # --- lifecycle --------------------------------------------------------------------------

    def on_start(self) -> None:
        if self.broker is not None:
            self.broker.start()
            logger.info("bus: embedded broker listening on %s", self.broker.url)
        for link in self.links.values():
            link.client.bind(self._received, self.module_tell_self)
            self._dial(link)
        self._publisher.attach(self._publish)

    def on_stop(self) -> None:
        self._publisher.detach(self._publish)  # senders send publish messages again, held while it restarts
        for link in self.links.values():
            link.client.close()
        if self.broker is not None:
            self.broker.stop()
        super().on_stop()

    # --- envelopes --------------------------------------------------------------------------

    def handle_message(self, message: Message) -> None:
        operation = message.operation
        if operation == Operation.PUBLISH:
            self._publish(_topic_of(message), payload_of(message.content))
        elif operation == Operation.SUBSCRIBE:
            self._subscribe(_topic_of(message))
        elif operation == Operation.MESSAGE:
            self._publish(*message_operation_target(_object_content(message.content)))
        elif operation == Operation.QUERY and message.resource == PUBLISH_QUEUE_RESOURCE:
            self.queue_queries.append(message)
            self._answer_queue_queries()
        elif operation == Operation.GET_RESULT:
            if message.resource != "auth_info":
                raise UnknownResourceError(f"bus: get_result is only for auth_info, not {message.resource!r}")
            topic = f"$hw/events/node/{self.settings.node_id}/authInfo/get/result"
            self._publish(topic, json.dumps(message.content, separators=(",", ":")).encode("utf-8"))
        else:
            raise UnknownResourceError(f"bus: action not found: {operation!r}")

    def _publish(self, topic: str, payload: bytes) -> None:
        """Any thread (the BusPublisher's callers too): the clients' publish is thread-safe."""
        with self._publish_lock:
            for link in self.links.values():
                if link.client.publish(topic, payload, link.publish_qos, link.publish_retain):
                    self.published += 1
                else:
                    self.publish_failures += 1
                    logger.debug("bus: publish to %s on %s broker refused (%d so far)", topic, link.client.name, self.publish_failures)

    def publishes_waiting(self) -> int:
        """The most publishes any connected client holds unsent; a client that is away does not
        count (it refuses QoS 0, and keeps QoS 1 up to its limit until it is back)."""
        return max((link.client.waiting() for link in self.links.values() if link.state == "connected"), default=0)

    def _answer_queue_queries(self) -> None:
        waiting = self.publishes_waiting()
        if waiting > self.publish_low_mark:
            if not self._queue_check_pending:
                self._queue_check_pending = True
                self.module_tell_later(QUEUE_CHECK_S, CheckPublishQueue())
            return
        queries, self.queue_queries = self.queue_queries, []
        for query in queries:
            self.module_router.send_resp(query.reply({"waiting": waiting}).with_route(source=self.module_name))

    @handles(CheckPublishQueue)
    def _on_check_publish_queue(self, _: CheckPublishQueue) -> None:
        self._queue_check_pending = False
        self._answer_queue_queries()

    def _subscribe(self, topic_filter: str) -> None:
        if topic_filter not in self.subscriptions:
            self.subscriptions.append(topic_filter)
        for link in self.links.values():
            if link.state == "connected":
                link.client.subscribe([topic_filter], SUBSCRIBE_QOS)

    # --- events from the clients, timers and workers -----------------------------------------

    def _received(self, event: MqttMessageReceived) -> bool:
        """paho's network thread: convert, and hand over to the module it is for (group twin,
        or the hub) without a hop through this actor. False when dropped (the bound is full)."""
        return self.inbound.offer(mqtt_to_message(event.topic, event.payload))

    def _hand_on(self, item: tuple[str, Message]) -> None:
        destination, message = item
        if destination == Group.TWIN:
            # One place per message: with more than one member it is freed by the first to take it.
            self.module_router.send_to_group(Group.TWIN, Handed(message, self.inbound))
        else:
            self.module_router.send(destination, Handed(message, self.inbound))

    @handles(ReconnectBroker)
    def _on_reconnect(self, event: ReconnectBroker) -> None:
        self._dial(self.links[event.broker])

    def _dial(self, link: _Link) -> None:
        link.retry_pending = False
        client = link.client
        self.module_run_in_background(client.connect, lambda outcome: BrokerDialed(client.name, outcome.error))

    @handles(BrokerDialed)
    def _dialed(self, event: BrokerDialed) -> None:
        if event.error is not None:
            self._retry_later(self.links[event.broker], str(event.error))
        # else: connected at the TCP level; MqttConnected follows with the CONNACK.

    @handles(MqttConnected)
    def _connected(self, event: MqttConnected) -> None:
        link = self.links[event.broker]
        link.client.subscribe(self.subscriptions, SUBSCRIBE_QOS)  # re-made on every (re)connect
        if link.state != "connected":
            logger.info("bus: connected to the %s broker %s", link.client.name, link.client.url)
            link.connects += 1
        link.state = "connected"
        link.backoff.reset()

    @handles(MqttConnectionLost)
    def _lost(self, event: MqttConnectionLost) -> None:
        link = self.links[event.broker]
        if link.retry_pending:
            return  # paho may report one loss twice (refused CONNACK, then the disconnect)
        self._retry_later(link, event.reason)

    def _retry_later(self, link: _Link, reason: str) -> None:
        name, url = link.client.name, link.client.url
        if link.state == "connected":
            link.losses += 1
            logger.warning("bus: lost the %s broker %s (%s); reconnecting with back-off", name, url, reason)
        elif link.state == "connecting":
            logger.warning("bus: cannot reach the %s broker %s (%s); retrying with back-off", name, url, reason)
        else:
            logger.debug("bus: %s broker still unreachable (attempt %d): %s", name, link.backoff.attempts, reason)
        link.state = "disconnected"
        link.retry_pending = True
        self.module_tell_later(link.backoff.next_delay(), ReconnectBroker(name))

    # --- metrics ----------------------------------------------------------------------------

    def module_metrics(self) -> dict[str, float]:
        """Each broker's state and losses, what went through or was dropped on the way, and
        the embedded broker's own figures (bad clients refused or dropped)."""
        figures: dict[str, float] = {}
        for name, link in self.links.items():
            figures[labelled("mqtt_connected", broker=name)] = 1.0 if link.state == "connected" else 0.0
            figures[labelled("mqtt_reconnects_total", broker=name)] = float(max(0, link.connects - 1))
            figures[labelled("mqtt_connection_losses_total", broker=name)] = float(link.losses)
            figures[labelled("mqtt_publishes_refused_total", broker=name)] = float(link.client.dropped_publishes)
        figures["mqtt_published_total"] = float(self.published)
        figures["mqtt_received_total"] = float(self.inbound.accepted)
        figures["mqtt_inbound_waiting"] = float(self.inbound.in_flight)
        figures["mqtt_inbound_dropped_total"] = float(self.inbound.dropped)  # the hand-over's drops
        if self.broker is not None:
            figures.update(self.broker.figures())
        return figures


def default_clients(settings: BusSettings) -> list[MqttClient]:
    """The broker clients ``mqtt.mode`` asks for (docs/protocol.md#4.1): 0 internal, 1 both, 2 external."""
    queue_limit = settings.inbound_queue_size
    clients: list[MqttClient] = []
    if settings.uses_embedded_broker:
        clients.append(PahoMqttClient(INTERNAL, settings.internal_server, queue_limit=queue_limit))
    if settings.uses_external_broker:
        clients.append(PahoMqttClient(EXTERNAL, settings.external_server, queue_limit=queue_limit))
    return clients


def _embedded_broker(settings: BusSettings) -> EmbeddedBroker:
    """Ours, in ``mqtt.mode`` 0 and 1; imported here so that mode 2 never loads it (nor asyncio)."""
    from actors.bus.broker.server import EmbeddedMqttBroker  # noqa: PLC0415 - mode 2 never loads it

    assert settings.broker is not None
    return EmbeddedMqttBroker(settings.broker)


def _topic_of(message: Message) -> str:
    if not message.resource:
        raise MessageRejected(f"bus: {message.operation} needs a topic as its resource")
    return message.resource


def _object_content(content: Content) -> Json:
    # The cloud may send the object as JSON text; accept both.
    if isinstance(content, str | bytes):
        try:
            return json.loads(content)
        except ValueError:
            return content
    return content


__all__ = ["BrokerDialed", "BusActor", "CheckPublishQueue", "ReconnectBroker", "default_clients"]
