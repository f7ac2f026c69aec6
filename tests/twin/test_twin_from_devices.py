"""Tier 1: what device apps get over the twin topics (docs/protocol.md#5.4, docs/protocol.md#5.5), with a fake store."""

from __future__ import annotations

import pytest

from actors.twin.model import Twin, Value, Version
from tests.twin.helpers import NODE, bus_message, payloads_on, published, sensor, to_cloud, twin_harness

UPDATE = "$hw/events/device/sensor-1/twin/update"
RESULT = "$hw/events/device/sensor-1/twin/update/result"


def test_a_twin_update_answers_with_the_changed_twins_without_versions() -> None:
    harness, _store = twin_harness(sensor())

    harness.deliver(bus_message(UPDATE, {"event_id": "e1", "timestamp": 1, "twin": {"temp": {"actual": {"value": "21"}}}}))

    [(topic, result), (_, document), (_, delta)] = published(harness)
    assert topic == RESULT
    assert set(result) == {"event_id", "timestamp", "twin"} and result["event_id"] == "e1"
    twin = result["twin"]["temp"]
    assert set(twin) == {"expected", "actual", "optional", "metadata"}
    assert twin["actual"]["value"] == "21" and isinstance(twin["actual"]["metadata"]["timestamp"], int)
    assert twin["expected"] == {"value": "20", "metadata": {"timestamp": 1}}
    assert twin["metadata"] == {"type": "string"} and twin["optional"] is True
    assert document["twin"]["temp"]["current"]["actual"]["value"] == "21"
    assert delta["delta"] == {"temp": "20"}


def test_a_twin_update_publishes_the_document_with_last_and_current() -> None:
    harness, _ = twin_harness(sensor())

    harness.deliver(bus_message(UPDATE, {"event_id": "e1", "twin": {"temp": {"expected": {"value": "25"}}}}))

    [document] = payloads_on(harness, "/twin/update/document")
    assert document["event_id"] == "e1"
    assert document["twin"]["temp"]["last"]["expected"]["value"] == "20"
    assert document["twin"]["temp"]["current"]["expected"]["value"] == "25"
    assert "expected_version" not in document["twin"]["temp"]["current"]


def test_the_delta_lists_every_twin_whose_actual_lags_its_expected_value() -> None:
    twins = {
        "temp": Twin("temp", expected=Value("20", 1), actual=Value("20", 1)),
        "fan": Twin("fan", expected=Value("on", 1)),
        "empty": Twin("empty", expected=Value("", 1)),
    }
    harness, _ = twin_harness(sensor(**twins))

    harness.deliver(bus_message(UPDATE, {"event_id": "e1", "twin": {"temp": {"actual": {"value": "19"}}}}))

    [delta] = payloads_on(harness, "/twin/update/delta")
    assert delta["delta"] == {"fan": "on", "temp": "20"}
    assert sorted(delta["twin"]) == ["empty", "fan", "temp"]
    assert delta["event_id"] != "e1" and len(delta["event_id"]) == 36


def test_no_delta_is_published_when_every_actual_matches() -> None:
    harness, _ = twin_harness(sensor())

    harness.deliver(bus_message(UPDATE, {"event_id": "e1", "twin": {"temp": {"actual": {"value": "20"}}}}))

    assert payloads_on(harness, "/twin/update/delta") == []


def test_a_rest_update_bumps_the_edge_version_and_tells_the_cloud_with_versions() -> None:
    harness, store = twin_harness(sensor())

    harness.deliver(bus_message(UPDATE, {"event_id": "e1", "twin": {"temp": {"expected": {"value": "22"}}}}))

    [(_, stored)] = store.batches[-1].twins
    assert stored.expected_version == Version(0, 2)
    [record] = store.outbox
    assert record.message.resource == "device/sensor-1/twin/edge_updated"
    assert (record.message.source, record.message.group, record.message.operation) == ("twin", "resource", "update")
    assert record.message.content["twin"]["temp"]["expected_version"] == {"cloud": 0, "edge": 2}
    assert to_cloud(harness) == []  # the cloud is away: kept, not sent


