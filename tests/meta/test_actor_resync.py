"""Tier 1: meta's word on the cloud connection (the hub's) and the pod-status resync (docs/protocol.md#3.9, docs/protocol.md#6.4), fixed."""

from __future__ import annotations

import json

import pytest

from actors.protocol import Module
from kubeedge_actors.testing import make_message
from tests.meta.fakes import FakeMetaStore
from tests.meta.helpers import fake_store, meta_harness, pod, pod_status, stored
from tests.protocol.connection import hub_says

ROWS = {
    "default/pod/web": ("pod", stored(pod("web"))),
    "default/pod/db": ("pod", stored(pod("db"))),
    "other/pod/cache": ("pod", stored(pod("cache", "other"))),
    "default/podstatus/web": ("podstatus", stored(pod_status("web"))),
    "default/podstatus/db": ("podstatus", stored(pod_status("db"))),
    "other/podstatus/cache": ("podstatus", stored(pod_status("cache"))),
}


@pytest.mark.parametrize("edgesite", [True, False], ids=["edge-site-starts-connected", "otherwise-disconnected"])
def test_until_the_hub_speaks_the_cloud_is_connected_as_metamanager_edgesite_says(edgesite: bool) -> None:
    harness = meta_harness(connected=edgesite)

    assert harness.actor.connected is edgesite


@pytest.mark.parametrize(
    ("events", "connected"),
    [([False], False), ([False, True], True), ([True, True], True), ([False, False], False)],
    ids=["disconnect", "disconnect-then-connect", "connect-twice", "disconnect-twice"],
)
def test_meta_follows_the_hubs_connection_changes(events: list[bool], connected: bool) -> None:
    harness = meta_harness(connected=True)

    for event in events:
        harness.deliver(hub_says(harness.router, event))

    assert harness.actor.connected is connected


def test_each_tick_sends_one_update_per_namespace_holding_that_namespaces_statuses() -> None:
    harness = meta_harness(FakeMetaStore(ROWS), connected=True, interval_s=60)

    harness.advance(60)

    updates = harness.router.take("send", Module.HUB)
    assert [(u.resource, u.operation, u.source, u.group) for u in updates] == [
        ("default/podstatus", "update", Module.META, "resource"),
        ("other/podstatus", "update", Module.META, "resource"),
    ]
    assert updates[0].content == [pod_status("db"), pod_status("web")]
    assert updates[1].content == [pod_status("cache")]
    json.dumps(updates[0].content)  # an array of objects, as the wire carries it


def test_statuses_of_pods_that_no_longer_exist_are_deleted_and_not_sent() -> None:
    rows = {**ROWS, "default/podstatus/gone": ("podstatus", stored(pod_status("gone")))}
    harness = meta_harness(FakeMetaStore(rows), connected=True)

    harness.advance(60)

    assert "default/podstatus/gone" not in fake_store(harness).rows
    sent = [status["Name"] for update in harness.router.take("send", Module.HUB) for status in update.content]
    assert "gone" not in sent


def test_while_disconnected_a_tick_prunes_but_sends_nothing() -> None:
    rows = {**ROWS, "default/podstatus/gone": ("podstatus", stored(pod_status("gone")))}
    harness = meta_harness(FakeMetaStore(rows), connected=False)

    harness.advance(60)

    assert "default/podstatus/gone" not in fake_store(harness).rows
    assert harness.router.sent == []


def test_reconnecting_sends_the_stored_statuses_at_once() -> None:
    harness = meta_harness(FakeMetaStore(ROWS), connected=False)

    harness.deliver(hub_says(harness.router, True))

    assert [u.resource for u in harness.router.take("send", Module.HUB)] == ["default/podstatus", "other/podstatus"]


def test_without_pod_statuses_a_tick_sends_nothing() -> None:
    harness = meta_harness(connected=True)

    harness.advance(60)

    assert harness.router.sent == []


def test_the_tick_follows_meta_sync_podstatus_interval() -> None:
    harness = meta_harness(FakeMetaStore(ROWS), connected=True, interval_s=5)

    harness.advance(15)

    assert len(harness.router.take("send", Module.HUB)) == 3 * 2


def test_a_meta_internal_sync_message_resyncs_at_once() -> None:
    harness = meta_harness(FakeMetaStore(ROWS), connected=True)

    harness.deliver(make_message("meta-internal-sync", "podstatus", source=Module.META, group="resource"))

    assert len(harness.router.take("send", Module.HUB)) == 2


def test_a_stored_status_that_is_not_json_is_skipped_and_the_rest_sent() -> None:
    rows = {**ROWS, "default/podstatus/web": ("podstatus", "{not json")}
    harness = meta_harness(FakeMetaStore(rows), connected=True)

    harness.advance(60)

    default, _other = harness.router.take("send", Module.HUB)
    assert default.content == [pod_status("db")]
    assert fake_store(harness).value_of("default/podstatus/web") == "{not json"
