"""Tier 1: the device controller with a recording router and a real SQLite file (docs/protocol.md#5.4, docs/protocol.md#5.7)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeedge_actors import Message
from kubeedge_actors.testing import ActorHarness, make_message
from kubeedge_cloud.devicecontroller import DeviceControllerActor
from kubeedge_cloud.devicestore import DeviceStore
from kubeedge_cloud.hub import connection_event
from kubeedge_cloud.keys import cloud_defaults
from tests.cloud.control_api import api, apply

Harness = ActorHarness[DeviceControllerActor]


@pytest.fixture
def start_controller(tmp_path: Path) -> Iterator[Callable[[], Harness]]:
    started: list[Harness] = []

    def start() -> Harness:
        harness = ActorHarness(DeviceControllerActor, cloud_defaults(), store=DeviceStore(tmp_path / "cloud.db"))
        harness.start()
        started.append(harness)
        return harness

    yield start
    for harness in started:
        harness.stop()


def device(name: str = "thermometer", node: str | None = "edge-1", **twins: str) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "apiVersion": "devices.kubeedge.io/v1alpha1",
        "kind": "Device",
        "metadata": {"name": name},
        "spec": {"deviceModelRef": {"name": "thermometer-model"}},
        "status": {"twins": [{"propertyName": k, "desired": {"metadata": {"type": "string"}, "value": v}} for k, v in twins.items()]},
    }
    if node:
        expression = {"key": "", "operator": "In", "values": [node]}
        manifest["spec"]["nodeSelector"] = {"nodeSelectorTerms": [{"matchExpressions": [expression]}]}
    return manifest


def to_edges(harness: Harness) -> list[Message]:
    return harness.router.take("send", "cloudhub")


def connected_controller(start_controller: Callable[[], Harness], *nodes: str) -> Harness:
    harness = start_controller()
    for node in nodes or ("edge-1",):
        harness.deliver(connection_event(node, True))
    return harness


def test_a_new_device_becomes_membership_added_then_its_desired_twins(start_controller: Callable[[], Harness]) -> None:
    harness = connected_controller(start_controller)

    results = apply(harness, device(temperature="25", unit="celsius"))

    membership, twins = to_edges(harness)
    assert results == [("thermometer", "created")]
    assert (membership.source, membership.group, membership.operation) == ("devicecontroller", "twin", "update")
    assert membership.resource == "node/edge-1/membership"
    assert membership.content["added_devices"] == [{"id": "thermometer", "name": "thermometer"}]
    assert membership.content["removed_devices"] == []
    assert twins.resource == "node/edge-1/device/thermometer/twin/cloud_updated"
    temperature = twins.content["twin"]["temperature"]
    assert temperature["expected"]["value"] == "25" and isinstance(temperature["expected"]["metadata"]["timestamp"], int)
    assert (temperature["optional"], temperature["metadata"]) == (False, {"type": "string"})
    assert temperature["expected_version"]["edge"] == 0 and temperature["expected_version"]["cloud"] >= 1


def test_a_changed_desired_value_is_a_cloud_update_with_a_higher_version(start_controller: Callable[[], Harness]) -> None:
    harness = connected_controller(start_controller)
    apply(harness, device(temperature="25", humidity="40"))
    first = to_edges(harness)[-1].content["twin"]["temperature"]["expected_version"]["cloud"]

    unchanged = apply(harness, device(temperature="25", humidity="40"))
    nothing = to_edges(harness)
    apply(harness, device(temperature="30"))

    [update] = to_edges(harness)
    assert (unchanged, nothing) == ([("thermometer", "unchanged")], [])
    assert update.resource == "node/edge-1/device/thermometer/twin/cloud_updated"
    assert update.content["twin"]["temperature"]["expected"]["value"] == "30"
    assert update.content["twin"]["temperature"]["expected_version"]["cloud"] > first
    assert update.content["twin"]["humidity"]["metadata"] == {"type": "deleted"}  # no longer desired


def test_the_node_option_places_a_device_without_a_node_selector_and_keeps_it_there(start_controller: Callable[[], Harness]) -> None:
    harness = connected_controller(start_controller, "edge-7")

    apply(harness, device(node=None, temperature="25"), node="edge-7")
    placed = to_edges(harness)
    apply(harness, device(node=None, temperature="26"))

    assert placed[0].resource == "node/edge-7/membership"
    assert to_edges(harness)[0].resource == "node/edge-7/device/thermometer/twin/cloud_updated"


def test_a_device_moved_to_another_node_leaves_the_old_one(start_controller: Callable[[], Harness]) -> None:
    harness = connected_controller(start_controller, "edge-1", "edge-2")
    apply(harness, device(node="edge-1"))
    to_edges(harness)

    apply(harness, device(node="edge-2"))

    removed, added = to_edges(harness)
    assert (removed.resource, removed.content["removed_devices"]) == (
        "node/edge-1/membership",
        [{"id": "thermometer", "name": "thermometer"}],
    )
    assert (added.resource, added.content["added_devices"]) == ("node/edge-2/membership", [{"id": "thermometer", "name": "thermometer"}])


def test_a_deleted_device_is_removed_from_its_node(start_controller: Callable[[], Harness]) -> None:
    harness = connected_controller(start_controller)
    apply(harness, device())
    to_edges(harness)

    reply = api(harness, "delete", {"kind": "Device", "namespace": "default", "name": "thermometer"})

    [removed] = to_edges(harness)
    assert reply.content["results"][0]["action"] == "deleted"
    assert removed.content["removed_devices"] == [{"id": "thermometer", "name": "thermometer"}]


def test_nothing_is_sent_to_a_node_that_is_away_and_its_detail_request_catches_it_up(start_controller: Callable[[], Harness]) -> None:
    harness = start_controller()
    apply(harness, device("a", temperature="25"), device("b", node="edge-2"))
    sent_while_away = to_edges(harness)
    detail = make_message(
        "get", "node/edge-1/membership/detail", json.dumps({"event_type": "group_membership_event"}), source="twin", group="resource"
    )

    harness.deliver(detail)

    [reply] = to_edges(harness)
    assert sent_while_away == []
    assert (reply.parent_id, reply.resource, reply.source, reply.group) == (
        detail.id,
        "node/edge-1/membership/detail",
        "devicecontroller",
        "twin",
    )
    [only] = reply.content["devices"]
    assert (only["id"], only["twin"]["temperature"]["expected"]["value"]) == ("a", "25")


def test_reported_values_from_the_edge_are_recorded_and_acknowledged(start_controller: Callable[[], Harness]) -> None:
    harness = connected_controller(start_controller)
    apply(harness, device(temperature="25"))
    to_edges(harness)
    twin = {"temperature": {"actual": {"value": "24.5", "metadata": {"timestamp": 1700000000000}}, "metadata": {"type": "string"}}}
    edge_updated = make_message(
        "update",
        "node/edge-1/device/thermometer/twin/edge_updated",
        {"event_id": "e", "timestamp": 1, "twin": twin},
        source="twin",
        group="resource",
    )

    harness.deliver(edge_updated)

    [ack] = to_edges(harness)
    assert (ack.parent_id, ack.operation, ack.content, ack.group) == (edge_updated.id, "response", "OK", "twin")
    [row] = api(harness, "list", {}, "devices").content["items"]
    assert row["twins"] == [{"name": "temperature", "type": "string", "desired": "25", "reported": "24.5"}]
    reported = row["object"]["status"]["twins"][0]["reported"]
    assert reported == {"value": "24.5", "metadata": {"timestamp": 1700000000000, "type": "string"}}


def test_a_property_the_device_reports_without_a_desired_value_is_listed_too(start_controller: Callable[[], Harness]) -> None:
    harness = connected_controller(start_controller)
    apply(harness, device(temperature="25"))
    to_edges(harness)
    twin = {
        "humidity": {"actual": {"value": "40", "metadata": {"timestamp": 1700000000001}}, "metadata": {"type": "int"}},
        "temperature": {"actual": {"value": "24.5", "metadata": {"timestamp": 1700000000000}}, "metadata": {"type": "string"}},
    }
    content = {"event_id": "e", "timestamp": 1, "twin": twin}

    harness.deliver(make_message("update", "node/edge-1/device/thermometer/twin/edge_updated", content, source="twin", group="resource"))

    [row] = api(harness, "list", {}, "devices").content["items"]
    assert row["twins"] == [
        {"name": "temperature", "type": "string", "desired": "25", "reported": "24.5"},
        {"name": "humidity", "type": "int", "desired": None, "reported": "40"},
    ]
    assert row["object"]["status"]["twins"][1] == {
        "propertyName": "humidity",
        "reported": {"value": "40", "metadata": {"timestamp": 1700000000001, "type": "int"}},
    }


def test_the_device_state_the_edge_sends_is_recorded(start_controller: Callable[[], Harness]) -> None:
    harness = connected_controller(start_controller)
    apply(harness, device())
    state = json.dumps(
        {"event_id": "x", "timestamp": 1, "device": {"name": "thermometer", "state": "online", "last_online": "2026-11-27 14:00:00"}}
    )

    harness.deliver(make_message("update", "node/edge-1/device/thermometer/state", state, source="twin", group="resource"))

    assert api(harness, "list", {}, "devices").content["items"][0]["state"] == "online"


@pytest.mark.parametrize(
    ("manifest", "error"),
    [
        ({**device(), "apiVersion": "v1"}, "apiVersion must be devices.kubeedge.io/v1alpha1"),
        (device(node=None), "spec.nodeSelector names no node"),
        ({**device(), "status": {"twins": [{"propertyName": "t", "desired": {"value": 25}}]}}, "desired.value must be a string (quote it)"),
        (
            {**device(), "status": {"twins": [{"propertyName": "t", "desired": {"value": "1", "metadata": {"type": "date"}}}]}},
            "type must be one of",
        ),
        ({**device(), "status": {"twins": [{"desired": {"value": "1"}}]}}, "propertyName is missing"),
    ],
    ids=["not-a-device-api", "no-node", "number-value", "unknown-type", "no-property-name"],
)
def test_a_device_that_cannot_be_used_is_refused_naming_the_field(
    start_controller: Callable[[], Harness], manifest: dict[str, Any], error: str
) -> None:
    harness = start_controller()

    reply = api(harness, "apply", {"objects": [manifest]})

    assert reply.is_error and error in reply.content and reply.content.startswith("device/thermometer")


def test_a_device_name_used_in_another_namespace_is_refused(start_controller: Callable[[], Harness]) -> None:
    harness = start_controller()
    apply(harness, device())
    other = device()
    other["metadata"]["namespace"] = "lab"

    reply = api(harness, "apply", {"objects": [other]})

    assert reply.is_error and "exists in namespace default" in reply.content


# --- reports in the edge's order (a resend can arrive behind a newer report) ---------------------


def edge_updated(value: str, edge_version: int | None, timestamp_ms: int, *, node: str = "edge-1") -> Message:
    """The twin's report of ``temperature`` = ``value`` (docs/protocol.md#5.4), as the edge made it."""
    twin: dict[str, Any] = {
        "actual": {"value": value, "metadata": {"timestamp": timestamp_ms}},
        "metadata": {"type": "string"},
    }
    if edge_version is not None:
        twin["actual_version"] = {"cloud": 0, "edge": edge_version}
    content = {"event_id": f"e-{value}", "timestamp": timestamp_ms, "twin": {"temperature": twin}}
    return make_message("update", f"node/{node}/device/thermometer/twin/edge_updated", content, source="twin", group="resource")


