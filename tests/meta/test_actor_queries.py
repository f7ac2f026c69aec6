"""Tier 1: queries answered from SQLite or the cloud (docs/protocol.md#6.3, the contract in docs/architecture.md#4.3), with a fake store."""

from __future__ import annotations

import pytest

from actors.protocol import Module, cloud_away_reply
from actors.testing import edged_message
from kubeedge_actors import DeadLetterError, SyncTimeoutError
from kubeedge_actors.testing import ActorHarness, make_message
from tests.meta.fakes import FakeMetaStore
from tests.meta.helpers import configmap, fake_store, meta_harness, pod, stored
from tests.protocol.connection import hub_says

PODS = {
    "default/pod/web": ("pod", stored(pod("web"))),
    "default/pod/db": ("pod", stored(pod("db"))),
    "other/pod/cache": ("pod", stored(pod("cache", "other"))),
    "default/configmap/cfg": ("configmap", stored(configmap("cfg"))),
}


def ask(harness: ActorHarness, resource: str) -> list[str]:
    harness.deliver(edged_message("query", resource, sync=True))
    [answer] = harness.router.take("resp")
    assert answer.operation == "response"
    return answer.content  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        ("default/pod/web", [stored(pod("web"))]),
        ("default/pod/nope", []),
        ("default/pod", [stored(pod("db")), stored(pod("web")), stored(pod("cache", "other"))]),
        ("default/secret", []),
    ],
    ids=["by-key", "missing-key-is-empty", "by-type-across-namespaces", "empty-type-is-empty"],
)
def test_a_query_is_answered_from_the_store_as_an_array_of_json_strings(resource: str, expected: list[str]) -> None:
    harness = meta_harness(FakeMetaStore(PODS))

    answer = ask(harness, resource)

    assert answer == expected  # by type: ordered by key


def test_the_answer_names_meta_as_source_and_the_request_as_parent() -> None:
    harness = meta_harness(FakeMetaStore(PODS))
    query = edged_message("query", "default/pod/web", sync=True)

    harness.deliver(query)

    [answer] = harness.router.take("resp")
    assert (answer.source, answer.group, answer.resource, answer.parent_id) == (Module.META, "meta", "default/pod/web", query.id)


@pytest.mark.parametrize(
    ("source", "destination"), [("edged", Module.EDGED), ("controller", Module.HUB)], ids=["from-edged", "from-the-cloud"]
)
def test_a_query_that_is_not_sync_is_answered_to_edged_or_else_to_the_cloud(source: str, destination: str) -> None:
    harness = meta_harness(FakeMetaStore(PODS))
    query = make_message("query", "default/pod/web", source=source, group="meta")

    harness.deliver(query)

    [answer] = harness.router.take("send", destination)
    assert (answer.parent_id, answer.content) == (query.id, [stored(pod("web"))])


# --- remote queries -------------------------------------------------------------------------


def test_a_missing_configmap_is_asked_of_the_cloud_with_a_copy_under_a_new_id() -> None:
    harness = meta_harness(connected=True)
    query = edged_message("query", "default/configmap/cfg", sync=True)

    harness.deliver(query)

    [remote] = harness.router.take("sync", Module.HUB)
    assert remote.id != query.id
    assert remote.route == query.route
    assert remote.is_sync
    assert harness.router.sent == []


@pytest.mark.parametrize("kind", ["configmap", "secret"])
def test_the_clouds_answer_is_stored_and_returned_in_the_shape_of_a_local_answer(kind: str) -> None:
    harness = meta_harness(connected=True)
    query = edged_message("query", f"default/{kind}/cfg", sync=True)
    harness.deliver(query)
    [remote] = harness.router.take("sync", Module.HUB)
    cloud_reply = make_message(
        "response", f"default/{kind}/cfg", configmap("cfg"), source="controller", group="resource", parent_id=remote.id
    )

    harness.router.reply_to(remote, cloud_reply)
    harness.run_pending()

    [answer] = harness.router.take("resp")
    assert (answer.operation, answer.parent_id, answer.content) == ("response", query.id, [stored(configmap("cfg"))])
    assert fake_store(harness).rows[f"default/{kind}/cfg"] == (kind, stored(configmap("cfg")))


def test_a_stored_configmap_is_answered_locally_while_connected() -> None:
    harness = meta_harness(FakeMetaStore(PODS), connected=True)

    answer = ask(harness, "default/configmap/cfg")

    assert answer == [stored(configmap("cfg"))]
    assert harness.router.take("sync") == []


@pytest.mark.parametrize(
    ("connected", "resource"),
    [(False, "default/configmap/cfg"), (True, "default/pod/web"), (True, "default/configmap")],
    ids=["disconnected", "pods-are-never-remote", "no-name"],
)
def test_no_remote_query_is_made_and_the_answer_is_local(connected: bool, resource: str) -> None:
    harness = meta_harness(connected=connected)

    answer = ask(harness, resource)

    assert answer == []
    assert harness.router.take("sync") == []


def test_the_hubs_disconnect_turns_remote_queries_off_and_its_connect_on() -> None:
    harness = meta_harness(connected=True)

    harness.deliver(hub_says(harness.router, False))
    ask(harness, "default/configmap/cfg")
    harness.deliver(hub_says(harness.router, True))
    harness.deliver(edged_message("query", "default/configmap/cfg", sync=True))

    assert len(harness.router.take("sync", Module.HUB)) == 1


