"""The embedded MQTT broker of ``mqtt.mode`` 0 and 1 (docs/protocol.md#4.1).

A small MQTT 3.1.1 broker, standard library only, on its own thread: ``codec`` (packets),
``filters`` (topics and subscriptions), ``session`` (what waits for a client), ``core``
(routing, retained messages), ``connection`` (one client), ``loop`` (one ``selectors``
selector and its timers: not asyncio, which would cost an idle edge ~1.2 MiB), ``server``
(the thread the bus starts and stops). A client that breaks the protocol, sends a packet over
``mqtt.max-packet-size`` or stops reading loses its own connection; the others, and the
bus, go on.
"""

from __future__ import annotations

from actors.bus.broker.core import BrokerSettings

# The server (EmbeddedMqttBroker, its loop and connections) is imported from
# actors.bus.broker.server where it is used: an edge in mqtt.mode 2 never loads it.

__all__ = ["BrokerSettings"]