def state_message(state: str, timestamp_ms: int) -> Message:
    content = json.dumps({"event_id": "x", "timestamp": timestamp_ms, "device": {"name": "thermometer", "state": state}})
    return make_message("update", "node/edge-1/device/thermometer/state", content, source="twin", group="resource")


def reported_temperature(harness: Harness) -> Any:
    [row] = api(harness, "list", {}, "devices").content["items"]
    return row["twins"][0]["reported"]


def acks(harness: Harness) -> list[tuple[str, str, Any]]:
    return [(ack.parent_id, ack.operation, ack.content) for ack in to_edges(harness)]


@pytest.fixture
def thermometer(start_controller: Callable[[], Harness]) -> Harness:
    harness = connected_controller(start_controller)
    apply(harness, device(temperature="25"))
    to_edges(harness)
    return harness


def test_a_report_resent_behind_a_newer_one_is_acknowledged_and_does_not_overwrite_it(thermometer: Harness) -> None:
    older, newer = edge_updated("7", 7, 1_700_000_000_007), edge_updated("8", 8, 1_700_000_000_008)

    for report in (newer, older):  # the older one was lost in a breaking link and resent after the newer
        thermometer.deliver(report)

    assert reported_temperature(thermometer) == "8"
    assert acks(thermometer) == [(newer.id, "response", "OK"), (older.id, "response", "OK")]


