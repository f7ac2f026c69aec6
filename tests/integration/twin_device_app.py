"""A device app as KubeEdge users write them: a plain paho client on the twin topics."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from kubeedge_actors.testing import wait_until


class DeviceApp:
    """Subscribes to every device and node topic and records what arrives, in order."""

    def __init__(self, host: str, port: int) -> None:
        self.received: list[tuple[str, bytes]] = []
        self._condition = threading.Condition()
        self._subscribed = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"device-app-{uuid.uuid4().hex[:8]}")
        self.client.on_connect = self._connected
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.on_message = self._message
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.connect(host, port)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise AssertionError("the device app could not subscribe")

    def _connected(self, client: paho.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        # Subscriptions are made again on every connect, so a broker restart is survived.
        client.subscribe([("$hw/events/device/#", 1), ("$hw/events/node/#", 1), ("node/connection", 1)])

    def _message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        with self._condition:
            self.received.append((message.topic, bytes(message.payload)))
            self._condition.notify_all()

    def publish(self, topic: str, payload: Any) -> None:
        data = payload if isinstance(payload, bytes | str) else json.dumps(payload)
        self.client.publish(topic, data, qos=1).wait_for_publish(5)

    def wait_for(self, topic: str, predicate: Callable[[Any], bool] = lambda payload: True, timeout_s: float = 10.0) -> Any:
        """The first JSON payload received on ``topic`` that ``predicate`` accepts."""
        deadline = time.monotonic() + timeout_s
        with self._condition:
            while True:
                for received_topic, data in self.received:
                    if received_topic == topic:
                        payload = _parse(data)
                        if predicate(payload):
                            return payload
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"nothing on {topic} within {timeout_s} s; got topics {[t for t, _ in self.received]}")
                self._condition.wait(remaining)

    def on_topic(self, topic: str) -> list[Any]:
        with self._condition:
            return [_parse(data) for received_topic, data in self.received if received_topic == topic]

    def request(self, topic: str, result_topic: str, payload: dict[str, Any], timeout_s: float = 10.0) -> Any:
        """Publish until the result with this event id arrives (the bus may still be subscribing)."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.publish(topic, payload)
            try:
                return self.wait_for(result_topic, lambda p: isinstance(p, dict) and p.get("event_id") == payload["event_id"], 0.5)
            except AssertionError:
                if time.monotonic() > deadline:
                    raise

    def wait_connected(self, timeout_s: float = 30.0) -> None:
        """Until the client is connected (again, after the broker or the edge restarted)."""
        wait_until(self.client.is_connected, timeout_s, 0.05, "the device app connected to the edge's broker")

    def twin_get(self, device: str, timeout_s: float = 10.0) -> dict[str, Any]:
        """The twin/get/result for ``device``, once connected."""
        topic = f"$hw/events/device/{device}/twin/get"
        self.wait_connected()
        result: dict[str, Any] = self.request(topic, topic + "/result", {"event_id": uuid.uuid4().hex}, timeout_s)
        return result

    def twin_update(self, device: str, values: dict[str, str], timeout_s: float = 10.0) -> dict[str, Any]:
        """Report ``values`` (property name to string value) as ``device``'s actual twin
        values, once connected; the twin/update/result."""
        topic = f"$hw/events/device/{device}/twin/update"
        twin = {name: {"actual": {"value": value}, "metadata": {"type": "string"}} for name, value in values.items()}
        self.wait_connected()
        payload = {"event_id": uuid.uuid4().hex, "timestamp": 0, "twin": twin}
        result: dict[str, Any] = self.request(topic, topic + "/result", payload, timeout_s)
        return result

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _parse(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return data
