"""The bus's settings: the ``mqtt.*`` keys and the node id, read once from the configuration."""

from __future__ import annotations

from dataclasses import dataclass

from actors.bus.broker.core import BrokerSettings
from actors.bus.mqtt import BrokerAddress
from kubeedge_actors.config import Config

#: ``mqtt.mode`` (docs/protocol.md#4.1): which brokers the bus uses.
EMBEDDED_ONLY, EMBEDDED_AND_EXTERNAL, EXTERNAL_ONLY = 0, 1, 2
#: docs/protocol.md#4.2: QoS 1, retain false on the external broker, whatever mqtt.qos says.
EXTERNAL_PUBLISH_QOS = 1


@dataclass(frozen=True)
class BusSettings:
    """What the bus reads of the configuration, once, when it is built.

    Attributes:
        mode: ``mqtt.mode``: 0 the embedded broker only, 1 both, 2 the external one only.
        node_id: ``edgehub.controller.node-id``, for the ``authInfo`` topic.
        internal_server: ``mqtt.internal-server``, where the embedded broker listens.
        external_server: ``mqtt.server``, the external broker.
        qos: ``mqtt.qos`` of publishes on the embedded broker.
        retain: ``mqtt.retain`` of publishes on the embedded broker.
        inbound_queue_size: ``mqtt.inbound-queue-size``: received messages waiting for the
            actor, and publishes waiting for a broker, before more are dropped.
        reconnect_max_interval_s: ``mqtt.reconnect-max-interval``: the cap of the back-off.
        broker: the embedded broker's settings; None in mode 2 (no embedded broker).
    """

    mode: int
    node_id: str
    internal_server: str
    external_server: str
    qos: int
    retain: bool
    inbound_queue_size: int
    reconnect_max_interval_s: float
    broker: BrokerSettings | None

    @classmethod
    def from_config(cls, config: Config) -> BusSettings:
        """Raises :class:`~actors.bus.mqtt.MqttError` for an embedded broker's address without a host."""
        mode = config.integer("mqtt.mode")
        internal_server = config.text("mqtt.internal-server")
        broker = None
        if mode != EXTERNAL_ONLY:
            address = BrokerAddress.parse(internal_server)
            broker = BrokerSettings(
                host=address.host,
                port=address.port,
                session_queue_size=config.integer("mqtt.session-queue-size"),
                max_packet_size=config.integer("mqtt.max-packet-size"),
            )
        return cls(
            mode=mode,
            node_id=config.text("edgehub.controller.node-id"),
            internal_server=internal_server,
            external_server=config.text("mqtt.server"),
            qos=config.integer("mqtt.qos"),
            retain=config.flag("mqtt.retain"),
            inbound_queue_size=config.integer("mqtt.inbound-queue-size"),
            reconnect_max_interval_s=config.number("mqtt.reconnect-max-interval"),
            broker=broker,
        )

    @property
    def uses_embedded_broker(self) -> bool:
        return self.mode in (EMBEDDED_ONLY, EMBEDDED_AND_EXTERNAL)

    @property
    def uses_external_broker(self) -> bool:
        return self.mode in (EMBEDDED_AND_EXTERNAL, EXTERNAL_ONLY)

    def publish_options(self, internal: bool) -> tuple[int, bool]:
        """``(qos, retain)`` of publishes on the embedded broker's client, or on the external one's."""
        return (self.qos, self.retain) if internal else (EXTERNAL_PUBLISH_QOS, False)


__all__ = ["EMBEDDED_AND_EXTERNAL", "EMBEDDED_ONLY", "EXTERNAL_ONLY", "EXTERNAL_PUBLISH_QOS", "BusSettings"]