@pytest.mark.parametrize(
    ("payload", "event_id", "reason"),
    [
        ("not json at all", "", "not valid JSON"),
        ('{"event_id": "e2"}', "e2", 'no "twin"'),
        ('{"event_id": "e3", "twin": {"bad key!": {"actual": {"value": "1"}}}}', "e3", "twin key"),
        ('{"event_id": "e4", "twin": {"temp": {"actual": {"value": 21}}}}', "e4", "must be a string"),
        ('{"event_id": "e5", "twin": {"temp": {"actual": {"value": "has space"}}}}', "e5", "1-512 characters"),
        ('{"event_id": "e6", "twin": "nope"}', "e6", "must be an object"),
    ],
    ids=["not-json", "no-twin-key", "bad-key", "number-value", "bad-characters", "twin-not-object"],
)
def test_an_invalid_update_gets_400_on_the_devices_own_result_topic(payload: str, event_id: str, reason: str) -> None:
    harness, store = twin_harness(sensor())

    harness.deliver(bus_message(UPDATE, payload))

    [(topic, result)] = published(harness)
    assert topic == RESULT  # docs/protocol.md#13.1: not $hw/events/device//twin/update/result
    assert result["event_id"] == event_id and result["code"] == 400 and reason in result["reason"]
    assert set(result) == {"event_id", "timestamp", "code", "reason"}
    assert store.batches == []


@pytest.mark.parametrize(
    ("value_type", "value", "accepted"),
    [
        ("int", "42", True),
        ("int", "4.2", False),
        ("int", "99999999999999999999", False),
        ("float", "4.2", True),
        ("float", "x", False),
        ("boolean", "true", True),
        ("boolean", "false", True),
        ("boolean", "yes", False),
        ("boolean", "True", False),
        ("int", "", True),
    ],
    ids=["int", "int-decimal", "int-overflow", "float", "float-word", "bool-true", "bool-false", "bool-yes", "bool-capital", "empty"],
)
def test_typed_values_are_checked_against_their_type(value_type: str, value: str, accepted: bool) -> None:
    harness, _ = twin_harness(sensor(level=Twin("level", attr_type=value_type)))

    harness.deliver(bus_message(UPDATE, {"event_id": "e", "twin": {"level": {"expected": {"value": value}}}}))

    [result] = payloads_on(harness, "/twin/update/result")
    assert ("code" not in result) is accepted


def test_one_bad_twin_leaves_every_twin_of_the_request_unchanged() -> None:
    harness, store = twin_harness(sensor(level=Twin("level", attr_type="int"), name=Twin("name")))

    harness.deliver(
        bus_message(UPDATE, {"event_id": "e", "twin": {"name": {"actual": {"value": "ok"}}, "level": {"actual": {"value": "x"}}}})
    )
    harness.deliver(bus_message("$hw/events/device/sensor-1/twin/get", {"event_id": "g"}))

    [error, got] = payloads_on(harness, "/result")
    assert error["code"] == 400
    assert "actual" not in got["twin"]["name"]
    assert store.batches == []


def test_an_update_for_an_unknown_device_gets_404() -> None:
    harness, _ = twin_harness()

    harness.deliver(bus_message("$hw/events/device/ghost/twin/update", {"event_id": "e", "twin": {}}))

    [(topic, result)] = published(harness)
    assert topic == "$hw/events/device/ghost/twin/update/result"
    assert (result["code"], result["event_id"]) == (404, "e")


def test_a_device_id_inside_the_topic_prefix_still_finds_its_device() -> None:
    harness, _ = twin_harness(sensor().__class__("dev", twins={}))

    harness.deliver(bus_message("$hw/events/device/dev/twin/get", {"event_id": "g"}))

    [(topic, result)] = published(harness)
    assert topic == "$hw/events/device/dev/twin/get/result" and "code" not in result


def test_a_new_twin_from_an_app_starts_at_edge_version_1_optional_and_string() -> None:
    harness, store = twin_harness(sensor())

    harness.deliver(bus_message(UPDATE, {"event_id": "e", "twin": {"hum": {"actual": {"value": "40"}}}}))

    [(_, stored)] = store.batches[-1].twins
    assert (stored.actual_version, stored.optional, stored.attr_type, stored.expected) == (Version(0, 1), True, "string", None)


