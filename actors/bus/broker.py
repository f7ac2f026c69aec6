"""The embedded MQTT broker of ``mqtt.mode`` 0 and 1 (docs/protocol.md#4.1), behind one narrow adapter.

amqtt runs in its own asyncio loop on its own thread; the bus starts it in ``on_start``, stops
it in ``on_stop``, and connects to it like any client. An edge with no broker installed still
serves its devices.

amqtt 0.12 refuses a PUBLISH whose topic starts with ``$`` and drops the client for it, reading
MQTT-4.7.2-1 too broadly (that rule only keeps ``$`` topics away from wildcard-first filters).
Every KubeEdge device topic starts with ``$hw/``, so :class:`_DeviceTopicBroker` lets such
topics through, except ``$SYS``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import Future
from typing import Any, Protocol

from amqtt.broker import Broker

from actors.bus.mqtt import BrokerAddress
from kubeedge_actors.errors import KubeEdgeActorsError

logger = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


class EmbeddedBrokerError(KubeEdgeActorsError):
    """The embedded broker could not start (e.g. its port is taken)."""


class EmbeddedBroker(Protocol):
    """What the bus needs from a broker it runs itself."""

    url: str

    def start(self) -> None:
        """Listen on :attr:`url`; raises :class:`EmbeddedBrokerError`."""

    def stop(self) -> None:
        """Close every connection and stop listening."""


class _DeviceTopicBroker(Broker):  # type: ignore[misc]  # amqtt ships no types
    """amqtt's broker, accepting publishes to ``$hw/...`` topics (see the module docstring)."""

    async def _handle_message_delivery(self, client_session: Any, handler: Any, wait_deliver: Any) -> bool:
        message = wait_deliver.result()
        topic = getattr(message, "topic", None) or ""
        if topic.startswith("$") and not topic.startswith("$SYS") and "#" not in topic and "+" not in topic:
            await self._broadcast_message(client_session, topic, message.data)
            packet = message.publish_packet
            if packet is not None and packet.retain_flag:
                await self.retain_message(client_session, topic, message.data, message.qos)
            return True
        result: bool = await super()._handle_message_delivery(client_session, handler, wait_deliver)
        return result


class AmqttBroker:
    """amqtt on a private asyncio loop and thread.

    Args:
        url: ``tcp://host:port`` to listen on (``mqtt.internal-server``).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.address = BrokerAddress.parse(url)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: Broker | None = None

    def start(self) -> None:
        # amqtt (and the state machine under it) log every session transition at INFO.
        for chatty in ("amqtt", "transitions"):
            chatty_logger = logging.getLogger(chatty)
            chatty_logger.setLevel(max(chatty_logger.getEffectiveLevel(), logging.WARNING))
        loop = asyncio.new_event_loop()
        started: Future[None] = Future()
        thread = threading.Thread(target=self._run, args=(loop, started), name="bus-embedded-broker", daemon=True)
        self._loop, self._thread = loop, thread
        thread.start()
        try:
            started.result(timeout=START_TIMEOUT_S)
        except Exception as exc:
            self._stop_loop()
            raise EmbeddedBrokerError(f"embedded broker cannot listen on {self.url}: {exc}") from exc

    def _run(self, loop: asyncio.AbstractEventLoop, started: Future[None]) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._start_broker())
        except Exception as exc:
            started.set_exception(exc)
            loop.close()
            return
        started.set_result(None)
        loop.run_forever()
        loop.close()

    async def _start_broker(self) -> None:
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.address.host}:{self.address.port}"}},
            # Only anonymous access: no $SYS publisher, no packet logger.
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        self._broker = _DeviceTopicBroker(config)
        await self._broker.start()

    def stop(self) -> None:
        loop, broker = self._loop, self._broker
        if loop is None:
            return
        if broker is not None and loop.is_running():
            try:
                asyncio.run_coroutine_threadsafe(broker.shutdown(), loop).result(timeout=STOP_TIMEOUT_S)
            except Exception as exc:  # stopping anyway; say why it was not clean
                logger.warning("bus: embedded broker did not shut down cleanly: %r", exc)
        self._broker = None
        self._stop_loop()

    def _stop_loop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout=STOP_TIMEOUT_S)
        self._loop = self._thread = None


__all__ = ["AmqttBroker", "EmbeddedBroker", "EmbeddedBrokerError"]
