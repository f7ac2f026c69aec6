"""Tier 1: a large membership applied slice by slice, each slice after the bus took the last one
(docs/architecture.md#4.4, docs/protocol.md#5.6)."""

from __future__ import annotations

from typing import Any

from actors.protocol import PUBLISH_QUEUE_RESOURCE, Module
from actors.twin.actor import TIDY_DELAY_S, TwinActor
from actors.twin.model import Device
from kubeedge_actors import Message
from kubeedge_actors.router import SyncTimeoutError
from kubeedge_actors.testing import ActorHarness
from tests.protocol.connection import hub_says
from tests.twin.fakes import FakeTwinStore
from tests.twin.helpers import NODE, bus_message, from_cloud, handed_to_hub, payloads_on, twin_harness


def members(*ids: str) -> list[dict[str, Any]]:
    return [
        {"id": device_id, "name": device_id, "twin": {"temp": {"expected": {"value": "20"}, "expected_version": {"cloud": 1, "edge": 0}}}}
        for device_id in ids
    ]


def queue_queries(harness: ActorHarness[TwinActor]) -> list[Message]:
    return harness.router.take("sync", Module.BUS)


def bus_took(harness: ActorHarness[TwinActor]) -> None:
    """The bus answers the one publish-queue query the twin waits on."""
    [query] = queue_queries(harness)
    assert (query.operation, query.resource) == ("query", PUBLISH_QUEUE_RESOURCE)
    harness.router.reply_to(query, {"waiting": 0})
    harness.run_pending()


def committed_devices(store: Any) -> list[list[str]]:
    return [[device.id for device in batch.devices] for batch in store.batches if batch.devices]


def test_a_membership_larger_than_a_slice_is_committed_slice_by_slice_each_after_the_bus_took_the_last() -> None:
    harness, store = twin_harness(membership_slice=2)

    harness.deliver(from_cloud("update", "membership", {"added_devices": members("a", "b", "c", "d", "e")}))

    assert committed_devices(store) == [["a", "b"]]
    assert [u["added_devices"][0]["id"] for u in payloads_on(harness, "/membership/updated")] == ["a", "b"]
    bus_took(harness)
    assert committed_devices(store) == [["a", "b"], ["c", "d"]]
    bus_took(harness)
    assert committed_devices(store) == [["a", "b"], ["c", "d"], ["e"]]
    assert queue_queries(harness) == []  # the last slice waits for nothing
    assert sorted(harness.actor.twins.devices) == ["a", "b", "c", "d", "e"]
    assert harness.actor.membership is None


def test_a_membership_within_one_slice_is_one_transaction_without_asking_the_bus() -> None:
    harness, store = twin_harness(membership_slice=5)

    harness.deliver(from_cloud("update", "membership", {"added_devices": members("a", "b", "c", "d", "e")}))

    assert committed_devices(store) == [["a", "b", "c", "d", "e"]]
    assert queue_queries(harness) == []


def test_a_device_twin_update_between_two_slices_is_answered_before_the_next_slice() -> None:
    harness, store = twin_harness(membership_slice=2)
    harness.deliver(from_cloud("update", "membership", {"added_devices": members("a", "b", "c")}))
    payloads_on(harness, "")  # what the first slice published

    harness.deliver(bus_message("$hw/events/device/a/twin/update", {"event_id": "u1", "twin": {"temp": {"actual": {"value": "21"}}}}))

    [result] = payloads_on(harness, "/twin/update/result")
    assert result["event_id"] == "u1" and "code" not in result
    assert committed_devices(store) == [["a", "b"]]  # the membership's rest still waits for the bus
    bus_took(harness)
    assert committed_devices(store) == [["a", "b"], ["c"]]


def test_cloud_and_node_messages_during_a_membership_wait_until_its_last_slice_is_committed() -> None:
    harness, store = twin_harness(membership_slice=2)
    harness.deliver(from_cloud("update", "membership", {"added_devices": members("a", "b", "c")}))

    update = {"event_id": "x", "twin": {"temp": {"expected": {"value": "30"}, "expected_version": {"cloud": 2, "edge": 0}}}}
    harness.deliver(from_cloud("update", "device/c/twin/cloud_updated", update))
    harness.deliver(bus_message(f"$hw/events/node/{NODE}/membership/get", {"event_id": "g"}))

    assert payloads_on(harness, "/membership/get/result") == []
    bus_took(harness)
    assert harness.actor.twins.devices["c"].twins["temp"].expected.value == "30"  # type: ignore[union-attr]
    [listing] = payloads_on(harness, "/membership/get/result")
    assert [device["id"] for device in listing["devices"]] == ["a", "b", "c"]
    assert len(committed_devices(store)) == 2


def test_a_second_membership_during_the_first_starts_after_it_and_keeps_the_order() -> None:
    harness, store = twin_harness(membership_slice=2)
    harness.deliver(from_cloud("update", "membership", {"added_devices": members("a", "b", "c")}))

    harness.deliver(from_cloud("update", "membership", {"added_devices": members("d", "e", "f"), "removed_devices": [{"id": "c"}]}))
    bus_took(harness)
    bus_took(harness)

    assert committed_devices(store) == [["a", "b"], ["c"], ["d", "e"], ["f"]]
    assert store.batches[-1].removed_devices == ["c"]  # a slice takes adds, then removals
    assert sorted(harness.actor.twins.devices) == ["a", "b", "d", "e", "f"]


def test_a_membership_detail_removes_the_unlisted_members_in_slices_and_confirms_its_request_only_when_all_is_committed() -> None:
    harness, store = twin_harness(*[Device(device_id, name=device_id) for device_id in ("x", "y", "z")], membership_slice=2)
    harness.deliver(hub_says(harness.router, connected=True))
    assert [m.resource for m in handed_to_hub(harness)] == ["membership/detail"]

    harness.deliver(from_cloud("update", "membership/detail", {"devices": members("a", "b")}))
    bus_took(harness)
    harness.advance(TIDY_DELAY_S)
    assert waiting_requests(store) == ["membership/detail"]  # two slices committed, one to go
    bus_took(harness)
    harness.advance(TIDY_DELAY_S)

    assert [batch.removed_devices for batch in store.batches if batch.removed_devices] == [["x", "y"], ["z"]]
    assert sorted(harness.actor.twins.devices) == ["a", "b"]
    assert waiting_requests(store) == []


def waiting_requests(store: FakeTwinStore) -> list[str]:
    return [record.message.resource for record in store.outbox]


def test_the_next_slice_goes_when_the_bus_does_not_answer() -> None:
    harness, store = twin_harness(membership_slice=1)
    harness.deliver(from_cloud("update", "membership", {"added_devices": members("a", "b")}))

    [query] = queue_queries(harness)
    harness.router.fail(query, SyncTimeoutError("no reply from 'eventbus'"))
    harness.run_pending()

    assert committed_devices(store) == [["a"], ["b"]]
