"""The envelope and its codec against the wire examples (docs/protocol.md#2.1, docs/protocol.md#3.6, docs/protocol.md#3.9,
docs/protocol.md#4.4)."""

from __future__ import annotations

import json
import os
import threading
import uuid

import pytest

from actors.protocol import Operation
from kubeedge_actors import Header, Message, MessageDecodeError, Route, decode_message, encode_message
from kubeedge_actors.message import new_message_id

FIXED_ID = "5b0f3b2c-6a51-4d53-9c1a-2f7c7f1f0a11"
REQUEST_ID = "0d7d1ad8-8b8e-4bd8-a8a8-5c1e33a3b8c2"

# docs/protocol.md#3.6, with the uuid and time filled in
HEARTBEAT_WIRE = (
    '{"header":{"msg_id":"5b0f3b2c-6a51-4d53-9c1a-2f7c7f1f0a11","parent_msg_id":"","timestamp":1541400000000,"sync":false},'
    '"route":{"source":"websocket","group":"resource","operation":"keepalive","resource":"node"},'
    '"content":"ping"}'
)
# docs/protocol.md#3.9
CONNECTED_WIRE = (
    '{"header":{"msg_id":"5b0f3b2c-6a51-4d53-9c1a-2f7c7f1f0a11","parent_msg_id":"","timestamp":1541400000000,"sync":false},'
    '"route":{"source":"edgehub","group":"meta","operation":"publish","resource":"node/connection"},'
    '"content":"cloud_connected"}'
)
# docs/protocol.md#4.4
BUS_WIRE = (
    '{"header":{"msg_id":"5b0f3b2c-6a51-4d53-9c1a-2f7c7f1f0a11","parent_msg_id":"","timestamp":1541400000000,"sync":false},'
    '"route":{"source":"bus","group":"user","operation":"response","resource":"JGh3L2V2ZW50cy9kZXZpY2UvZGV2MS90d2luL3VwZGF0ZQ=="},'
    '"content":"{\\"event_id\\":\\"e1\\",\\"twin\\":{}}"}'
)


def fixed(source: str, group: str, operation: str, resource: str, content: object) -> Message:
    return Message(Header(FIXED_ID, "", 1541400000000, False), Route(source, group, operation, resource), content)


@pytest.mark.parametrize(
    ("message", "wire"),
    [
        (fixed("websocket", "resource", "keepalive", "node", "ping"), HEARTBEAT_WIRE),
        (fixed("edgehub", "meta", "publish", "node/connection", "cloud_connected"), CONNECTED_WIRE),
        (fixed("bus", "user", "response", "JGh3L2V2ZW50cy9kZXZpY2UvZGV2MS90d2luL3VwZGF0ZQ==", '{"event_id":"e1","twin":{}}'), BUS_WIRE),
    ],
    ids=["heartbeat", "connection-event", "mqtt-bridge"],
)
def test_encoding_gives_the_exact_wire_bytes_of_the_spec(message: Message, wire: str) -> None:
    encoded = encode_message(message)

    assert encoded == wire


@pytest.mark.parametrize("wire", [HEARTBEAT_WIRE, CONNECTED_WIRE, BUS_WIRE], ids=["heartbeat", "connection-event", "mqtt-bridge"])
def test_decoding_then_encoding_returns_the_same_bytes(wire: str) -> None:
    assert encode_message(decode_message(wire)) == wire


def test_parent_id_group_and_sync_are_always_emitted_even_when_empty() -> None:
    message = Message(Header(FIXED_ID), Route(), None)

    wire = json.loads(encode_message(message))

    assert wire == {
        "header": {"msg_id": FIXED_ID, "parent_msg_id": "", "timestamp": 0, "sync": False},
        "route": {"group": ""},
        "content": None,
    }


def test_empty_source_operation_and_resource_are_omitted() -> None:
    wire = json.loads(encode_message(fixed("", "meta", "", "", 1)))

    assert wire["route"] == {"group": "meta"}


def test_absent_parent_id_group_and_sync_decode_as_empty() -> None:
    wire = (
        '{"header":{"msg_id":"a","timestamp":5},'
        '"route":{"source":"controller","operation":"insert","resource":"default/pod/x"},"content":{}}'
    )

    message = decode_message(wire)

    assert message.header == Header("a", "", 5, False)
    assert message.route == Route("controller", "", "insert", "default/pod/x")


def test_bytes_and_text_frames_decode_alike() -> None:
    assert decode_message(HEARTBEAT_WIRE.encode()) == decode_message(HEARTBEAT_WIRE)


def test_keys_match_case_insensitively_like_go() -> None:
    message = decode_message('{"Header":{"MSG_ID":"a"},"Route":{"Operation":"query"},"Content":1}')

    assert (message.id, message.operation, message.content) == ("a", "query", 1)


