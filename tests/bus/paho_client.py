"""A paho-mqtt client for broker tests: subscribes, publishes, records what arrives in order."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion


@dataclass(frozen=True)
class Got:
    topic: str
    payload: bytes
    qos: int
    retain: bool


class PahoClient:
    """Connected on construction; ``subscriptions`` are made (and acknowledged) before it returns."""

    def __init__(
        self,
        port: int,
        *subscriptions: tuple[str, int],
        client_id: str | None = None,
        clean_session: bool = True,
        protocol: Any = paho.MQTTv311,
    ) -> None:
        self.received: list[Got] = []
        self.session_present: bool | None = None
        self._condition = threading.Condition()
        self._connected = threading.Event()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"test-{uuid.uuid4().hex[:8]}",
            clean_session=clean_session,
            protocol=protocol,
            reconnect_on_failure=False,
        )
        self._subacks: set[int] = set()
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not self._connected.wait(5):
            raise AssertionError("paho could not connect")
        if subscriptions:
            result, mid = self.client.subscribe(list(subscriptions))
            if result != paho.MQTT_ERR_SUCCESS:
                raise AssertionError(f"paho could not subscribe: {result}")
            self._wait_suback(mid)

    def _wait_suback(self, mid: int) -> None:
        with self._condition:
            if not self._condition.wait_for(lambda: mid in self._subacks, timeout=5):
                raise AssertionError("no SUBACK within 5 s")

    def _on_subscribe(self, client: paho.Client, userdata: Any, mid: int, reason_codes: Any, properties: Any) -> None:
        with self._condition:
            self._subacks.add(mid)
            self._condition.notify_all()

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        self.session_present = bool(flags.session_present)
        self._connected.set()

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        with self._condition:
            self.received.append(Got(message.topic, bytes(message.payload), message.qos, bool(message.retain)))
            self._condition.notify_all()

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        """Returns once the broker acknowledged it (QoS 1, 2) or it was written (QoS 0)."""
        self.client.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(5)

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[Got]:
        """The first ``count`` messages received."""
        deadline = time.monotonic() + timeout_s
        with self._condition:
            while len(self.received) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{len(self.received)} of {count} messages within {timeout_s} s")
                self._condition.wait(remaining)
            return list(self.received[:count])

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
