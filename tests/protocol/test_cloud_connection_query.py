"""A module restarted after a crash asks the hub for the connection state (docs/architecture.md#4.1)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from actors.protocol import ask_cloud_connection
from kubeedge_actors import Router
from kubeedge_actors.testing import start_probe
from tests.runtime.actors_for_tests import EchoActor


@pytest.fixture
def router() -> Iterator[Router]:
    router = Router()
    yield router
    router.close()


def test_asking_for_the_cloud_connection_sends_a_query_to_the_running_hub(router: Router) -> None:
    hub = start_probe(router, "websocket", "hub")

    ask_cloud_connection(EchoActor(router))

    query = hub.wait_for()
    assert (query.source, query.group, query.operation, query.resource) == ("echo", "echo", "query", "node/connection")


def test_asking_for_the_cloud_connection_without_a_running_hub_sends_nothing(router: Router) -> None:
    ask_cloud_connection(EchoActor(router))

    assert router.dead_letter_count == 0
