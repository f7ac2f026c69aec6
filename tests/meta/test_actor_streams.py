"""Tier 1: meta passes the cloud's log and exec stream messages to edged and keeps nothing of them
(docs/protocol.md#9.5, docs/architecture.md#4.8)."""

from __future__ import annotations

import pytest

from actors.protocol import Module, StreamOperation
from actors.testing import cloud_message
from tests.meta.helpers import fake_store, meta_harness


@pytest.mark.parametrize("operation", [StreamOperation.OPEN, StreamOperation.ACK, StreamOperation.CLOSE])
def test_a_stream_message_from_the_cloud_goes_to_edged_unchanged_and_is_not_stored_or_acknowledged(operation: str) -> None:
    harness = meta_harness()
    message = cloud_message(operation, "default/podlogs/web", {"stream": "s1", "seq": 3})

    harness.deliver(message)

    assert harness.router.take("send", Module.EDGED) == [message]
    assert harness.router.sent == []
    assert fake_store(harness).rows == {}