@pytest.mark.parametrize(
    "error", [SyncTimeoutError("no reply"), DeadLetterError("no hub")], ids=["the-cloud-never-answers", "no-hub-is-running"]
)
def test_without_an_answer_from_the_cloud_the_requester_gets_what_sqlite_has(error: Exception) -> None:
    harness = meta_harness(connected=True)
    query = edged_message("query", "default/secret/token", sync=True)
    harness.deliver(query)
    [remote] = harness.router.take("sync", Module.HUB)

    harness.router.fail(remote, error)
    harness.run_pending()

    [answer] = harness.router.take("resp")
    assert (answer.operation, answer.parent_id, answer.content) == ("response", query.id, [])


def test_a_question_the_hub_takes_after_the_cloud_went_away_is_answered_from_sqlite_at_once() -> None:
    harness = meta_harness(FakeMetaStore(PODS), connected=True)
    query = edged_message("query", "default/configmap/other", sync=True)
    harness.deliver(query)
    [remote] = harness.router.take("sync", Module.HUB)

    harness.router.reply_to(remote, cloud_away_reply(remote))  # what the hub answers while the cloud is away
    harness.run_pending()

    [answer] = harness.router.take("resp")
    assert (answer.operation, answer.parent_id, answer.content) == ("response", query.id, [])
    assert harness.actor.module_metrics()["remote_queries_unanswered_total"] == 1


def test_a_push_that_arrives_while_the_cloud_is_asked_is_what_the_timeout_answers() -> None:
    harness = meta_harness(connected=True)
    harness.deliver(edged_message("query", "default/configmap/cfg", sync=True))
    [remote] = harness.router.take("sync", Module.HUB)
    harness.deliver(make_message("insert", "default/configmap/cfg", configmap("cfg"), source="controller", group="resource"))
    harness.router.sent.clear()

    harness.router.fail(remote, SyncTimeoutError("no reply"))
    harness.run_pending()

    [answer] = harness.router.take("resp")
    assert answer.content == [stored(configmap("cfg"))]


def test_an_error_from_the_cloud_is_passed_to_the_requester_and_nothing_is_stored() -> None:
    harness = meta_harness(connected=True)
    query = edged_message("query", "default/configmap/cfg", sync=True)
    harness.deliver(query)
    [remote] = harness.router.take("sync", Module.HUB)

    harness.router.reply_to(remote, remote.error_reply("forbidden"))
    harness.run_pending()

    [answer] = harness.router.take("resp")
    assert (answer.operation, answer.parent_id) == ("error", query.id)
    assert "forbidden" in answer.content
    assert fake_store(harness).rows == {}


def test_an_answer_from_the_cloud_that_cannot_be_stored_is_an_error_for_the_requester() -> None:
    harness = meta_harness(connected=True)
    query = edged_message("query", "default/configmap/cfg", sync=True)
    harness.deliver(query)
    [remote] = harness.router.take("sync", Module.HUB)

    harness.router.reply_to(remote, b"\xff not json")
    harness.run_pending()

    [answer] = harness.router.take("resp")
    assert (answer.operation, answer.parent_id) == ("error", query.id)
    assert "not UTF-8" in answer.content
    assert fake_store(harness).rows == {}


def test_queries_for_a_key_the_cloud_is_already_asked_for_wait_for_the_same_answer() -> None:
    harness = meta_harness(connected=True)
    first = edged_message("query", "default/configmap/cfg", sync=True)
    second = edged_message("query", "default/configmap/cfg", sync=True)
    harness.deliver(first)
    harness.deliver(second)
    [remote] = harness.router.take("sync", Module.HUB)

    harness.router.reply_to(remote, configmap("cfg"))
    harness.run_pending()

    answers = harness.router.take("resp")
    assert [a.parent_id for a in answers] == [first.id, second.id]
    assert all(a.content == [stored(configmap("cfg"))] for a in answers)


def test_the_remote_query_waits_one_heartbeat_unless_told_otherwise() -> None:
    harness = meta_harness()

    assert harness.actor.settings.remote_query_timeout_s == 15.0
    assert meta_harness(remote_query_timeout_s=2.5).actor.settings.remote_query_timeout_s == 2.5


# --- metrics --------------------------------------------------------------------------------


def test_the_figures_show_rows_per_type_and_the_questions_put_to_the_cloud() -> None:
    harness = meta_harness(FakeMetaStore(PODS), connected=True)
    harness.deliver(edged_message("query", "default/secret/token", sync=True))
    [remote] = harness.router.take("sync", Module.HUB)
    waiting = harness.actor.module_metrics()["remote_queries_waiting"]

    harness.router.fail(remote, SyncTimeoutError("no reply"))
    harness.run_pending()
    harness.deliver(make_message("insert", "default/pod/new", pod("new"), source="controller", group="resource"))
    figures = harness.actor.module_metrics()

    assert (figures['rows{type="pod"}'], figures['rows{type="configmap"}']) == (4, 1)
    assert (figures["remote_queries_total"], figures["remote_queries_unanswered_total"], waiting) == (1, 1, 1)
    assert (figures["remote_queries_waiting"], figures["writes_total"], figures["commits_total"]) == (0, 1, 1)