def test_a_resent_report_is_acknowledged_again_and_not_applied_twice(thermometer: Harness) -> None:
    first, second = edge_updated("7", 7, 1_700_000_000_007), edge_updated("8", 8, 1_700_000_000_008)

    for report in (first, second, first, second):  # both resent after a link loss: the same ids
        thermometer.deliver(report)

    assert reported_temperature(thermometer) == "8"
    assert [parent for parent, _, _ in acks(thermometer)] == [first.id, second.id, first.id, second.id]


def test_an_edge_that_counts_its_versions_from_one_again_is_shown_by_its_later_timestamp(thermometer: Harness) -> None:
    thermometer.deliver(edge_updated("57", 57, 1_700_000_000_000))

    thermometer.deliver(edge_updated("fresh", 1, 1_700_000_900_000))  # reinstalled: an empty database

    assert reported_temperature(thermometer) == "fresh"


def test_only_the_properties_of_a_report_that_are_newer_are_applied(thermometer: Harness) -> None:
    twin = {"actual": {"value": "40", "metadata": {"timestamp": 5}}, "actual_version": {"cloud": 0, "edge": 5}}
    thermometer.deliver(edge_updated("8", 8, 8))
    both = make_message(
        "update",
        "node/edge-1/device/thermometer/twin/edge_updated",
        {"event_id": "e", "timestamp": 5, "twin": {"humidity": twin, **edge_updated("5", 5, 5).content["twin"]}},
        source="twin",
        group="resource",
    )

    thermometer.deliver(both)

    [row] = api(thermometer, "list", {}, "devices").content["items"]
    assert {twin["name"]: twin["reported"] for twin in row["twins"]} == {"temperature": "8", "humidity": "40"}


