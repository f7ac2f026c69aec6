"""The embedded broker's pure half: frames, packets and topic matching, without sockets."""

from __future__ import annotations

import pytest

from actors.bus.broker.codec import (
    ConnectRefused,
    FrameReader,
    PacketTooLarge,
    ProtocolError,
    ReturnCode,
    decode_connect,
    decode_publish,
    decode_subscribe,
    encode_publish,
    encode_string,
)
from actors.bus.broker.filters import SubscriptionIndex, topic_filter_problem, topic_name_problem
from tests.bus.raw_mqtt import connect_packet, packet, publish_packet, subscribe_packet


def frames_of(*chunks: bytes, max_packet_size: int = 1 << 20) -> list[tuple[int, int, bytes]]:
    reader = FrameReader(max_packet_size)
    return [(frame.kind, frame.flags, frame.body) for chunk in chunks for frame in reader.frames(chunk)]


@pytest.mark.parametrize("size", [0, 127, 128, 16383, 16384, 2_097_152], ids=["0", "127", "128", "16383", "16384", "2MiB"])
def test_every_length_of_remaining_length_frames_the_packet(size: int) -> None:
    data = publish_packet("t", b"x" * size)

    [(kind, _, body)] = frames_of(data, max_packet_size=4 << 20)

    assert kind == 3 and body.endswith(b"x" * size) and len(body) == size + 3


def test_packets_split_anywhere_across_reads_come_out_whole_and_in_order() -> None:
    stream = publish_packet("a", b"1") + publish_packet("b", b"2" * 300) + packet(0xC0, b"")

    got = frames_of(*(stream[index : index + 1] for index in range(len(stream))))

    assert [(kind, body[-1:]) for kind, _, body in got] == [(3, b"1"), (3, b"2"), (12, b"")]


def test_a_remaining_length_of_five_bytes_is_malformed() -> None:
    with pytest.raises(ProtocolError, match="longer than 4 bytes"):
        frames_of(b"\x30\xff\xff\xff\xff\x01")


