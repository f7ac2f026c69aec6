"""Tier 1: meta's writes (docs/protocol.md#6.2) and how they are batched, with a fake store."""

from __future__ import annotations

from typing import Any

import pytest

from actors.protocol import Group, Module, Operation
from actors.testing import cloud_message, edged_message
from kubeedge_actors.testing import make_message
from tests.meta.fakes import FakeMetaStore
from tests.meta.helpers import fake_store, meta_harness, pod, pod_status, stored

# --- the cloud's pushes ---------------------------------------------------------------------


@pytest.mark.parametrize("operation", ["insert", "update", "delete"])
def test_a_cloud_push_is_forwarded_unchanged_to_edged_and_acknowledged_to_the_cloud(operation: str) -> None:
    harness = meta_harness(FakeMetaStore({"default/pod/web": ("pod", stored(pod("web")))}))
    push = cloud_message(operation, "default/pod/web", pod("web", labels={"v": "2"}))

    harness.deliver(push)

    assert harness.router.take("send", Module.EDGED) == [push]
    [ack] = harness.router.take("send", Module.HUB)
    assert (ack.operation, ack.content, ack.parent_id) == ("response", "OK", push.id)
    assert (ack.source, ack.group, ack.resource) == ("controller", "resource", "default/pod/web")
    assert harness.router.sent == []


def test_a_cloud_insert_is_stored_as_json_with_sorted_keys() -> None:
    harness = meta_harness()

    harness.deliver(cloud_message("insert", "default/pod/web", pod("web")))

    assert fake_store(harness).rows["default/pod/web"] == ("pod", stored(pod("web")))
    assert fake_store(harness).value_of("default/pod/web").startswith('{"apiVersion":"v1","kind":"Pod","metadata":')  # type: ignore[union-attr]


def test_an_insert_never_overwrites_a_stored_row() -> None:
    harness = meta_harness(FakeMetaStore({"default/pod/web": ("pod", stored(pod("web")))}))

    harness.deliver(cloud_message("insert", "default/pod/web", pod("web", labels={"v": "2"})))

    assert fake_store(harness).value_of("default/pod/web") == stored(pod("web"))


def test_an_update_replaces_the_stored_row() -> None:
    harness = meta_harness(FakeMetaStore({"default/pod/web": ("pod", stored(pod("web")))}))

    harness.deliver(cloud_message("update", "default/pod/web", pod("web", labels={"v": "2"})))

    assert fake_store(harness).value_of("default/pod/web") == stored(pod("web", labels={"v": "2"}))


def test_a_delete_removes_the_row_by_its_key() -> None:
    rows = {"default/pod/web": ("pod", "{}"), "default/pod/db": ("pod", "{}")}
    harness = meta_harness(FakeMetaStore(rows))

    harness.deliver(cloud_message("delete", "default/pod/web", pod("web")))

    assert set(fake_store(harness).rows) == {"default/pod/db"}


def test_a_sync_message_meant_for_edged_is_answered_through_send_resp() -> None:
    harness = meta_harness()
    push = cloud_message("insert", "default/pod/web", pod("web")).with_header(sync=True)

    harness.deliver(push)

    assert harness.router.take("resp") == [push]
    assert harness.router.take("send", Module.EDGED) == []


# --- updates by source (docs/protocol.md#6.2) -----------------------------------------------


def test_a_status_update_from_edged_is_answered_ok_then_forwarded_unchanged_to_the_cloud() -> None:
    harness = meta_harness()
    update = edged_message("update", "default/podstatus/web", pod_status("web"), sync=True)

    harness.deliver(update)

    ok, forwarded = harness.router.sent
    assert (ok.kind, ok.message.operation, ok.message.content, ok.message.parent_id) == ("resp", "response", "OK", update.id)
    assert (forwarded.kind, forwarded.destination, forwarded.message) == ("send", Module.HUB, update)
    assert forwarded.message.is_sync
    assert fake_store(harness).rows["default/podstatus/web"] == ("podstatus", stored(pod_status("web")))


def test_a_node_status_update_from_edged_is_stored_under_its_key_and_forwarded() -> None:
    harness = meta_harness()
    status = {"UID": "38796d14", "Status": {"phase": "Running"}, "ExtendResources": None}
    update = edged_message("update", "default/nodestatus/edge-1", status, sync=True)

    harness.deliver(update)

    assert fake_store(harness).rows["default/nodestatus/edge-1"] == ("nodestatus", stored(status))
    assert harness.router.take("send", Module.HUB) == [update]


def test_an_update_from_edged_that_is_not_sync_gets_its_ok_in_edged_mailbox() -> None:
    harness = meta_harness()
    update = edged_message("update", "default/podstatus/web", pod_status("web"))

    harness.deliver(update)

    [ok] = harness.router.take("send", Module.EDGED)
    assert (ok.content, ok.parent_id) == ("OK", update.id)


def test_an_update_from_another_source_is_stored_only() -> None:
    harness = meta_harness()

    harness.deliver(make_message("update", "default/pod/web", pod("web"), source="funcmgr"))

    assert fake_store(harness).value_of("default/pod/web") == stored(pod("web"))
    assert harness.router.sent == []


