"""Tier 1: the twin takes what the original takes from the cloud, and still refuses what the
original refuses (twin/update and cloud_updated names and values, unknown types and states)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.twin.helpers import bus_message, from_cloud, payloads_on, sensor, twin_harness


def device(device_id: str, **twins: dict[str, Any]) -> dict[str, Any]:
    return {"id": device_id, "name": device_id, "twin": twins}


def desired(value: str, value_type: str = "string") -> dict[str, Any]:
    return {"expected": {"value": value}, "metadata": {"type": value_type}, "expected_version": {"cloud": 3, "edge": 0}}


def test_membership_twins_take_any_name_and_text_as_the_original_does() -> None:
    harness, store = twin_harness()
    added = device("lamp", **{"target temperature": desired("21.5 °C"), "mode": desired("eco, quiet!")})

    harness.deliver(from_cloud("update", "membership", {"event_id": "m", "added_devices": [added]}))
    harness.deliver(bus_message("$hw/events/device/lamp/twin/get", {"event_id": "g"}))

    [result] = payloads_on(harness, "/twin/get/result")
    assert {name: twin["expected"]["value"] for name, twin in result["twin"].items()} == {
        "mode": "eco, quiet!",
        "target temperature": "21.5 °C",
    }
    assert sorted(twin.name for _, twin in store.batches[-1].twins) == ["mode", "target temperature"]


def test_membership_detail_twins_take_any_text_too() -> None:
    harness, _ = twin_harness()

    harness.deliver(
        from_cloud("update", "membership/detail", {"event_id": "d", "devices": [device("lamp", label=desired("Hall (north)"))]})
    )

    assert harness.actor.twins.devices["lamp"].twins["label"].expected.value == "Hall (north)"  # type: ignore[union-attr]


def test_a_membership_twin_whose_value_is_not_of_its_type_is_skipped_and_the_others_kept() -> None:
    harness, _ = twin_harness()
    added = device("lamp", level=desired("high", "int"), power=desired("on"))

    harness.deliver(from_cloud("update", "membership", {"event_id": "m", "added_devices": [added]}))

    assert sorted(harness.actor.twins.devices["lamp"].twins) == ["power"]


def test_a_device_without_an_id_is_skipped_with_a_warning_and_the_others_are_added(caplog: pytest.LogCaptureFixture) -> None:
    harness, _ = twin_harness()
    nameless = {"name": "no id", "twin": {"power": desired("on")}}

    with caplog.at_level(logging.WARNING, logger="actors.twin"):
        harness.deliver(from_cloud("update", "membership", {"event_id": "m", "added_devices": [nameless, device("lamp")]}))

    assert sorted(harness.actor.twins.devices) == ["lamp"]
    assert any("added_devices[0].id is missing" in r.getMessage() for r in caplog.records)


def test_a_detail_with_a_device_without_an_id_still_lists_and_removes_the_others() -> None:
    harness, _ = twin_harness(sensor())

    harness.deliver(from_cloud("update", "membership/detail", {"event_id": "d", "devices": [{"name": "no id"}, device("lamp")]}))

    assert sorted(harness.actor.twins.devices) == ["lamp"]


@pytest.mark.parametrize(
    "twin",
    [{"temp target": {"expected": {"value": "1"}}}, {"temp": {"expected": {"value": "21 C"}}}],
    ids=["name-with-a-space", "value-with-a-space"],
)
def test_a_device_app_update_is_still_checked_as_the_original_checks_it(twin: dict[str, Any]) -> None:
    harness, store = twin_harness(sensor())

    harness.deliver(bus_message("$hw/events/device/sensor-1/twin/update", {"event_id": "u", "twin": twin}))

    [result] = payloads_on(harness, "/twin/update/result")
    assert result["code"] == 400 and store.batches == []


def test_a_cloud_updated_twin_name_is_still_checked_as_the_original_checks_it() -> None:
    harness, store = twin_harness(sensor())

    harness.deliver(from_cloud("update", "device/sensor-1/twin/cloud_updated", {"event_id": "c", "twin": {"bad name": desired("1")}}))

    assert store.batches == [] and "bad name" not in harness.actor.twins.devices["sensor-1"].twins


@pytest.mark.parametrize("state", ["Online", "busy"], ids=["other-case", "unknown"])
def test_a_state_other_than_online_offline_unknown_is_still_ignored_as_in_the_original(state: str) -> None:
    harness, store = twin_harness(sensor())

    harness.deliver(bus_message("$hw/events/device/sensor-1/state/update", {"event_id": "s", "state": state}))

    assert payloads_on(harness, "/state/update/result") == [] and store.batches == []
