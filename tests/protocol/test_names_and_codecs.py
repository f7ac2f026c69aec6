"""The encodings one module writes and another reads: topic resources (docs/protocol.md#4.4), connection events (docs/protocol.md#3.9)."""

from __future__ import annotations

from typing import Any

import pytest

from actors.protocol import cloud_connected, decode_topic, encode_topic
from kubeedge_actors.errors import MessageRejected


@pytest.mark.parametrize(
    "topic", ["$hw/events/device/dev1/twin/update", "$hw/events/node/n/membership/get", "é/ü?"], ids=["twin", "node", "non-ascii"]
)
def test_a_decoded_topic_resource_is_the_topic_that_was_encoded(topic: str) -> None:
    resource = encode_topic(topic)

    assert decode_topic(resource) == topic


@pytest.mark.parametrize("resource", ["not base64!", "//79", "é"], ids=["not-base64", "not-utf8", "not-ascii"])
def test_a_resource_that_is_not_an_encoded_topic_is_rejected(resource: str) -> None:
    with pytest.raises(MessageRejected, match="is not a base64url-encoded MQTT topic"):
        decode_topic(resource)


@pytest.mark.parametrize(
    ("content", "connected"),
    [("cloud_connected", True), ("cloud_disconnected", False), (b"cloud_connected", True)],
    ids=["connected", "disconnected", "bytes"],
)
def test_a_connection_event_says_whether_the_cloud_is_connected(content: Any, connected: bool) -> None:
    assert cloud_connected(content) is connected


@pytest.mark.parametrize("content", ["maybe", None, {"connected": True}], ids=["other-text", "none", "object"])
def test_any_other_connection_event_content_is_rejected_without_showing_it(content: Any) -> None:
    with pytest.raises(MessageRejected, match="must be 'cloud_connected' or 'cloud_disconnected'") as rejected:
        cloud_connected(content)

    assert "maybe" not in str(rejected.value)