@pytest.mark.parametrize(
    "wire",
    [
        '{"header":{"msg_id":"a","parent_msg_id":"","timestamp":5,"sync":false},"route":{"group":"g","Source":"s"},"content":1}',
        '{"header":{"msg_id":"a","parent_msg_id":"","timestamp":5,"sync":false,"Sync":true},"route":{"group":"g"},"content":1}',
        '{"header":{"msg_id":"a","parent_msg_id":null,"timestamp":5,"sync":false},"route":{"group":"g"},"content":1}',
        '{"header":{"msg_id":"a","parent_msg_id":"","timestamp":5,"sync":false},"route":{"group":"g"},"Content":1}',
    ],
    ids=["mixed-case-route-key", "extra-header-key", "null-field", "mixed-case-content"],
)
def test_an_envelope_that_is_not_in_the_exact_wire_form_decodes_as_go_would(wire: str) -> None:
    document = json.loads(wire)

    message = decode_message(wire)

    expected = {k.lower(): v for k, v in document.items()}
    route = {k.lower(): v for k, v in expected["route"].items()}
    assert message.content == expected["content"]
    assert message.route.source == route.get("source", "") and message.route.group == "g"
    assert message.header.parent_id == ""


@pytest.mark.parametrize(
    ("wire", "names"),
    [
        ("not json", "not valid JSON"),
        ("[1,2]", "must be a JSON object, not an array"),
        ('{"header":{"msg_id":1}}', "header.msg_id must be a string, not an integer"),
        ('{"header":{"timestamp":"now"}}', "header.timestamp must be an integer, not a string"),
        ('{"header":{"timestamp":1.5}}', "header.timestamp must be an integer, not a number"),
        ('{"header":{"sync":"yes"}}', "header.sync must be a boolean, not a string"),
        ('{"route":"meta"}', "route must be an object, not a string"),
        (b"\xff\xfe", "not valid JSON"),
    ],
    ids=["not-json", "array", "id-number", "timestamp-text", "timestamp-float", "sync-text", "route-text", "bad-utf8"],
)
def test_a_malformed_envelope_is_an_error_naming_what_is_wrong(wire: str | bytes, names: str) -> None:
    with pytest.raises(MessageDecodeError, match=names.replace(".", r"\.")):
        decode_message(wire)


def test_reply_answers_the_request_id_with_operation_response() -> None:
    request = Message.new(source="edged", group="meta", operation="query", resource="default/configmap/cm", sync=True)

    reply = request.reply(["{}"])

    assert reply.parent_id == request.id
    assert reply.id != request.id
    assert (reply.source, reply.group, reply.operation, reply.resource) == ("edged", "meta", "response", "default/configmap/cm")
    assert reply.content == ["{}"]
    assert reply.is_sync is False


def test_error_reply_is_parented_to_the_request_not_to_its_parent() -> None:
    request = Message.new(source="edged", group="meta", operation="query", resource="x/y", parent_id=REQUEST_ID)

    error = request.error_reply("no such thing")

    assert error.parent_id == request.id
    assert error.operation == Operation.ERROR
    assert error.is_error
    assert error.content == "no such thing"


def test_clone_keeps_everything_but_the_id() -> None:
    original = Message.new(source="a", group="b", operation="c", resource="d", content=[1], sync=True)

    copy = original.clone()

    assert copy.id != original.id
    assert (copy.route, copy.content, copy.is_sync) == (original.route, original.content, original.is_sync)


def test_messages_are_immutable() -> None:
    message = Message.new(source="a", group="b", operation="c", resource="d")

    with pytest.raises(AttributeError):
        message.content = 1  # type: ignore[misc]


def test_bytes_content_is_encoded_as_base64_like_go() -> None:
    wire = json.loads(encode_message(fixed("twin", "bus", "publish", "t", b"{}")))

    assert wire["content"] == "e30="


def test_new_messages_carry_a_uuid_and_a_millisecond_timestamp() -> None:
    message = Message.new(source="a", group="b", operation="c", resource="d")

    assert len(message.id) == 36 and message.id.count("-") == 4
    assert 1_700_000_000_000 < message.header.timestamp_ms < 10_000_000_000_000


def test_message_ids_are_v4_uuids_unique_across_threads() -> None:
    ids: list[str] = []

    def draw() -> None:
        ids.extend(new_message_id() for _ in range(10_000))

    threads = [threading.Thread(target=draw) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(set(ids)) == 40_000
    assert all(uuid.UUID(i).version == 4 and uuid.UUID(i).variant == uuid.RFC_4122 for i in ids[::997])


def test_a_forked_child_draws_ids_of_its_own() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: send its next id and leave at once
        os.write(write, new_message_id().encode())
        os._exit(0)
    os.close(write)
    child_id = os.read(read, 64).decode()
    os.waitpid(pid, 0)
    os.close(read)

    assert len(child_id) == 36
    assert child_id[:24] != new_message_id()[:24]
