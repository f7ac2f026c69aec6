"""A started embedded broker on a free port, stopped after the test."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from actors.bus.broker import BrokerSettings
from actors.bus.broker.server import EmbeddedMqttBroker
from tests.services import free_port

StartBroker = Callable[..., EmbeddedMqttBroker]


@pytest.fixture
def start_broker() -> Iterator[StartBroker]:
    """``start_broker(**settings)``: a listening broker with those :class:`BrokerSettings`."""
    started: list[EmbeddedMqttBroker] = []

    def start(**settings: object) -> EmbeddedMqttBroker:
        broker = EmbeddedMqttBroker(BrokerSettings("127.0.0.1", free_port(), **settings))  # type: ignore[arg-type]
        broker.start()
        started.append(broker)
        return broker

    yield start
    for broker in started:
        broker.stop()


@pytest.fixture
def broker(start_broker: StartBroker) -> EmbeddedMqttBroker:
    return start_broker()
