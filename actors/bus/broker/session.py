"""A client's session: its subscriptions and the messages on their way to it.

Outgoing flow (MQTT 3.1.1 section 4.3)::

    deliver ──► queue (at most queue_size) ──► written ──QoS 0──► done
                  ▲ the link is paused,            │
                  │ or max_inflight unacked        └─QoS 1─► inflight ──PUBACK──► done
                  │                                └─QoS 2─► inflight ──PUBREC──► PUBREL sent ──PUBCOMP──► done

The queue is bounded: beyond it messages are dropped (and counted), and a connected client
whose queue overflows while its socket takes nothing more (it stopped reading) loses its
connection. QoS 0 messages are not kept for an absent client.
"""

from __future__ import annotations

from collections import deque
from typing import Protocol

from actors.bus.broker.codec import PacketType, encode_ack, encode_publish


class Link(Protocol):
    """The connection a session is attached to."""

    @property
    def writable(self) -> bool:
        """False while the transport's buffer is full (or the connection is closing)."""

    def write(self, data: bytes) -> None: ...

    def overflowed(self, waiting: int) -> None:
        """The queue is full with ``waiting`` messages and one more was dropped: a client that
        stopped reading loses its connection."""

    def close_now(self, reason: str) -> None:
        """End the connection at once (its client id was taken over, or the broker stops)."""


class Outgoing:
    """One message for one client; a QoS 0 one may be shared by every subscriber."""

    __slots__ = ("_wire", "packet_id", "payload", "qos", "released", "retain", "topic")

    def __init__(self, topic: bytes, payload: bytes, qos: int, retain: bool) -> None:
        self.topic = topic  # encoded once, with its length prefix
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.packet_id = 0
        self.released = False  # QoS 2: PUBREC received, PUBREL sent
        self._wire: bytes | None = None

    def wire(self, dup: bool = False) -> bytes:
        if self.qos:
            return encode_publish(self.topic, self.payload, self.qos, self.retain, dup=dup, packet_id=self.packet_id)
        if self._wire is None:
            self._wire = encode_publish(self.topic, self.payload, 0, self.retain)
        return self._wire


class Session:
    """State that outlives a connection when the client asked for it (clean session 0)."""

    def __init__(self, client_id: str, clean: bool, queue_size: int, max_inflight: int) -> None:
        self.client_id = client_id
        self.clean = clean
        self.queue_size = queue_size
        self.max_inflight = max_inflight
        self.subscriptions: dict[str, int] = {}
        self.link: Link | None = None
        self.queue: deque[Outgoing] = deque()
        self.inflight: dict[int, Outgoing] = {}
        self.incoming_qos2: set[int] = set()  # received, PUBREC sent, PUBREL awaited
        self._last_packet_id = 0

    def deliver(self, message: Outgoing) -> bool:
        """Send or queue ``message``; False when it was dropped (the queue is full)."""
        link = self.link
        if link is None:
            return message.qos == 0 or self._enqueue(message)
        if self.queue or not link.writable or (message.qos and len(self.inflight) >= self.max_inflight):
            if self._enqueue(message):
                return True
            link.overflowed(len(self.queue))
            return False
        self._send(link, message)
        return True

    def attach(self, link: Link) -> None:
        """A connection took this session: resend what is unacknowledged (MQTT-4.4.0-1)."""
        self.link = link
        for message in list(self.inflight.values()):
            link.write(encode_ack(PacketType.PUBREL, message.packet_id) if message.released else message.wire(dup=True))
        self.flush()

    def detach(self) -> None:
        self.link = None
        if any(message.qos == 0 for message in self.queue):
            self.queue = deque(message for message in self.queue if message.qos)

    def flush(self) -> None:
        """Send queued messages while the link takes them and the inflight window allows."""
        link, queue = self.link, self.queue
        while queue and link is not None and link.writable:
            if queue[0].qos and len(self.inflight) >= self.max_inflight:
                return
            self._send(link, queue.popleft())

    def acknowledged(self, packet_id: int) -> None:
        """PUBACK."""
        message = self.inflight.get(packet_id)
        if message is not None and message.qos == 1:
            del self.inflight[packet_id]
            self.flush()

    def received(self, packet_id: int) -> None:
        """PUBREC: release the message (MQTT-4.3.3-1)."""
        message = self.inflight.get(packet_id)
        if message is not None and message.qos == 2 and self.link is not None:
            message.released = True
            self.link.write(encode_ack(PacketType.PUBREL, packet_id))

    def completed(self, packet_id: int) -> None:
        """PUBCOMP."""
        message = self.inflight.get(packet_id)
        if message is not None and message.released:
            del self.inflight[packet_id]
            self.flush()

    def _enqueue(self, message: Outgoing) -> bool:
        if len(self.queue) >= self.queue_size:
            return False
        self.queue.append(message)
        return True

    def _send(self, link: Link, message: Outgoing) -> None:
        if message.qos:
            message.packet_id = self._next_packet_id()
            self.inflight[message.packet_id] = message
        link.write(message.wire())

    def _next_packet_id(self) -> int:
        packet_id = self._last_packet_id
        while True:  # ends: at most max_inflight of the 65535 ids are taken
            packet_id = packet_id % 0xFFFF + 1
            if packet_id not in self.inflight:
                self._last_packet_id = packet_id
                return packet_id


__all__ = ["Link", "Outgoing", "Session"]
