"""Tier 1: membership, cloud twin sync, attributes and delivery to the cloud (docs/protocol.md#5.4 to docs/protocol.md#5.8)."""

from __future__ import annotations

import json
import logging

import pytest

from actors.protocol import Group
from actors.twin.model import Device, Twin, Value, Version
from actors.twin.store import OutboxRecord
from kubeedge_actors import Message
from tests.protocol.connection import hub_says
from tests.twin.fakes import FakeTwinStore
from tests.twin.helpers import NODE, bus_message, from_cloud, payloads_on, published, sensor, to_cloud, twin_harness

CLOUD_DEVICE = {
    "id": "lamp",
    "name": "lamp",
    "attributes": {"vendor": {"value": "acme", "optional": False, "metadata": {"type": "string"}}},
    "twin": {
        "power": {
            "expected": {"value": "on", "metadata": {"timestamp": 1}},
            "optional": False,
            "metadata": {"type": "string"},
            "expected_version": {"cloud": 7, "edge": 0},
        }
    },
}


def test_a_device_added_by_the_cloud_is_stored_and_announced_on_membership_updated() -> None:
    harness, store = twin_harness()

    harness.deliver(from_cloud("update", "membership", {"event_id": "c1", "timestamp": 1, "added_devices": [CLOUD_DEVICE]}))

    [updated] = payloads_on(harness, "/membership/updated")
    assert set(updated) == {"event_id", "timestamp", "added_devices", "removed_devices"}
    assert updated["removed_devices"] is None
    [device] = updated["added_devices"]
    assert device["id"] == "lamp" and device["attributes"] == {
        "vendor": {"value": "acme", "optional": False, "metadata": {"type": "string"}}
    }
    assert device["twin"]["power"]["expected"]["value"] == "on"
    assert "expected_version" not in device["twin"]["power"]
    batch = store.batches[-1]
    assert [d.id for d in batch.devices] == ["lamp"]
    assert [(device_id, twin.expected_version) for device_id, twin in batch.twins] == [("lamp", Version(7, 0))]


def test_a_device_added_by_the_cloud_gets_its_delta_published() -> None:
    harness, _ = twin_harness()

    harness.deliver(from_cloud("update", "membership", {"event_id": "c1", "added_devices": [CLOUD_DEVICE]}))

    [delta] = payloads_on(harness, "/twin/update/delta")
    assert delta["delta"] == {"power": "on"}


def test_a_device_removed_by_the_cloud_is_deleted_and_announced_as_listed() -> None:
    harness, store = twin_harness(sensor())

    harness.deliver(from_cloud("update", "membership", {"event_id": "c2", "removed_devices": [{"id": "sensor-1", "name": "sensor-1"}]}))

    [(topic, updated)] = published(harness)
    assert topic == f"$hw/events/node/{NODE}/membership/updated"
    assert updated["added_devices"] is None and updated["removed_devices"] == [{"id": "sensor-1", "name": "sensor-1"}]
    assert store.batches[-1].removed_devices == ["sensor-1"]
    assert harness.actor.twins.devices == {}


def test_membership_detail_adds_listed_devices_and_removes_the_others() -> None:
    harness, _store = twin_harness(sensor())

    harness.deliver(from_cloud("update", "membership/detail", {"event_id": "d", "devices": [CLOUD_DEVICE]}))

    updates = payloads_on(harness, "/membership/updated")
    assert [(u["added_devices"] or [{}])[0].get("id") for u in updates] == ["lamp", None]
    assert updates[1]["removed_devices"] == [{"id": "sensor-1"}]
    assert sorted(harness.actor.twins.devices) == ["lamp"]


def test_an_existing_device_in_a_membership_message_is_updated_without_membership_updated() -> None:
    lamp = Device("lamp", "lamp", twins={"power": Twin("power", expected=Value("off", 1), expected_version=Version(6, 0))})
    harness, _ = twin_harness(lamp)

    harness.deliver(from_cloud("update", "membership", {"event_id": "c", "added_devices": [CLOUD_DEVICE]}))

    topics = [topic.rsplit("/lamp/", 1)[-1] for topic, _ in published(harness)]
    assert "membership/updated" not in " ".join(topics)
    assert harness.actor.twins.devices["lamp"].twins["power"].expected == Value(
        "on", harness.actor.twins.devices["lamp"].twins["power"].expected.timestamp_ms
    )  # type: ignore[union-attr]


