"""The mapper's MQTT link: a paho client of the edge's broker, as any device app is.

paho's thread only converts: a delta goes to the engine (which queues it for the device's
worker), a (re)connect asks every worker for a full report. paho reconnects by itself, with
its own back-off.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from actors.mapper.engine import Engine, Publisher, decode_delta
from actors.mapper.errors import MapperError

logger = logging.getLogger(__name__)

DELTA_TOPIC = "$hw/events/device/+/twin/update/delta"
MEMBERSHIP_TOPIC = "$hw/events/node/+/membership/updated"
RESULT_TOPIC = "$hw/events/device/+/twin/update/result"


def broker_address(url: str) -> tuple[str, int]:
    """``tcp://host:port`` → (host, port).

    Raises:
        MapperError: not a tcp:// or mqtt:// URL with a host.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("tcp", "mqtt") or not parts.hostname:
        raise MapperError(f"MQTT broker {url!r} is not tcp://host:port")
    return parts.hostname, parts.port or 1883


class MqttLink(Publisher):
    """One paho client; :meth:`publish` may be called from any thread."""

    def __init__(self, url: str, client_id: str, retry_max_s: float = 30.0) -> None:
        self.host, self.port = broker_address(url)
        self.engine: Engine | None = None
        self.connected = threading.Event()
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
        self._client.reconnect_delay_set(1, max(1, int(retry_max_s)))
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self.published = 0

    def start(self, engine: Engine) -> None:
        self.engine = engine
        self._client.connect_async(self.host, self.port, keepalive=60)
        self._client.loop_start()

    def stop(self) -> None:
        self.connected.clear()  # a disconnect we asked for is no loss
        self._client.disconnect()
        self._client.loop_stop()

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        self._client.publish(topic, json.dumps(payload), qos=0)
        self.published += 1

    # --- paho's thread: convert and hand over -----------------------------------------------

    def _on_connect(self, client: paho.Client, _userdata: Any, _flags: Any, reason: Any, _properties: Any = None) -> None:
        if getattr(reason, "is_failure", False):
            logger.warning("mapper: the broker %s:%d refused us: %s", self.host, self.port, reason)
            return
        client.subscribe([(DELTA_TOPIC, 0), (MEMBERSHIP_TOPIC, 0), (RESULT_TOPIC, 0)])
        logger.info("mapper: connected to the broker %s:%d", self.host, self.port)
        self.connected.set()
        if self.engine is not None:
            self.engine.report_all()  # a full report on start and after every reconnect

    def _on_disconnect(self, _client: paho.Client, _userdata: Any, _flags: Any, reason: Any, _properties: Any = None) -> None:
        if self.connected.is_set():
            logger.warning("mapper: lost the broker %s:%d (%s); reconnecting", self.host, self.port, reason)
        self.connected.clear()

    def _on_message(self, _client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
        parts = message.topic.split("/")
        if self.engine is None:
            return
        if parts[-2:] == ["membership", "updated"]:
            self._on_membership(decode_delta(bytes(message.payload)))
            return
        if len(parts) == 7 and parts[5:] == ["update", "result"]:
            self._on_result(parts[3], decode_delta(bytes(message.payload)))
            return
        if len(parts) != 7 or parts[5:] != ["update", "delta"]:
            return
        body = decode_delta(bytes(message.payload))
        if body is None:
            logger.warning("mapper: a delta for %s is not a JSON object; ignored", parts[3])
            return
        self.engine.on_delta(parts[3], body)

    def _on_result(self, device_id: str, body: dict[str, Any] | None) -> None:
        """The twin refused a report of one of our devices: say why (docs/protocol.md#5.4).
        A 404 (the twin does not know the device yet) is made good by the membership report."""
        code = (body or {}).get("code")
        if code and self.engine is not None and device_id in self.engine.device_ids:
            log = logger.info if code == 404 else logger.warning
            log("mapper: the twin refused a report of device %s: %s %s", device_id, code, (body or {}).get("reason", ""))

    def _on_membership(self, body: dict[str, Any] | None) -> None:
        """A device the twin adds now may have had reports refused before (404: it did not know
        the device yet): report it whole again (docs/protocol.md#5.6)."""
        added = (body or {}).get("added_devices") or []
        ids = [str(d["id"]) for d in added if isinstance(d, dict) and isinstance(d.get("id"), str)]
        if ids and self.engine is not None:
            self.engine.report_all(ids)


__all__ = ["DELTA_TOPIC", "MEMBERSHIP_TOPIC", "RESULT_TOPIC", "MqttLink", "broker_address"]
