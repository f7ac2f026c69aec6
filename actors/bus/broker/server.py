"""The embedded broker on its own thread and selector loop, behind :class:`EmbeddedBroker`.

The bus starts it in ``on_start`` and stops it in ``on_stop``; its own client connects to it
like any device app. Nothing of the broker's state is touched outside its loop's thread: the
bus only reads the counters (plain integers) for its figures, and :meth:`stop` hands the
shutdown to the loop.
"""

from __future__ import annotations

import errno
import logging
import selectors
import socket
import threading
from typing import Protocol

from actors.bus.broker.connection import ClientConnection
from actors.bus.broker.core import BrokerCore, BrokerSettings
from actors.bus.broker.loop import SelectorLoop
from kubeedge_actors.errors import KubeEdgeActorsError

logger = logging.getLogger(__name__)

STOP_TIMEOUT_S = 10.0
LISTEN_BACKLOG = 100  # what asyncio's create_server asked for
ACCEPT_RETRY_S = 1.0  # out of file descriptors: stop accepting this long, as asyncio does
_ACCEPTS_PER_TURN = 100  # a burst of connections does not starve the clients already there
_ACCEPT_GONE = (errno.ECONNABORTED, errno.EPROTO)


class EmbeddedBrokerError(KubeEdgeActorsError):
    """The embedded broker could not start (e.g. its port is taken)."""


class EmbeddedBroker(Protocol):
    """What the bus needs from a broker it runs itself."""

    url: str

    def start(self) -> None:
        """Listen on :attr:`url`; raises :class:`EmbeddedBrokerError`."""

    def stop(self) -> None:
        """Close every connection and stop listening."""

    def figures(self) -> dict[str, float]:
        """The broker's own figures, for the bus's ``module_metrics``."""


class EmbeddedMqttBroker:
    """An MQTT 3.1.1 broker (the ``actors.bus.broker`` package) on a private loop and thread.

    Args:
        settings: where to listen and the per-client limits.
    """

    def __init__(self, settings: BrokerSettings) -> None:
        self.settings = settings
        self.url = f"tcp://{settings.host}:{settings.port}"
        self.core = BrokerCore(settings)
        self._serving: _Serving | None = None

    def start(self) -> None:
        if self._serving is not None:
            return
        # Bound on the caller's thread: a taken port is an error of start(), not of the thread.
        try:
            listeners = _listen(self.settings.host, self.settings.port)
        except OSError as exc:
            raise EmbeddedBrokerError(f"embedded broker cannot listen on {self.url}: {exc}") from exc
        self._serving = _Serving(self.core, listeners)

    def stop(self) -> None:
        """Close every connection and the listener, from any thread; once is enough."""
        serving, self._serving = self._serving, None
        if serving is not None:
            serving.stop()

    def figures(self) -> dict[str, float]:
        counters = self.core.counters
        return {
            "mqtt_broker_connections": float(counters.connections),
            "mqtt_broker_clients_refused_total": float(counters.clients_refused),
            "mqtt_broker_protocol_errors_total": float(counters.protocol_errors),
            "mqtt_broker_slow_clients_dropped_total": float(counters.slow_clients_dropped),
            "mqtt_broker_keepalive_expired_total": float(counters.keepalive_expired),
            "mqtt_broker_messages_dropped_total": float(counters.messages_dropped),
        }


class _Serving:
    """One start of the broker: its listeners, loop and thread. Apart from :meth:`stop`,
    everything here runs on that thread."""

    def __init__(self, core: BrokerCore, listeners: list[socket.socket]) -> None:
        self.core = core
        self.listeners = listeners
        self.loop = SelectorLoop()
        for listener in listeners:
            self._accept_from(listener)
        self.thread = threading.Thread(target=self._run, name="bus-embedded-broker", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self._shutdown)
        if self.thread is threading.current_thread():
            return  # stopped by one of its own callbacks: the loop ends after this turn
        self.thread.join(timeout=STOP_TIMEOUT_S)
        if self.thread.is_alive():
            logger.warning("bus: embedded broker did not shut down within %.0f s", STOP_TIMEOUT_S)

    def _run(self) -> None:
        try:
            self.loop.run()
        finally:
            for listener in self.listeners:
                listener.close()
            self.loop.close()

    def _shutdown(self) -> None:
        for listener in self.listeners:
            if listener in self.loop.selector.get_map():  # not while accepting is paused
                self.loop.selector.unregister(listener)
            listener.close()
        self.core.close_all()
        # Those already closing gracefully (a DISCONNECT, a refusal) do not hold the stop for
        # a client that reads slowly: every one is closed now and reported on the next turn.
        for link in list(self.core.links):
            if isinstance(link, ClientConnection):
                link.abort()
        self.loop.stop()  # after the queued reports: every connection tells the core it closed

    def _accept_from(self, listener: socket.socket) -> None:
        if listener.fileno() != -1:  # not closed by a stop while accepting was paused
            self.loop.selector.register(listener, selectors.EVENT_READ, lambda events: self._accept(listener))

    def _accept(self, listener: socket.socket) -> None:
        for _ in range(_ACCEPTS_PER_TURN):
            try:
                sock, address = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _ACCEPT_GONE:
                    continue  # the client gave up before we took it
                # Out of descriptors or memory: pause this listener rather than spin on it.
                logger.warning("bus: broker: cannot accept connections for %.0f s: %s", ACCEPT_RETRY_S, exc)
                self.loop.selector.unregister(listener)
                self.loop.call_later(ACCEPT_RETRY_S, lambda: self._accept_from(listener))
                return
            ClientConnection(self.core, self.loop, sock, address).start()


def _listen(host: str, port: int) -> list[socket.socket]:
    """A listening socket on every address ``host`` resolves to (``localhost``: IPv4 and IPv6),
    as asyncio's create_server bound them; all or none."""
    listeners: list[socket.socket] = []
    try:
        infos = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
        for family, kind, proto, _, address in dict.fromkeys(infos):
            listener = socket.socket(family, kind, proto)
            listeners.append(listener)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart rebinds at once
            if family == socket.AF_INET6:
                listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # IPv4 has its own
            listener.bind(address)
            listener.listen(LISTEN_BACKLOG)
            listener.setblocking(False)
    except OSError:
        for listener in listeners:
            listener.close()
        raise
    return listeners


__all__ = ["EmbeddedBroker", "EmbeddedBrokerError", "EmbeddedMqttBroker"]