def test_reports_are_kept_in_order_across_a_restart_of_the_cloud_hub(start_controller: Callable[[], Harness], thermometer: Harness) -> None:
    thermometer.deliver(edge_updated("8", 8, 8))
    thermometer.stop()

    restarted = connected_controller(start_controller)
    restarted.deliver(edge_updated("7", 7, 7))

    assert reported_temperature(restarted) == "8"


def test_a_report_of_a_device_the_cloud_does_not_have_is_answered_with_an_error(start_controller: Callable[[], Harness]) -> None:
    harness = connected_controller(start_controller)
    report = edge_updated("7", 7, 7)

    harness.deliver(report)

    [(parent, operation, reason)] = acks(harness)
    assert (parent, operation) == (report.id, "error") and "no device 'thermometer' on node 'edge-1'" in reason


def test_a_device_state_resent_behind_a_newer_one_does_not_overwrite_it(thermometer: Harness) -> None:
    online, offline = state_message("online", 1_700_000_000_001), state_message("offline", 1_700_000_000_002)

    for message in (offline, online):
        thermometer.deliver(message)

    assert api(thermometer, "list", {}, "devices").content["items"][0]["state"] == "offline"
    assert acks(thermometer) == [(offline.id, "response", "OK"), (online.id, "response", "OK")]


@pytest.mark.parametrize(
    ("content", "reason"),
    [("not json", "not JSON text"), (json.dumps({"device": "online"}), "no device object"), (None, "not JSON text")],
    ids=["not-json", "device-not-an-object", "no-content"],
)
def test_a_device_state_that_cannot_be_read_is_answered_with_an_error_naming_why(thermometer: Harness, content: Any, reason: str) -> None:
    message = make_message("update", "node/edge-1/device/thermometer/state", content, source="twin", group="resource")

    thermometer.deliver(message)

    [(parent, operation, answer)] = acks(thermometer)
    assert (parent, operation) == (message.id, "error") and reason in answer
    assert api(thermometer, "list", {}, "devices").content["items"][0]["state"] == ""