def test_deleting_an_optional_twin_answers_null_and_marks_it_deleted() -> None:
    harness, store = twin_harness(sensor())

    harness.deliver(bus_message(UPDATE, {"event_id": "e", "twin": {"temp": None}}))

    [result] = payloads_on(harness, "/twin/update/result")
    assert result["twin"] == {"temp": None}
    [(_, stored)] = store.batches[-1].twins
    assert (stored.attr_type, stored.expected, stored.expected_version) == ("deleted", None, Version(0, 2))


def test_deleting_a_twin_that_is_not_optional_is_refused() -> None:
    harness, _ = twin_harness(sensor(temp=Twin("temp", optional=False)))

    harness.deliver(bus_message(UPDATE, {"event_id": "e", "twin": {"temp": None}}))

    [result] = payloads_on(harness, "/twin/update/result")
    assert result["code"] == 400 and "not optional" in result["reason"]


def test_optional_only_changes_from_true_to_false() -> None:
    harness, store = twin_harness(sensor(temp=Twin("temp", optional=False)))

    harness.deliver(bus_message(UPDATE, {"event_id": "e", "twin": {"temp": {"optional": True, "actual": {"value": "1"}}}}))

    [(_, stored)] = store.batches[-1].twins
    assert stored.optional is False


def test_twin_get_answers_every_twin_but_deleted_ones_without_versions() -> None:
    twins = {"temp": Twin("temp", expected=Value("20", 5), expected_version=Version(1, 1)), "old": Twin("old", attr_type="deleted")}
    harness, _ = twin_harness(sensor(**twins))

    harness.deliver(bus_message("$hw/events/device/sensor-1/twin/get", {"event_id": "g1"}))

    [(topic, result)] = published(harness)
    assert topic == "$hw/events/device/sensor-1/twin/get/result"
    assert result["event_id"] == "g1"
    assert result["twin"] == {
        "temp": {"expected": {"value": "20", "metadata": {"timestamp": 5}}, "optional": True, "metadata": {"type": "string"}}
    }


def test_a_state_update_is_stored_answered_and_reported_to_the_cloud_as_a_string() -> None:
    harness, store = twin_harness(sensor())

    harness.deliver(bus_message("$hw/events/device/sensor-1/state/update", {"event_id": "s", "timestamp": 1, "state": "online"}))

    [(topic, result)] = published(harness)
    assert topic == "$hw/events/device/sensor-1/state/update/result"
    assert set(result) == {"event_id", "timestamp", "device"} and result["event_id"] != "s"
    assert result["device"]["name"] == "sensor-1" and result["device"]["state"] == "online"
    assert len(result["device"]["last_online"]) == len("2026-01-01 00:00:00")
    [record] = store.outbox
    assert record.message.resource == "device/sensor-1/state" and isinstance(record.message.content, str)
    assert record.message.content == store.batches[-1].outbox_added[0].message.content


def test_an_unknown_device_state_is_ignored_and_the_twin_keeps_serving() -> None:
    harness, store = twin_harness(sensor())

    harness.deliver(bus_message("$hw/events/device/sensor-1/state/update", {"event_id": "s", "state": "dancing"}))
    harness.deliver(bus_message("$hw/events/device/sensor-1/twin/get", {"event_id": "g"}))

    assert [topic for topic, _ in published(harness)] == ["$hw/events/device/sensor-1/twin/get/result"]
    assert store.batches == []


def test_membership_get_answers_on_the_configured_nodes_topic_without_twins() -> None:
    harness, _ = twin_harness(sensor())

    harness.deliver(bus_message("$hw/events/node/any-node/membership/get", {"event_id": "m"}))

    [(topic, result)] = published(harness)
    assert topic == f"$hw/events/node/{NODE}/membership/get/result"
    assert result["event_id"] == "m" and result["devices"] == [{"id": "sensor-1", "name": "sensor-1"}]


def test_a_store_failure_answers_500_and_changes_nothing() -> None:
    harness, store = twin_harness(sensor())
    store.fail_next_commits = 1

    harness.deliver(bus_message(UPDATE, {"event_id": "e", "twin": {"temp": {"actual": {"value": "5"}}}}))
    harness.deliver(bus_message("$hw/events/device/sensor-1/twin/get", {"event_id": "g"}))

    [failed, got] = payloads_on(harness, "/result")
    assert (failed["code"], failed["event_id"]) == (500, "e")
    assert "actual" not in got["twin"]["temp"]
    assert store.outbox == []
