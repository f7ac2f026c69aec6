"""Tier 1: bad input gets a warning and an error reply, changes nothing, and meta keeps serving."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from actors.meta.content import MAX_VALUE_BYTES
from actors.protocol import Module
from actors.testing import cloud_message, edged_message
from kubeedge_actors.testing import make_message
from tests.meta.fakes import FakeMetaStore
from tests.meta.helpers import fake_store, meta_harness, pod, stored
from tests.protocol.connection import hub_says

STORED = {"default/pod/web": ("pod", stored(pod("web")))}

BAD_MESSAGES = [
    (make_message("update", "node/edge-1/default/pod/web", pod("web"), sync=True), "malformed edge resource"),
    (make_message("update", "web", pod("web"), sync=True), "malformed edge resource"),
    (make_message("update", "default//web", pod("web"), sync=True), "malformed edge resource"),
    (make_message("query", "default/pod/web/extra", sync=True), "malformed edge resource"),
    (make_message("insert", "default/pod", pod("web"), sync=True), "needs <namespace>/<type>/<name>"),
    (make_message("delete", "default/pod", sync=True), "needs <namespace>/<type>/<name>"),
    (make_message("update", "default/pod/web", None, sync=True), "content is empty"),
    (make_message("update", "default/pod/web", b"\xff\xfe", sync=True), "content bytes are not UTF-8"),
    (make_message("update", "default/pod/web", b"{not json", sync=True), "content bytes are not JSON"),
    (make_message("update", "default/pod/web", {"cpu": float("nan")}, sync=True), "cannot be stored as JSON"),
    (make_message("update", "default/pod/web", {"name": "\ud800"}, sync=True), "not valid Unicode"),
    (make_message("update", "default/pod/web", "x" * (MAX_VALUE_BYTES + 1), sync=True), "larger than the limit"),
    (make_message("upsert", "default/pod/web", pod("web"), sync=True), "unknown operation 'upsert'"),
    (make_message("action", "default/pod/web", pod("web"), sync=True), "unknown operation 'action'"),
    (make_message("publish", "node/elsewhere", "cloud_connected", sync=True), "cannot publish on 'node/elsewhere'"),
    (make_message("publish", "node/connection", "maybe", sync=True), "must be 'cloud_connected' or 'cloud_disconnected'"),
]
BAD_IDS = [
    "cloud-form-resource",
    "one-part-resource",
    "empty-part",
    "four-part-query",
    "insert-without-name",
    "delete-without-name",
    "no-content",
    "bytes-not-utf8",
    "bytes-not-json",
    "nan",
    "lone-surrogate",
    "huge",
    "unknown-operation",
    "edge-function-operation",
    "publish-elsewhere",
    "bad-connection-event",
]


@pytest.mark.parametrize(("message", "reason"), BAD_MESSAGES, ids=BAD_IDS)
def test_a_bad_sync_request_gets_an_error_reply_naming_what_was_wrong(message: Any, reason: str) -> None:
    harness = meta_harness(FakeMetaStore(STORED))

    harness.deliver(message)

    [reply] = harness.router.take("resp")
    assert (reply.operation, reply.parent_id, reply.source) == ("error", message.id, Module.META)
    assert reason in reply.content
    assert harness.router.sent == []


@pytest.mark.parametrize(("message", "reason"), BAD_MESSAGES, ids=BAD_IDS)
def test_bad_input_changes_nothing_stored_and_meta_keeps_serving(message: Any, reason: str) -> None:
    harness = meta_harness(FakeMetaStore(STORED), connected=True)

    harness.deliver(message)
    harness.deliver(edged_message("query", "default/pod/web", sync=True))

    assert fake_store(harness).rows == STORED
    assert not fake_store(harness).in_batch
    assert harness.router.take("resp")[-1].content == [stored(pod("web"))]
    assert harness.actor.connected is True


def test_bad_input_that_is_not_sync_is_only_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    harness = meta_harness()
    bad = cloud_message("insert", "default/pod", pod("web"))

    with caplog.at_level(logging.WARNING):
        harness.deliver(bad)

    assert harness.router.sent == []
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith(f"metaManager: rejected {bad.id} (insert default/pod from controller)")


def test_a_bad_write_between_good_ones_leaves_them_in_their_batch() -> None:
    harness = meta_harness()
    good = [cloud_message("insert", f"default/pod/p{i}", pod(f"p{i}")) for i in range(2)]

    harness.actor.on_receive(good[0])
    harness.actor.on_receive(cloud_message("insert", "default/pod/bad", b"\xff"))
    harness.actor.on_receive(good[1])
    harness.run_pending()

    assert sorted(fake_store(harness).rows) == ["default/pod/p0", "default/pod/p1"]
    assert fake_store(harness).commits == 1


def test_secret_contents_never_reach_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    harness = meta_harness(connected=True)
    secret = {"kind": "Secret", "data": {"password": "aHVudGVyMg-TOP-SECRET"}}

    with caplog.at_level(logging.DEBUG):
        harness.deliver(cloud_message("update", "default/secret/db", secret))
        harness.deliver(cloud_message("update", "default/secret", secret))
        harness.deliver(cloud_message("update", "default/secret/db", {**secret, "bad": float("inf")}))
        harness.deliver(edged_message("query", "default/secret/db", sync=True))
        harness.deliver(edged_message("query", "default/secret/other", sync=True))
        [remote] = harness.router.take("sync")
        harness.router.reply_to(remote, remote.error_reply(f"cannot read {secret}"))
        harness.run_pending()
        harness.deliver(hub_says(harness.router, False))

    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert logged
    assert "TOP-SECRET" not in logged
