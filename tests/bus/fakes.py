"""Fakes behind the bus's adapters: they record what they are asked and raise on surprises."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from actors.bus.mqtt import MqttConnected, MqttConnectionLost, MqttError, MqttMessageReceived, MqttStateChange


class FakeMqttClient:
    """Stands in for PahoMqttClient. ``connect_failures`` attempts fail before one succeeds."""

    def __init__(self, name: str = "external", url: str = "tcp://127.0.0.1:1883", *, connect_failures: int = 0) -> None:
        self.name = name
        self.url = url
        self.dropped_publishes = 0
        self.connect_failures = connect_failures
        self.connect_calls = 0
        self.subscribed: list[tuple[tuple[str, ...], int]] = []
        self.published: list[tuple[str, bytes, int, bool]] = []
        self.refuse_publishes = False
        self.queued = 0  # what waiting() says: a test sets it
        self.closed = False
        self._on_message: Callable[[MqttMessageReceived], object] | None = None
        self._on_state: Callable[[MqttStateChange], None] | None = None

    def bind(self, on_message: Callable[[MqttMessageReceived], object], on_state: Callable[[MqttStateChange], None]) -> None:
        self._on_message, self._on_state = on_message, on_state

    def connect(self) -> None:
        if self.closed:
            raise AssertionError("connect() after close()")
        self.connect_calls += 1
        if self.connect_failures:
            self.connect_failures -= 1
            raise MqttError(f"cannot connect to {self.url}: [Errno 111] Connection refused")

    def subscribe(self, topic_filters: Sequence[str], qos: int) -> None:
        self.subscribed.append((tuple(topic_filters), qos))

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> bool:
        if not isinstance(payload, bytes):
            raise AssertionError(f"payload must be bytes, not {type(payload).__name__}")
        if self.refuse_publishes:
            self.dropped_publishes += 1
            return False
        self.published.append((topic, payload, qos, retain))
        return True

    def waiting(self) -> int:
        return self.queued

    def close(self) -> None:
        self.closed = True

    # --- what paho's thread would do ---------------------------------------------------------

    def fire_connected(self) -> None:
        self._state(MqttConnected(self.name))

    def fire_lost(self, reason: str = "connection lost") -> None:
        self._state(MqttConnectionLost(self.name, reason))

    def fire_message(self, topic: str, payload: bytes) -> object:
        if self._on_message is None:
            raise AssertionError("message before bind()")
        return self._on_message(MqttMessageReceived(self.name, topic, payload))

    def _state(self, event: MqttStateChange) -> None:
        if self._on_state is None:
            raise AssertionError("state change before bind()")
        self._on_state(event)


class FakeBroker:
    """Stands in for the embedded broker."""

    def __init__(self, url: str = "tcp://127.0.0.1:1884") -> None:
        self.url = url
        self.running = False
        self.starts = 0

    def start(self) -> None:
        if self.running:
            raise AssertionError("started twice")
        self.running = True
        self.starts += 1

    def stop(self) -> None:
        self.running = False

    def figures(self) -> dict[str, float]:
        return {"mqtt_broker_connections": 1.0}