def test_cloud_updated_adopts_the_clouds_version() -> None:
    harness, store = twin_harness(sensor(temp=Twin("temp", expected=Value("20", 1), expected_version=Version(1, 0))))
    body = {"event_id": "c", "twin": {"temp": {"expected": {"value": "30"}, "expected_version": {"cloud": 2, "edge": 0}}}}

    harness.deliver(from_cloud("update", "device/sensor-1/twin/cloud_updated", body))

    [(_, stored)] = store.batches[-1].twins
    assert (stored.expected.value, stored.expected_version) == ("30", Version(2, 0))  # type: ignore[union-attr]
    assert store.outbox == []  # accepted: nothing goes back


def test_a_cloud_update_older_than_an_edge_change_is_refused_and_the_edge_twin_sent_back() -> None:
    harness, store = twin_harness(sensor(temp=Twin("temp", expected=Value("25", 1), expected_version=Version(1, 1))))
    body = {"event_id": "c", "twin": {"temp": {"expected": {"value": "30"}, "expected_version": {"cloud": 2, "edge": 0}}}}

    harness.deliver(from_cloud("update", "device/sensor-1/twin/cloud_updated", body))

    [record] = store.outbox
    assert record.message.resource == "device/sensor-1/twin/edge_updated"
    twin = record.message.content["twin"]["temp"]
    assert twin["expected"]["value"] == "25" and twin["expected_version"] == {"cloud": 1, "edge": 1}


def test_a_cloud_update_without_version_is_skipped_for_a_new_twin() -> None:
    harness, store = twin_harness(sensor())

    harness.deliver(
        from_cloud("update", "device/sensor-1/twin/cloud_updated", {"event_id": "c", "twin": {"new": {"expected": {"value": "1"}}}})
    )

    assert "new" not in harness.actor.twins.devices["sensor-1"].twins
    assert store.batches == []


def test_a_cloud_delete_marks_the_twin_deleted_and_adopts_its_version() -> None:
    harness, store = twin_harness(sensor(temp=Twin("temp", expected=Value("20", 1), expected_version=Version(1, 0))))
    body = {"event_id": "c", "twin": {"temp": {"metadata": {"type": "deleted"}, "expected_version": {"cloud": 3, "edge": 0}}}}

    harness.deliver(from_cloud("update", "device/sensor-1/twin/cloud_updated", body))

    [(_, stored)] = store.batches[-1].twins
    assert (stored.attr_type, stored.expected, stored.expected_version) == ("deleted", None, Version(3, 0))
    [document] = payloads_on(harness, "/twin/update/document")
    assert document["twin"]["temp"]["current"] is None


def test_attribute_changes_from_the_cloud_are_published_on_updated() -> None:
    harness, _ = twin_harness(Device("lamp", attributes={}))
    body = {"event_id": "a1", "timestamp": 1, "attributes": {"color": {"value": "red", "optional": True, "metadata": {"type": "string"}}}}

    harness.deliver(from_cloud("updated", "device/lamp", body))

    [(topic, updated)] = published(harness)
    assert topic == "$hw/events/device/lamp/updated"
    assert updated["event_id"] == "a1"
    assert updated["attributes"] == {"color": {"value": "red", "optional": True, "metadata": {"type": "string"}}}


def test_bad_cloud_content_is_rejected_and_the_twin_keeps_serving() -> None:
    harness, _ = twin_harness(sensor())

    harness.deliver(from_cloud("update", "membership", {"added_devices": "not a list"}))
    harness.deliver(from_cloud("update", "membership", "{not json"))
    harness.deliver(bus_message("$hw/events/device/sensor-1/twin/get", {"event_id": "g"}))

    assert [topic for topic, _ in published(harness)] == ["$hw/events/device/sensor-1/twin/get/result"]


def test_a_rejected_cloud_message_is_logged_with_its_result_code(caplog: pytest.LogCaptureFixture) -> None:
    harness, _ = twin_harness(sensor())
    bad = from_cloud("update", "membership", "{not json")

    with caplog.at_level(logging.WARNING):
        harness.deliver(bad)

    [warning] = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]
    assert warning.startswith(f"twin: rejected {bad.id} (update membership from {bad.source}) (400): ")


