"""The embedded broker on its own thread and event loop, behind :class:`EmbeddedBroker`.

The bus starts it in ``on_start`` and stops it in ``on_stop``; its own client connects to it
like any device app. Nothing of the broker's state is touched outside its loop: the bus only
reads the counters (plain integers) for its figures.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import Future
from typing import Protocol

from actors.bus.broker.connection import ClientConnection
from actors.bus.broker.core import BrokerCore, BrokerSettings
from kubeedge_actors.errors import KubeEdgeActorsError

logger = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
_SHUTDOWN_ROUNDS = 10  # loop turns for aborted connections to report their loss


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
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None

    def start(self) -> None:
        loop = asyncio.new_event_loop()
        started: Future[None] = Future()
        thread = threading.Thread(target=self._run, args=(loop, started), name="bus-embedded-broker", daemon=True)
        self._loop, self._thread = loop, thread
        thread.start()
        try:
            started.result(timeout=START_TIMEOUT_S)
        except Exception as exc:
            self._join()
            raise EmbeddedBrokerError(f"embedded broker cannot listen on {self.url}: {exc}") from exc

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return
        if loop.is_running():
            try:
                asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=STOP_TIMEOUT_S)
            except Exception as exc:  # stopping anyway; say why it was not clean
                logger.warning("bus: embedded broker did not shut down cleanly: %r", exc)
            loop.call_soon_threadsafe(loop.stop)
        self._join()

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

    def _run(self, loop: asyncio.AbstractEventLoop, started: Future[None]) -> None:
        asyncio.set_event_loop(loop)
        try:
            self._server = loop.run_until_complete(self._listen())
        except Exception as exc:
            started.set_exception(exc)
            loop.close()
            return
        started.set_result(None)
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _listen(self) -> asyncio.Server:
        core = self.core
        return await asyncio.get_running_loop().create_server(lambda: ClientConnection(core), self.settings.host, self.settings.port)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        self.core.close_all()
        for _ in range(_SHUTDOWN_ROUNDS):
            if not self.core.links:
                break
            await asyncio.sleep(0)  # aborted transports report connection_lost on the next turn

    def _join(self) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout=STOP_TIMEOUT_S)
        self._loop = self._thread = self._server = None


__all__ = ["EmbeddedBroker", "EmbeddedBrokerError", "EmbeddedMqttBroker"]
