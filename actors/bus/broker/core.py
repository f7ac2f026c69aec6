"""The broker's state, on its event loop's thread only: sessions, subscriptions, retained
messages, routing, and the counters the bus reports."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from actors.bus.broker.codec import SUBACK_FAILURE, Connect, Will, encode_string
from actors.bus.broker.filters import SubscriptionIndex, filter_matches, topic_filter_problem
from actors.bus.broker.session import Link, Outgoing, Session

logger = logging.getLogger(__name__)

DEFAULT_MAX_PACKET_SIZE = 1 << 20
DEFAULT_MAX_INFLIGHT = 20  # unacknowledged QoS 1/2 messages per client, as Mosquitto's default


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    """What the embedded broker is told once, at start.

    Attributes:
        host, port: where it listens.
        session_queue_size: messages queued per client (``mqtt.session-queue-size``).
        max_packet_size: bytes of the largest packet a client may send (``mqtt.max-packet-size``).
        max_inflight: unacknowledged QoS 1/2 messages sent to one client at a time.
        connect_timeout_s: how long a new connection may take to send its CONNECT.
    """

    host: str
    port: int
    session_queue_size: int = 100
    max_packet_size: int = DEFAULT_MAX_PACKET_SIZE
    max_inflight: int = DEFAULT_MAX_INFLIGHT
    connect_timeout_s: float = 10.0


@dataclass
class BrokerCounters:
    """Written on the broker's thread, read (as plain ints) from the bus's."""

    clients_refused: int = 0
    protocol_errors: int = 0
    slow_clients_dropped: int = 0
    keepalive_expired: int = 0
    messages_dropped: int = 0
    connections: int = 0


@dataclass(frozen=True, slots=True)
class _Retained:
    payload: bytes
    qos: int


class BrokerCore:
    """Sessions by client id, the subscription index and the retained messages."""

    def __init__(self, settings: BrokerSettings) -> None:
        self.settings = settings
        self.counters = BrokerCounters()
        self.sessions: dict[str, Session] = {}
        self.links: set[Link] = set()
        self.index: SubscriptionIndex[Session] = SubscriptionIndex()
        self.retained: dict[str, _Retained] = {}
        self.closing = False
        self._assigned_ids = 0

    # --- connections ----------------------------------------------------------------------

    def opened(self, link: Link) -> None:
        self.links.add(link)
        self.counters.connections = len(self.links)

    def open_session(self, connect: Connect) -> tuple[Session, bool]:
        """The session for an accepted CONNECT, and whether it existed (CONNACK's flag)."""
        client_id = connect.client_id or self._assigned_id()
        old = self.sessions.get(client_id)
        if old is not None and old.link is not None:
            logger.info("bus: broker: client %r connected again; its previous connection is closed (MQTT-3.1.4-2)", client_id)
            previous = old.link
            old.detach()
            previous.close_now("taken over by a new connection")
        if old is not None and (connect.clean_session or old.clean):
            self._discard(old)
            old = None
        if old is None:
            settings = self.settings
            session = Session(client_id, connect.clean_session, settings.session_queue_size, settings.max_inflight)
            self.sessions[client_id] = session
            return session, False
        old.clean = connect.clean_session
        return old, True

    def _assigned_id(self) -> str:
        """MQTT-3.1.3-6: a unique id for a client that sent none (it asked for a clean session)."""
        self._assigned_ids += 1
        while f"auto-{self._assigned_ids}" in self.sessions:
            self._assigned_ids += 1
        return f"auto-{self._assigned_ids}"

    def closed(self, link: Link, session: Session | None, will: Will | None) -> None:
        """A connection ended; ``will`` is its last will unless it said DISCONNECT."""
        self.links.discard(link)
        self.counters.connections = len(self.links)
        if session is not None and session.link is link:
            session.detach()
            if session.clean:
                self._discard(session)
        if will is not None and not self.closing:
            self.publish(will.topic, will.payload, will.qos, will.retain)

    def close_all(self) -> None:
        self.closing = True
        for link in list(self.links):
            link.close_now("the broker stops")

    def _discard(self, session: Session) -> None:
        for topic_filter in session.subscriptions:
            self.index.remove(topic_filter, session)
        if self.sessions.get(session.client_id) is session:
            del self.sessions[session.client_id]

    # --- messages ---------------------------------------------------------------------------

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        """Route one message to every matching subscription (and keep it if retained)."""
        if retain:
            if payload:
                self.retained[topic] = _Retained(payload, qos)
            else:
                self.retained.pop(topic, None)  # MQTT-3.3.1-10, -11
        subscribers = self.index.subscribers(topic)
        if not subscribers:
            return
        encoded = encode_string(topic)
        shared: Outgoing | None = None  # one QoS 0 packet for everyone
        for session, granted in subscribers.items():
            message_qos = min(qos, granted)
            if message_qos:
                message = Outgoing(encoded, payload, message_qos, False)
            else:
                message = shared = shared or Outgoing(encoded, payload, 0, False)
            if not session.deliver(message):
                self.counters.messages_dropped += 1

    def subscribe(self, session: Session, requests: list[tuple[str, int]]) -> list[int]:
        """The SUBACK return codes; an invalid filter gets 0x80 and the others still count."""
        codes: list[int] = []
        for topic_filter, qos in requests:
            problem = topic_filter_problem(topic_filter)
            if problem is not None:
                logger.info("bus: broker: client %r may not subscribe to %r: the filter %s", session.client_id, topic_filter, problem)
                codes.append(SUBACK_FAILURE)
                continue
            session.subscriptions[topic_filter] = qos  # MQTT-3.8.4-3: replaces an equal filter
            self.index.add(topic_filter, session, qos)
            codes.append(qos)
        return codes

    def send_retained(self, session: Session, topic_filter: str, granted: int) -> None:
        """The retained messages a new subscription matches, with their retain flag (MQTT-3.3.1-8)."""
        if not self.retained:
            return
        filter_levels = tuple(topic_filter.split("/"))
        for topic, retained in self.retained.items():
            if filter_matches(filter_levels, topic, topic.split("/")):
                message = Outgoing(encode_string(topic), retained.payload, min(granted, retained.qos), True)
                if not session.deliver(message):
                    self.counters.messages_dropped += 1

    def unsubscribe(self, session: Session, topic_filters: list[str]) -> None:
        for topic_filter in topic_filters:
            if session.subscriptions.pop(topic_filter, None) is not None:
                self.index.remove(topic_filter, session)


__all__ = ["DEFAULT_MAX_PACKET_SIZE", "BrokerCore", "BrokerCounters", "BrokerSettings"]