# --- delivery to the cloud ------------------------------------------------------------------------


def edge_update(harness: object, value: str) -> None:
    harness.deliver(
        bus_message("$hw/events/device/sensor-1/twin/update", {"event_id": value, "twin": {"temp": {"actual": {"value": value}}}})
    )  # type: ignore[attr-defined]


def test_changes_made_while_the_cloud_is_away_go_out_in_order_after_it_connects() -> None:
    harness, _store = twin_harness(sensor())
    for value in ("1", "2", "3"):
        edge_update(harness, value)

    harness.deliver(hub_says(harness.router, True, Group.TWIN))

    sent = to_cloud(harness)
    edge_updates = [m.content["twin"]["temp"]["actual"]["value"] for m in sent if m.resource.endswith("edge_updated")]
    assert edge_updates == ["1", "2", "3"]
    assert sent[-1].resource == "membership/detail"


def test_the_membership_detail_request_is_the_original_string_content() -> None:
    harness, _ = twin_harness()

    harness.deliver(hub_says(harness.router, True, Group.TWIN))

    [request] = to_cloud(harness)
    assert (request.source, request.group, request.operation) == ("twin", "resource", "get")
    content = json.loads(request.content)
    assert content == {
        "event_type": "group_membership_event",
        "event_id": "123",
        "group_id": NODE,
        "operation": "detail",
        "timestamp": content["timestamp"],
    }


def test_a_cloud_reply_to_a_delivered_message_is_taken_quietly(caplog: pytest.LogCaptureFixture) -> None:
    harness, _ = twin_harness(sensor())
    harness.deliver(hub_says(harness.router, True, Group.TWIN))
    to_cloud(harness)
    edge_update(harness, "7")
    [sent] = [m for m in to_cloud(harness) if m.resource.endswith("edge_updated")]
    published(harness)  # the update's own result, document and delta

    harness.deliver(from_cloud("response", sent.resource, "OK", parent_id=sent.id))

    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert to_cloud(harness) == [] and published(harness) == []


def test_a_delivered_message_is_sent_once_and_deleted_from_the_store() -> None:
    harness, store = twin_harness(sensor())
    harness.deliver(hub_says(harness.router, True, Group.TWIN))
    to_cloud(harness)

    edge_update(harness, "7")
    first = [m for m in to_cloud(harness) if m.resource.endswith("edge_updated")]
    harness.advance(5)
    harness.deliver(hub_says(harness.router, False, Group.TWIN))
    harness.deliver(hub_says(harness.router, True, Group.TWIN))

    resent = [m for m in to_cloud(harness) if m.resource.endswith("edge_updated")]
    assert len(first) == 1 and resent == []
    assert [r.message.resource for r in store.outbox] == ["membership/detail"]


def test_the_clouds_ok_to_a_delivered_message_is_taken_without_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    harness, _ = twin_harness(sensor())
    harness.deliver(hub_says(harness.router, True, Group.TWIN))
    edge_update(harness, "7")
    [delivered] = [m for m in to_cloud(harness) if m.resource.endswith("edge_updated")]
    published(harness)

    with caplog.at_level(logging.WARNING):
        harness.deliver(from_cloud("response", delivered.resource, "OK", parent_id=delivered.id))

    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert published(harness) == [] and to_cloud(harness) == []


def test_an_unanswered_detail_request_is_resent_with_back_off_then_given_up() -> None:
    harness, store = twin_harness(resend_initial_s=10, resend_max_s=40, resend_limit=3)
    harness.deliver(hub_says(harness.router, True, Group.TWIN))

    handed = to_cloud(harness)
    for _ in range(30):
        harness.advance(10)
        handed += to_cloud(harness)  # each resend, written by the hub

    sent = [m for m in handed if m.resource == "membership/detail"]
    assert len(sent) == 3 and len({m.id for m in sent}) == 1  # the same message, resent
    assert harness.actor.outbox.stats.given_up == 1
    assert store.outbox == []


def test_a_reply_with_the_request_id_stops_the_resends() -> None:
    harness, store = twin_harness(resend_initial_s=10)
    harness.deliver(hub_says(harness.router, True, Group.TWIN))
    [request] = to_cloud(harness)

    harness.deliver(from_cloud("update", "membership/detail", {"event_id": "x", "devices": []}, parent_id=request.id))
    for _ in range(10):
        harness.advance(60)

    assert to_cloud(harness) == []
    assert store.outbox == []