def test_a_packet_over_the_limit_is_refused_from_its_header_before_its_body_arrives() -> None:
    header_only = publish_packet("t", b"x" * 2000)[:4]

    with pytest.raises(PacketTooLarge, match="over the limit of 1024 bytes"):
        frames_of(header_only, max_packet_size=1024)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (packet(0x00, b""), "reserved"),
        (packet(0xF0, b""), "reserved"),
        (packet(0x80, b"\x00\x01\x00\x01a\x00"), "SUBSCRIBE with fixed-header flags"),
        (packet(0x60, b"\x00\x01"), "PUBREL with fixed-header flags"),
        (packet(0xC1, b""), "PINGREQ with fixed-header flags"),
    ],
    ids=["type-0", "type-15", "subscribe-flags-0", "pubrel-flags-0", "pingreq-flags-1"],
)
def test_reserved_types_and_wrong_fixed_flags_are_protocol_errors(data: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        frames_of(data)


def test_a_reserved_packet_type_is_refused_from_its_header_before_its_body_arrives() -> None:
    with pytest.raises(ProtocolError, match="reserved"):
        frames_of(b"\xf0\xff\xff\x3f")  # type 15 announcing a body of ~1 MiB


def connect_body(data: bytes) -> bytes:
    [(_, _, body)] = frames_of(data)
    return body


def test_a_311_connect_is_decoded_with_its_will() -> None:
    connect = decode_connect(connect_body(connect_packet("dev-1", clean=False, keepalive_s=30, will=("gone/dev-1", b"bye", 1, True))))

    assert (connect.client_id, connect.clean_session, connect.keepalive_s, connect.level) == ("dev-1", False, 30, 4)
    assert connect.will is not None and (connect.will.topic, connect.will.payload, connect.will.qos, connect.will.retain) == (
        "gone/dev-1",
        b"bye",
        1,
        True,
    )


@pytest.mark.parametrize(
    ("data", "code", "reason"),
    [
        (connect_packet("x", level=5), ReturnCode.UNACCEPTABLE_PROTOCOL_VERSION, "MQTT 5 is not supported"),
        (connect_packet("x", level=3), ReturnCode.UNACCEPTABLE_PROTOCOL_VERSION, "protocol level 3"),
        (connect_packet("x", level=4, name=b"MQIsdp"), ReturnCode.UNACCEPTABLE_PROTOCOL_VERSION, "protocol level 4"),
        (connect_packet("", clean=False), ReturnCode.IDENTIFIER_REJECTED, "empty client id"),
    ],
    ids=["mqtt-5", "mqtt-with-level-3", "mqisdp-with-level-4", "empty-id-without-clean-session"],
)
def test_connects_the_broker_cannot_accept_get_the_matching_return_code(data: bytes, code: ReturnCode, reason: str) -> None:
    with pytest.raises(ConnectRefused, match=reason) as refused:
        decode_connect(connect_body(data))

    assert refused.value.code == code


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\x00\x04HTTP\x04\x02\x00\x3c\x00\x00", "protocol name b'HTTP' is not MQTT"),
        (b"\x00\x04MQTT\x04\x03\x00\x3c\x00\x00", "reserved flag"),
        (b"\x00\x04MQTT\x04\x1e\x00\x3c\x00\x00", "will QoS"),
        (b"\x00\x04MQTT\x04\x12\x00\x3c\x00\x00", "will QoS"),
        (b"\x00\x04MQTT\x04\x42\x00\x3c\x00\x00", "password without a user name"),
        (b"\x00\x04MQTT\x04\x02\x00\x3c\x00\x09ab", "client id runs past the end"),
        (b"\x00\x04MQTT\x04\x02\x00\x3c\x00\x02\xc3\x28", "not valid UTF-8"),
        (b"\x00\x04MQTT\x04\x02\x00\x3c\x00\x02a\x00", "U\\+0000"),
        (b"\x00\x04MQTT\x04\x06\x00\x3c\x00\x01a\x00\x03a/#\x00\x00", "will topic 'a/#' contains a wildcard"),
        (b"\x00\x04MQTT\x04\x02\x00\x3c\x00\x01a!", "bytes after the last field"),
    ],
    ids=[
        "not-mqtt",
        "reserved-flag",
        "will-qos-3",
        "will-qos-without-will",
        "password-alone",
        "truncated",
        "bad-utf8",
        "nul",
        "will-wildcard",
        "trailing",
    ],
)
def test_a_malformed_connect_is_a_protocol_error_naming_the_field(body: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        decode_connect(body)


@pytest.mark.parametrize(
    ("flags", "body", "reason"),
    [
        (0x00, b"\x00\x03a/+x", "topic name 'a/\\+' contains a wildcard"),
        (0x00, b"\x00\x03a/#", "contains a wildcard"),
        (0x00, b"\x00\x00x", "topic name '' is empty"),
        (0x06, b"\x00\x01ax", "QoS 3"),
        (0x02, b"\x00\x01a\x00\x00x", "packet id 0"),
        (0x02, b"\x00\x01a\x00", "packet id runs past the end"),
    ],
    ids=["plus", "hash", "empty-topic", "qos-3", "packet-id-0", "no-packet-id"],
)
def test_a_publish_with_a_bad_topic_or_header_is_a_protocol_error(flags: int, body: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        decode_publish(flags, body)


def test_a_subscribe_needs_a_filter_and_a_valid_qos_byte() -> None:
    [(_, _, good)] = frames_of(subscribe_packet(7, ("a/#", 1), ("b", 2)))

    assert decode_subscribe(good) == (7, [("a/#", 1), ("b", 2)])
    with pytest.raises(ProtocolError, match="without a topic filter"):
        decode_subscribe(b"\x00\x07")
    with pytest.raises(ProtocolError, match="requested QoS byte 0x03"):
        decode_subscribe(b"\x00\x07\x00\x01a\x03")


def test_an_encoded_publish_reads_back_as_sent() -> None:
    data = encode_publish(encode_string("$hw/events/x"), b"p" * 200, 1, True, dup=True, packet_id=513)

    [(kind, flags, body)] = frames_of(data)
    publish = decode_publish(flags, body)

    assert (kind, flags) == (3, 0x0B)
    assert (publish.topic, publish.payload, publish.qos, publish.retain, publish.packet_id) == ("$hw/events/x", b"p" * 200, 1, True, 513)


# --- topics ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic_filter", "topic", "matches"),
    [
        ("a/b", "a/b", True),
        ("a/+", "a/b", True),
        ("a/+", "a/b/c", False),
        ("a/#", "a", True),
        ("a/#", "a/b/c", True),
        ("+/+", "/a", True),
        ("+", "/a", False),
        ("#", "a/b", True),
        ("#", "$hw/events/device/d/twin/update", False),
        ("+/events/#", "$hw/events/x", False),
        ("$hw/events/device/+/twin/+", "$hw/events/device/d/twin/update", True),
        ("$hw/events/upload/#", "$hw/events/upload", True),
        ("$hw/#", "$SYS/x", False),
    ],
)
def test_filters_match_as_mqtt_4_7_says_and_dollar_topics_only_match_dollar_filters(topic_filter: str, topic: str, matches: bool) -> None:
    index: SubscriptionIndex[str] = SubscriptionIndex()
    index.add(topic_filter, "client", 1)

    assert (index.subscribers(topic) == {"client": 1}) is matches


def test_a_client_with_overlapping_filters_gets_one_copy_at_the_highest_qos() -> None:
    index: SubscriptionIndex[str] = SubscriptionIndex()
    index.add("a/b", "c1", 0)
    index.add("a/+", "c1", 2)
    index.add("#", "c2", 1)

    assert index.subscribers("a/b") == {"c1": 2, "c2": 1}


def test_removed_filters_match_nothing_and_leave_the_index_empty() -> None:
    index: SubscriptionIndex[str] = SubscriptionIndex()
    index.add("a/+", "c1", 1)
    index.add("a/b", "c1", 1)

    index.remove("a/+", "c1")
    index.remove("a/b", "c1")

    assert index.subscribers("a/b") == {} and len(index) == 0


@pytest.mark.parametrize(
    ("topic_filter", "problem"),
    [("", "is empty"), ("a/#/b", "# that is not"), ("a#", "# that is not"), ("a/b+", "+ that is not"), ("+a", "+ that is not")],
    ids=["empty", "hash-in-middle", "hash-in-level", "plus-in-level", "plus-prefix"],
)
def test_invalid_filters_are_named_with_the_reason(topic_filter: str, problem: str) -> None:
    reason = topic_filter_problem(topic_filter)

    assert reason is not None and problem in reason


def test_topic_names_with_wildcards_or_empty_are_not_publishable_and_dollar_names_are() -> None:
    assert topic_name_problem("a/+") is not None and topic_name_problem("a/#") is not None and topic_name_problem("") is not None
    assert topic_name_problem("$hw/events/device/d/twin/update") is None
