"""MQTT topics and payloads ↔ envelopes: the pure half of the bus (docs/protocol.md#4.3 to docs/protocol.md#4.5)."""

from __future__ import annotations

import json

from actors.protocol import Group, Module, Operation, encode_topic
from kubeedge_actors.errors import MessageRejected
from kubeedge_actors.message import Content, Json, Message

# docs/protocol.md#4.3: the fixed subscriptions, all at QoS 1.
FIXED_SUBSCRIPTIONS: tuple[str, ...] = (
    "$hw/events/upload/#",
    "$hw/events/device/+/state/update",
    "$hw/events/device/+/twin/+",
    "$hw/events/node/+/membership/get",
    "SYS/dis/upload_records",
)
SUBSCRIBE_QOS = 1
UPLOAD_RECORDS_TOPIC = "SYS/dis/upload_records"
_TWIN_TOPIC_PREFIXES = ("$hw/events/device", "$hw/events/node")


def mqtt_to_message(topic: str, payload: bytes) -> tuple[str, Message]:
    """docs/protocol.md#4.4: the envelope for one MQTT message, and where it goes.

    Returns:
        ``("group", msg)`` for the twin group, ``("module", msg)`` for the hub.
    """
    resource = topic if topic == UPLOAD_RECORDS_TOPIC else encode_topic(topic)
    # Go turns the payload into a string unchecked; JSON-encoding it replaces bad UTF-8.
    content = payload.decode("utf-8", errors="replace")
    message = Message.new(source="bus", group=Group.USER, operation=Operation.RESPONSE, resource=resource, content=content)
    if topic.startswith(_TWIN_TOPIC_PREFIXES):
        return Group.TWIN, message
    return Module.HUB, message


def payload_of(content: Content) -> bytes:
    """The MQTT payload for a ``publish`` content (docs/protocol.md#4.5).

    Bytes go as they are, text as UTF-8, anything else as its JSON (the original crashed on
    an object).
    """
    if isinstance(content, bytes | bytearray):
        return bytes(content)
    if isinstance(content, str):
        return content.encode("utf-8")
    return json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def message_operation_target(content: Json) -> tuple[str, bytes]:
    """docs/protocol.md#4.5 ``message``: the topic and payload of ``content["message"]``.

    Raises:
        MessageRejected: the content is not ``{"message": {"topic": "...", ...}}`` (the
            original's loop ended on this, docs/protocol.md#13.7).
    """
    inner = content.get("message") if isinstance(content, dict) else None
    topic = inner.get("topic") if isinstance(inner, dict) else None
    if not isinstance(topic, str) or not topic:
        raise MessageRejected('content of a "message" operation must be {"message": {"topic": "<topic>", ...}}')
    return topic, payload_of(inner)


__all__ = [
    "FIXED_SUBSCRIPTIONS",
    "SUBSCRIBE_QOS",
    "UPLOAD_RECORDS_TOPIC",
    "message_operation_target",
    "mqtt_to_message",
    "payload_of",
]