def test_messages_kept_in_the_store_are_sent_after_a_restart_and_connect() -> None:
    kept = Message.new(source="twin", group="resource", operation="update", resource="device/sensor-1/state", content="{}")
    harness, _store = twin_harness(sensor(), store=FakeTwinStore({"sensor-1": sensor()}, [OutboxRecord(kept, False)]))

    harness.deliver(hub_says(harness.router, True, Group.TWIN))

    assert next(m.id for m in to_cloud(harness)) == kept.id


def test_a_hub_that_refuses_is_retried_later_without_reordering() -> None:
    harness, _store = twin_harness(sensor())
    refusing = {"on": True}
    sent: list[Message] = []

    def send(module: str, message: Message) -> bool:
        if module != "websocket":
            return True
        if refusing["on"]:
            return False
        sent.append(message)
        return True

    harness.router.send = send  # type: ignore[method-assign]
    harness.deliver(hub_says(harness.router, True, Group.TWIN))
    edge_update(harness, "1")
    refusing["on"] = False
    harness.advance(2)

    assert [m.resource for m in sent] == ["membership/detail", "device/sensor-1/twin/edge_updated"]


def test_a_reply_confirming_a_report_is_taken_without_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    harness, _store = twin_harness(sensor())
    harness.deliver(hub_says(harness.router, True, Group.TWIN))
    to_cloud(harness)
    edge_update(harness, "1")
    [report] = [m for m in to_cloud(harness) if m.resource.endswith("edge_updated")]

    harness.deliver(report.reply("OK").with_route(source="devicecontroller", group="twin"))

    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert harness.actor.outbox.keep_until_confirmed


def test_once_the_cloud_confirms_reports_an_unconfirmed_one_is_resent_after_a_link_loss() -> None:
    harness, store = twin_harness(sensor())
    harness.deliver(hub_says(harness.router, True, Group.TWIN))
    to_cloud(harness)
    edge_update(harness, "1")
    [first] = [m for m in to_cloud(harness) if m.resource.endswith("edge_updated")]
    harness.deliver(first.reply("OK").with_route(source="devicecontroller", group="twin"))
    edge_update(harness, "2")
    edge_update(harness, "3")
    sent = [m for m in to_cloud(harness) if m.resource.endswith("edge_updated")]
    harness.deliver(sent[0].reply("OK").with_route(source="devicecontroller", group="twin"))

    harness.deliver(hub_says(harness.router, False, Group.TWIN))
    harness.deliver(hub_says(harness.router, True, Group.TWIN))

    resent = [m for m in to_cloud(harness) if m.resource.endswith("edge_updated")]
    assert [m.id for m in resent] == [sent[1].id]  # the unconfirmed "3", with its id: the cloud sees a resend
    assert [r.message.id for r in store.outbox if r.message.resource.endswith("edge_updated")] == [sent[1].id]


def test_a_cloud_that_never_confirms_reports_gets_each_once() -> None:
    harness, _store = twin_harness(sensor())
    harness.deliver(hub_says(harness.router, True, Group.TWIN))
    to_cloud(harness)
    edge_update(harness, "1")
    to_cloud(harness)

    harness.deliver(hub_says(harness.router, False, Group.TWIN))
    harness.deliver(hub_says(harness.router, True, Group.TWIN))

    assert [m for m in to_cloud(harness) if m.resource.endswith("edge_updated")] == []
    assert not harness.actor.outbox.keep_until_confirmed


def test_the_figures_show_the_devices_and_the_backlog_waiting_for_the_cloud() -> None:
    harness, _store = twin_harness(sensor())
    for value in ("1", "2"):
        edge_update(harness, value)
    away = harness.actor.module_metrics()

    harness.deliver(hub_says(harness.router, True, Group.TWIN))
    to_cloud(harness)  # the hub wrote them
    back = harness.actor.module_metrics()

    assert (away["devices"], away["device_twins"], away["outbox_depth"], away["outbox_sent_total"]) == (1, 1, 2, 0)
    assert (back["outbox_depth"], back["outbox_sent_total"]) == (1, 3)  # the membership-detail request awaits its answer