def test_an_unchanged_pod_status_is_answered_ok_and_not_forwarded_again() -> None:
    harness = meta_harness()
    harness.deliver(edged_message("update", "default/podstatus/web", pod_status("web"), sync=True))
    harness.router.sent.clear()
    again = edged_message("update", "default/podstatus/web", pod_status("web"), sync=True)

    harness.deliver(again)

    [ok] = harness.router.take("resp")
    assert (ok.content, ok.parent_id) == ("OK", again.id)
    assert harness.router.sent == []


def test_a_changed_pod_status_is_forwarded_again() -> None:
    harness = meta_harness()
    harness.deliver(edged_message("update", "default/podstatus/web", pod_status("web", "Pending"), sync=True))
    harness.router.sent.clear()

    harness.deliver(edged_message("update", "default/podstatus/web", pod_status("web", "Running"), sync=True))

    assert len(harness.router.take("send", Module.HUB)) == 1


@pytest.mark.parametrize(
    ("source", "destination"),
    [("controller", Module.EDGED), ("edged", Module.HUB)],
    ids=["from-the-cloud-goes-to-edged", "from-elsewhere-goes-to-the-cloud"],
)
def test_a_response_is_stored_and_passed_on_by_its_source(source: str, destination: str) -> None:
    harness = meta_harness()
    response = make_message("response", "default/node/edge-1", "OK", source=source, group="resource")

    harness.deliver(response)

    assert fake_store(harness).rows["default/node/edge-1"] == ("node", '"OK"')
    assert harness.router.take("send", destination) == [response]
    assert harness.router.sent == []


# --- batching: nothing is acknowledged before it is committed -------------------------------


def test_nothing_is_sent_before_the_batch_holding_the_write_is_committed() -> None:
    harness = meta_harness()

    harness.actor.on_receive(cloud_message("insert", "default/pod/web", pod("web")))

    assert fake_store(harness).in_batch
    assert harness.router.sent == []


def test_every_forward_ack_and_ok_leaves_only_after_its_write_is_committed(monkeypatch: pytest.MonkeyPatch) -> None:
    harness = meta_harness()
    store = fake_store(harness)
    uncommitted_at_send: list[bool] = []
    for name in ("send", "send_resp"):
        deliver = getattr(harness.router, name)

        def watched(*args: object, deliver: Any = deliver) -> Any:
            uncommitted_at_send.append(store.in_batch)
            return deliver(*args)

        monkeypatch.setattr(harness.router, name, watched)

    harness.actor.on_receive(cloud_message("insert", "default/pod/web", pod("web")))
    harness.actor.on_receive(edged_message("update", "default/podstatus/web", pod_status("web"), sync=True))
    harness.run_pending()

    assert uncommitted_at_send == [False] * 4


def test_writes_the_mailbox_already_holds_are_committed_in_one_transaction() -> None:
    harness = meta_harness()
    pushes = [cloud_message("insert", f"default/pod/p{i}", pod(f"p{i}")) for i in range(5)]
    for push in pushes:
        harness.actor.on_receive(push)

    harness.run_pending()

    assert fake_store(harness).commits == 1
    assert [m.parent_id for m in harness.router.take("send", Module.HUB)] == [p.id for p in pushes]


def test_a_batch_is_committed_as_soon_as_it_reaches_its_size_limit() -> None:
    harness = meta_harness(max_batch_writes=3)

    for i in range(3):
        harness.actor.on_receive(cloud_message("insert", f"default/pod/p{i}", pod(f"p{i}")))

    assert fake_store(harness).commits == 1
    assert len(harness.router.take("send", Module.HUB)) == 3


def test_a_query_behind_writes_sees_them_and_is_answered_after_their_acks() -> None:
    harness = meta_harness()
    harness.actor.on_receive(cloud_message("insert", "default/pod/web", pod("web")))

    harness.actor.on_receive(edged_message("query", "default/pod", sync=True))

    kinds = [(s.kind, s.message.operation) for s in harness.router.sent]
    assert kinds == [("send", "insert"), ("send", "response"), ("resp", "response")]
    assert harness.router.sent[-1].message.content == [stored(pod("web"))]


def test_stopping_commits_the_open_batch_and_sends_what_it_produced() -> None:
    harness = meta_harness()
    harness.actor.on_receive(cloud_message("insert", "default/pod/web", pod("web")))

    harness.stop()

    assert fake_store(harness).commits == 1
    assert len(harness.router.take("send", Module.HUB)) == 1


@pytest.mark.crashes_on_purpose
def test_a_crash_in_the_middle_of_a_batch_rolls_it_back_and_acknowledges_nothing() -> None:
    store = FakeMetaStore()
    harness = meta_harness(store)
    harness.actor.on_receive(cloud_message("insert", "default/pod/a", pod("a")))
    store.fail_writes = OSError("disk gone")

    with pytest.raises(OSError):
        harness.actor.on_receive(cloud_message("insert", "default/pod/b", pod("b")))
    harness.actor.on_failure(OSError, store.fail_writes, None)  # what pykka does with the crash

    assert store.rows == {}
    assert store.rollbacks == 1
    assert harness.router.sent == []


def test_the_ack_keeps_the_source_and_group_of_the_push() -> None:
    harness = meta_harness()
    push = make_message(Operation.INSERT, "default/configmap/cfg", {"data": {}}, source="controller", group=Group.META)

    harness.deliver(push)

    [ack] = harness.router.take("send", Module.HUB)
    assert (ack.source, ack.group) == ("controller", Group.META)
