"""One client's connection: a non-blocking socket on the broker's :class:`SelectorLoop`.

::

    TCP accepted ──CONNECT accepted──► session attached ──DISCONNECT──► closed, will discarded
        │ no CONNECT in time,                 │ protocol error, packet too large, keep-alive
        │ bad CONNECT, CONNACK refusal        │ expired (1.5 × its keep-alive), stopped
        ▼                                     ▼ reading, taken over, connection lost
      closed                               closed, will published

Whatever a client does wrong ends only its own connection, once: one log line, one count.
Packets are handled as they arrive, in ``_data_received``; nothing waits on a client. A
connection ends one of two ways: closed gracefully (what was written goes out first: after a
DISCONNECT, a CONNACK refusal, or the client's end of the stream) or aborted (what was not sent
is dropped). Either way the core hears of it once, on the loop's next turn.
"""

from __future__ import annotations

import logging
import selectors
import socket
from typing import Any

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
from actors.bus.broker.loop import SelectorLoop, Timer
from actors.bus.broker.session import Session

logger = logging.getLogger(__name__)

KEEPALIVE_GRACE = 1.5  # MQTT-3.1.2-24: one and a half keep-alive periods
WRITE_BUFFER_HIGH = 64 * 1024  # unsent bytes held before the session queues instead
# Writing resumes only once the buffer is down to a quarter (asyncio's default low mark, as
# before): room for real work, not a pause and resume on every few bytes the client reads.
WRITE_BUFFER_LOW = WRITE_BUFFER_HIGH // 4
READ_CHUNK = 64 * 1024  # bytes taken from the socket per turn: one client cannot hog the loop
_READ, _WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE


class ClientConnection:
    """The MQTT side of one TCP connection; the :class:`~actors.bus.broker.session.Link` of
    its session. Lives on the loop's thread only."""

    def __init__(self, core: BrokerCore, loop: SelectorLoop, sock: socket.socket, address: Any) -> None:
        self.core = core
        self.loop = loop
        self.sock = sock
        self.reader = FrameReader(core.settings.max_packet_size)
        self.peer = f"{address[0]}:{address[1]}" if address else "an unknown peer"
        self.session: Session | None = None
        self.will: Will | None = None
        self.keepalive_s = 0
        self.last_packet_at = loop.time()
        self.paused = False  # more than WRITE_BUFFER_HIGH unsent: the session queues
        self.closing = False  # reads and writes nothing more; pending bytes may still go out
        self.closed = False  # the socket is closed; the core is told on the next turn
        self._pending = bytearray()  # written, not yet taken by the socket
        self._events = _READ
        self._told_dropping = False
        self._timer: Timer | None = None

    def start(self) -> None:
        """Serve the accepted socket: register it and wait for the CONNECT."""
        sock = self.sock
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # acks must not wait
        self.loop.selector.register(sock, self._events, self._ready)
        self.core.opened(self)
        self._timer = self.loop.call_later(self.core.settings.connect_timeout_s, self._connect_timed_out)

    def abort(self) -> None:
        """Close at once, dropping what was not sent (the broker stops, or the client failed)."""
        self.closing = True
        self._pending.clear()
        self._finish()

    # --- the socket -------------------------------------------------------------------------

    def _ready(self, events: int) -> None:
        try:
            if events & _READ and not self.closing:
                self._read()
            if events & _WRITE and not self.closed:
                self._send_pending()
        except Exception:
            # A fault of ours with this client ends its connection only (as asyncio did).
            logger.exception("bus: broker: serving %s failed; its connection is closed", self._who())
            self.abort()

    def _read(self) -> None:
        try:
            data = self.sock.recv(READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(exc)
            return
        if data:
            self._data_received(data)
        else:  # the client ended its stream without DISCONNECT: flush, close, publish its will
            self._close()

    def _data_received(self, data: bytes) -> None:
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

    def _send(self, data: bytes) -> None:
        pending = self._pending
        if not pending:  # nothing waits: straight to the socket, as asyncio's transports do
            try:
                sent = self.sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                self._lost(exc)
                return
            if sent == len(data):
                return
            data = data[sent:]
            self._want(_READ | _WRITE)
        pending += data
        if len(pending) > WRITE_BUFFER_HIGH:
            self.paused = True

    def _send_pending(self) -> None:
        try:
            sent = self.sock.send(self._pending)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(exc)
            return
        del self._pending[:sent]
        if self.paused and len(self._pending) <= WRITE_BUFFER_LOW:
            self.paused = False
            if self.session is not None and self.session.link is self:
                self.session.flush()  # what queued while the client was behind
        if self._pending or self.closed:
            return
        if self.closing:
            self._finish()
        else:
            self._want(_READ)

    def _want(self, events: int) -> None:
        if events != self._events and not self.closed:
            self._events = events
            self.loop.selector.modify(self.sock, events, self._ready)

    def _lost(self, exc: OSError) -> None:
        logger.debug("bus: broker: the connection of %s is lost: %s", self._who(), exc)
        self.abort()

    def _close(self) -> None:
        self.closing = True
        if self._pending:
            self._want(_WRITE)  # read nothing more; close once the rest is written
        else:
            self._finish()

    def _finish(self) -> None:
        if self.closed:
            return
        self.closed = self.closing = True
        self._cancel_timer()
        self.loop.selector.unregister(self.sock)
        self.sock.close()
        # On the next turn, as asyncio's connection_lost was: whoever ended this connection
        # (a publish overflowing its queue, a take-over in open_session) finishes before the
        # core forgets the link, detaches its session or publishes its will.
        self.loop.call_soon(self._report_closed)

    def _report_closed(self) -> None:
        will, self.will = self.will, None
        self.core.closed(self, self.session, will)

    # --- the session's link -----------------------------------------------------------------

    @property
    def writable(self) -> bool:
        return not (self.paused or self.closing)

    def write(self, data: bytes) -> None:
        if not self.closing:
            self._send(data)

    def overflowed(self, waiting: int) -> None:
        if self.closing:
            return
        if self.paused:  # the socket and our buffer are full: it does not read
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
            self.abort()

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
        self._close()

    # --- ending a connection ----------------------------------------------------------------

    def _refuse(self, refusal: ConnectRefused) -> None:
        self.core.counters.clients_refused += 1
        logger.warning("bus: broker: refused the connection of %s: %s", self._who(), refusal)
        self.write(encode_connack(False, refusal.code))
        self._close()  # once the CONNACK is written

    def _drop(self, reason: str) -> None:
        logger.warning("bus: broker: dropped %s: %s", self._who(), reason)
        self.abort()

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
        self.abort()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self.loop.cancel(self._timer)
            self._timer = None

    def _who(self) -> str:
        if self.session is None:
            return f"the client at {self.peer}"
        return f"client {self.session.client_id!r} at {self.peer}"


__all__ = ["ClientConnection"]
