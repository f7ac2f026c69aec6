"""One client's connection: an asyncio protocol on the broker's event loop.

::

    TCP accepted ──CONNECT accepted──► session attached ──DISCONNECT──► closed, will discarded
        │ no CONNECT in time,                 │ protocol error, packet too large, keep-alive
        │ bad CONNECT, CONNACK refusal        │ expired (1.5 × its keep-alive), stopped
        ▼                                     ▼ reading, taken over, connection lost
      closed                               closed, will published

Whatever a client does wrong ends only its own connection, once: one log line, one count.
Packets are handled as they arrive, in ``data_received``; nothing waits on a client.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import cast

from actors.bus.broker.codec import (
    PINGRESP,
    SUBACK_FAILURE,
    Connect,
    ConnectRefused,
    Frame,
    FrameReader,
    PacketType,
    ProtocolError,
    Publish,
    ReturnCode,
    Will,
    check_empty,
    decode_connect,
    decode_packet_id,
    decode_publish,
    decode_subscribe,
    decode_unsubscribe,
    encode_ack,
    encode_connack,
    encode_suback,
)
from actors.bus.broker.core import BrokerCore
from actors.bus.broker.session import Session

logger = logging.getLogger(__name__)

KEEPALIVE_GRACE = 1.5  # MQTT-3.1.2-24: one and a half keep-alive periods
WRITE_BUFFER_HIGH = 64 * 1024  # bytes the transport holds before the session queues instead


class ClientConnection(asyncio.Protocol):
    """The MQTT side of one TCP connection; the :class:`~actors.bus.broker.session.Link` of
    its session."""

    def __init__(self, core: BrokerCore) -> None:
        self.core = core
        self.reader = FrameReader(core.settings.max_packet_size)
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.peer = "an unknown peer"
        self.session: Session | None = None
        self.will: Will | None = None
        self.keepalive_s = 0
        self.last_packet_at = self.loop.time()
        self.paused = False
        self.closing = False
        self._told_dropping = False
        self._timer: asyncio.TimerHandle | None = None

    # --- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # acks must not wait
        peer = transport.get_extra_info("peername")
        if peer:
            self.peer = f"{peer[0]}:{peer[1]}"
        self.transport.set_write_buffer_limits(high=WRITE_BUFFER_HIGH)
        self.core.opened(self)
        self._timer = self.loop.call_later(self.core.settings.connect_timeout_s, self._connect_timed_out)

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        self.last_packet_at = self.loop.time()
        try:
            for frame in self.reader.frames(data):
                self._handle(frame)
                if self.closing:
                    return
        except ProtocolError as exc:
            self.core.counters.protocol_errors += 1
            self._drop(str(exc))
        except ConnectRefused as exc:
            self._refuse(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self._cancel_timer()
        will, self.will = self.will, None
        self.core.closed(self, self.session, will)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        if self.session is not None and self.session.link is self:
            self.session.flush()

    # --- the session's link -----------------------------------------------------------------

    @property
    def writable(self) -> bool:
        return not (self.paused or self.closing)

    def write(self, data: bytes) -> None:
        if not self.closing and self.transport is not None:
            self.transport.write(data)

    def overflowed(self, waiting: int) -> None:
        if self.closing:
            return
        if self.paused:  # the socket and the transport's buffer are full: it does not read
            self.core.counters.slow_clients_dropped += 1
            self._drop(f"it does not read: {waiting} messages wait for it (mqtt.session-queue-size)")
        elif not self._told_dropping:
            # It reads but acknowledges QoS 1/2 slower than messages come: drop, as Mosquitto
            # does at max_queued_messages, rather than cut a client that works.
            self._told_dropping = True
            logger.warning(
                "bus: broker: %s acknowledges slower than messages come: %d wait for it (mqtt.session-queue-size); "
                "more are dropped and counted",
                self._who(),
                waiting,
            )

    def close_now(self, reason: str) -> None:
        if not self.closing:
            logger.debug("bus: broker: closing the connection of %s: %s", self._who(), reason)
            self._abort()

    # --- packets ----------------------------------------------------------------------------

    def _handle(self, frame: Frame) -> None:
        kind, session = frame.kind, self.session
        if session is None:
            if kind != PacketType.CONNECT:
                raise ProtocolError(f"the first packet is {PacketType(kind).name}, not CONNECT (MQTT-3.1.0-1)")
            self._connect(decode_connect(frame.body))
            return
        match kind:
            case PacketType.PUBLISH:
                self._publish(session, decode_publish(frame.flags, frame.body))
            case PacketType.PUBACK | PacketType.PUBREC | PacketType.PUBREL | PacketType.PUBCOMP:
                self._acknowledgement(session, kind, decode_packet_id(kind, frame.body))
            case PacketType.SUBSCRIBE:
                self._subscribe(session, *decode_subscribe(frame.body))
            case PacketType.UNSUBSCRIBE:
                packet_id, topic_filters = decode_unsubscribe(frame.body)
                self.core.unsubscribe(session, topic_filters)
                self.write(encode_ack(PacketType.UNSUBACK, packet_id))
            case PacketType.PINGREQ:
                check_empty(kind, frame.body)
                self.write(PINGRESP)
            case PacketType.DISCONNECT:
                check_empty(kind, frame.body)
                self._disconnect()
            case PacketType.CONNECT:
                raise ProtocolError("a second CONNECT (MQTT-3.1.0-2)")
            case _:
                raise ProtocolError(f"{PacketType(kind).name} is sent by brokers, not by clients")

    def _acknowledgement(self, session: Session, kind: int, packet_id: int) -> None:
        if kind == PacketType.PUBACK:
            session.acknowledged(packet_id)
        elif kind == PacketType.PUBREC:
            session.received(packet_id)
        elif kind == PacketType.PUBCOMP:
            session.completed(packet_id)
        else:  # PUBREL of a QoS 2 message we received: answered even when unknown (MQTT 4.3.3)
            session.incoming_qos2.discard(packet_id)
            self.write(encode_ack(PacketType.PUBCOMP, packet_id))

    def _connect(self, connect: Connect) -> None:
        session, present = self.core.open_session(connect)
        self.session, self.will, self.keepalive_s = session, connect.will, connect.keepalive_s
        self.write(encode_connack(present, ReturnCode.ACCEPTED))
        self._cancel_timer()
        if connect.keepalive_s:
            self._timer = self.loop.call_later(connect.keepalive_s * KEEPALIVE_GRACE, self._check_keepalive)
        session.attach(self)

    def _publish(self, session: Session, publish: Publish) -> None:
        qos, packet_id = publish.qos, publish.packet_id
        if qos == 2:
            # MQTT 4.3.3 method B: routed once; a resend before PUBREL is only acknowledged.
            if packet_id not in session.incoming_qos2:
                session.incoming_qos2.add(packet_id)
                self.core.publish(publish.topic, publish.payload, qos, publish.retain)
            self.write(encode_ack(PacketType.PUBREC, packet_id))
            return
        self.core.publish(publish.topic, publish.payload, qos, publish.retain)
        if qos == 1:
            self.write(encode_ack(PacketType.PUBACK, packet_id))

    def _subscribe(self, session: Session, packet_id: int, requests: list[tuple[str, int]]) -> None:
        codes = self.core.subscribe(session, requests)
        self.write(encode_suback(packet_id, codes))
        for (topic_filter, _), granted in zip(requests, codes, strict=True):
            if granted != SUBACK_FAILURE:
                self.core.send_retained(session, topic_filter, granted)

    def _disconnect(self) -> None:
        self.will = None  # MQTT-3.14.4-3
        self.closing = True
        if self.transport is not None:
            self.transport.close()

    # --- ending a connection ----------------------------------------------------------------

    def _refuse(self, refusal: ConnectRefused) -> None:
        self.core.counters.clients_refused += 1
        logger.warning("bus: broker: refused the connection of %s: %s", self._who(), refusal)
        self.write(encode_connack(False, refusal.code))
        self.closing = True
        if self.transport is not None:
            self.transport.close()  # after the CONNACK is written

    def _drop(self, reason: str) -> None:
        logger.warning("bus: broker: dropped %s: %s", self._who(), reason)
        self._abort()

    def _abort(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.abort()

    def _connect_timed_out(self) -> None:
        self.core.counters.protocol_errors += 1
        self._drop(f"no CONNECT within {self.core.settings.connect_timeout_s:g} s")

    def _check_keepalive(self) -> None:
        limit_s = self.keepalive_s * KEEPALIVE_GRACE
        idle_s = self.loop.time() - self.last_packet_at
        if idle_s < limit_s:
            self._timer = self.loop.call_later(limit_s - idle_s, self._check_keepalive)
            return
        self.core.counters.keepalive_expired += 1
        logger.info("bus: broker: %s sent nothing for %.0f s (keep-alive %d s); connection closed", self._who(), idle_s, self.keepalive_s)
        self._abort()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _who(self) -> str:
        if self.session is None:
            return f"the client at {self.peer}"
        return f"client {self.session.client_id!r} at {self.peer}"


__all__ = ["ClientConnection"]
