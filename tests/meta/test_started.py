"""Tier 2: a started meta actor on a real SQLite file, probes in place of edged and the hub."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from actors.keys import edge_defaults
from actors.meta import MetaActor
from actors.meta.store import MetaStore
from actors.protocol import Group, Module, cloud_connection_view
from actors.testing import cloud_message, edged_message
from kubeedge_actors import Message, Router
from kubeedge_actors.testing import Probe, start_probe, wait_until
from tests.meta.helpers import configmap, pod, pod_status, stored
from tests.meta.locks import HeldLock
from tests.protocol.connection import hub_says

CloudAnswer = Callable[[Message], Any]


class Site:
    """A router with meta started on ``db_path`` and probes for edged and the hub."""

    def __init__(
        self,
        db_path: Path,
        *,
        connected: bool,
        cloud: CloudAnswer | None,
        interval_s: float,
        timeout_s: float,
        router: Router | None = None,
    ) -> None:
        self.db_path = db_path
        self.router = router or Router()
        self.edged: Probe = start_probe(self.router, Module.EDGED, Group.EDGED)
        self.hub: Probe = start_probe(self.router, Module.HUB, Group.HUB, auto_reply=cloud)
        config = edge_defaults().with_values(
            {"database.source": str(db_path), "metamanager.edgesite": connected, "meta.sync.podstatus.interval": interval_s}
        )
        self.meta = MetaActor.start(self.router, config, remote_query_timeout_s=timeout_s)
        self.router.register(Module.META, Group.META, self.meta)

    def ask(self, message: Message, timeout_s: float = 5.0) -> Message:
        future: Future[Message] = self.router.send_sync(Module.META, message, timeout_s)
        return future.result(timeout=timeout_s + 1)

    def rows(self) -> dict[str, str]:
        with sqlite3.connect(self.db_path) as other:
            return dict(other.execute("SELECT key, value FROM meta"))

    def close(self) -> None:
        if self.meta.is_alive():
            self.meta.stop()
            self.router.close()


@pytest.fixture
def make_site(tmp_path: Path) -> Iterator[Callable[..., Site]]:
    sites: list[Site] = []

    def make(
        *,
        connected: bool = True,
        cloud: CloudAnswer | None = None,
        interval_s: float = 60.0,
        timeout_s: float = 5.0,
        router: Router | None = None,
    ) -> Site:
        site = Site(tmp_path / "edge.db", connected=connected, cloud=cloud, interval_s=interval_s, timeout_s=timeout_s, router=router)
        sites.append(site)
        return site

    yield make
    for site in sites:
        site.close()


def a_cloud_that_has(objects: dict[str, Any]) -> CloudAnswer:
    """The hub's auto_reply: answers a query with the object, anything else with "OK"."""
    return lambda request: objects[request.resource] if request.operation == "query" else "OK"


def test_a_meta_started_while_the_hub_is_connected_knows_it_at_once_and_asks_nothing(make_site: Callable[..., Site]) -> None:
    router = Router()
    cloud_connection_view(router).publish(True)  # as a hub that connected before meta (re)started

    site = make_site(connected=False, cloud=a_cloud_that_has({"default/configmap/cfg": configmap("cfg")}), router=router)

    assert site.ask(edged_message("query", "default/configmap/cfg")).content == [stored(configmap("cfg"))]
    assert [(m.operation, m.resource) for m in site.hub.messages] == [("query", "default/configmap/cfg")]


def test_the_hubs_connect_makes_meta_ask_the_cloud_again(make_site: Callable[..., Site]) -> None:
    site = make_site(connected=False, cloud=a_cloud_that_has({"default/configmap/cfg": configmap("cfg")}))

    site.router.send(Module.META, hub_says(site.router, True))

    assert site.ask(edged_message("query", "default/configmap/cfg")).content == [stored(configmap("cfg"))]
    assert site.hub.wait_for(lambda m: m.resource == "default/configmap/cfg").operation == "query"


def test_a_cloud_insert_is_in_the_file_forwarded_to_edged_and_acknowledged(make_site: Callable[..., Site]) -> None:
    site = make_site()
    push = cloud_message("insert", "default/pod/web", pod("web"))

    site.router.send_to_group(Group.META, push)

    assert site.edged.wait_for(lambda m: m.id == push.id) == push
    ack = site.hub.wait_for(lambda m: m.parent_id == push.id)
    assert (ack.operation, ack.content) == ("response", "OK")
    assert site.rows() == {"default/pod/web": stored(pod("web"))}


def test_edged_at_start_gets_every_pod_the_cloud_pushed(make_site: Callable[..., Site]) -> None:
    site = make_site()
    for name, namespace in [("web", "default"), ("cache", "other")]:
        site.router.send(Module.META, cloud_message("insert", f"{namespace}/pod/{name}", pod(name, namespace)))

    answer = site.ask(edged_message("query", "default/pod"))

    assert answer.operation == "response"
    assert answer.content == [stored(pod("web")), stored(pod("cache", "other"))]


def test_a_status_update_from_edged_is_answered_ok_and_reaches_the_cloud(make_site: Callable[..., Site]) -> None:
    site = make_site(cloud=a_cloud_that_has({}))
    update = edged_message("update", "default/podstatus/web", pod_status("web"))

    answer = site.ask(update)

    assert (answer.operation, answer.content) == ("response", "OK")
    assert site.hub.wait_for(lambda m: m.operation == "update").resource == "default/podstatus/web"
    assert site.rows()["default/podstatus/web"] == stored(pod_status("web"))


def test_a_configmap_missing_locally_is_fetched_from_the_cloud_and_kept(make_site: Callable[..., Site]) -> None:
    site = make_site(cloud=a_cloud_that_has({"default/configmap/cfg": configmap("cfg")}))
    query = edged_message("query", "default/configmap/cfg")

    answer = site.ask(query)

    assert (answer.operation, answer.parent_id, answer.content) == ("response", query.id, [stored(configmap("cfg"))])
    remote = site.hub.wait_for(lambda m: m.operation == "query")
    assert remote.id != query.id
    assert site.rows() == {"default/configmap/cfg": stored(configmap("cfg"))}


def test_a_fetched_configmap_is_answered_from_the_file_the_next_time(make_site: Callable[..., Site]) -> None:
    site = make_site(cloud=a_cloud_that_has({"default/configmap/cfg": configmap("cfg")}))
    site.ask(edged_message("query", "default/configmap/cfg"))

    answer = site.ask(edged_message("query", "default/configmap/cfg"))

    assert answer.content == [stored(configmap("cfg"))]
    assert len([m for m in site.hub.messages if m.operation == "query"]) == 1


def test_when_the_cloud_stays_silent_the_answer_is_empty_after_the_timeout(make_site: Callable[..., Site]) -> None:
    site = make_site(cloud=None, timeout_s=0.2)

    answer = site.ask(edged_message("query", "default/secret/token"))

    assert (answer.operation, answer.content) == ("response", [])
    assert site.hub.wait_for(lambda m: m.operation == "query").resource == "default/secret/token"


def test_while_disconnected_queries_are_answered_from_the_file_only(make_site: Callable[..., Site]) -> None:
    site = make_site(cloud=a_cloud_that_has({"default/configmap/cfg": configmap("cfg")}))
    site.router.send_to_group(Group.META, hub_says(site.router, False))

    answer = site.ask(edged_message("query", "default/configmap/cfg"))

    assert answer.content == []
    assert [m for m in site.hub.messages if m.operation == "query"] == []


def test_a_bad_request_gets_an_error_and_meta_keeps_serving(make_site: Callable[..., Site]) -> None:
    site = make_site()
    site.router.send(Module.META, cloud_message("insert", "default/pod/web", pod("web")))

    error = site.ask(edged_message("update", "default/pod/web", b"\xff"))
    answer = site.ask(edged_message("query", "default/pod/web"))

    assert (error.operation, error.content) == ("error", "content bytes are not UTF-8")
    assert answer.content == [stored(pod("web"))]


def test_statuses_are_resynced_to_the_cloud_per_namespace(make_site: Callable[..., Site]) -> None:
    site = make_site(cloud=a_cloud_that_has({}), interval_s=0.05)
    for name, namespace in [("web", "default"), ("cache", "other")]:
        site.router.send(Module.META, cloud_message("insert", f"{namespace}/pod/{name}", pod(name, namespace)))
        site.ask(edged_message("update", f"{namespace}/podstatus/{name}", pod_status(name)))

    other = site.hub.wait_for(lambda m: m.resource == "other/podstatus")
    default = site.hub.wait_for(lambda m: m.resource == "default/podstatus")

    assert (other.content, default.content) == ([pod_status("cache")], [pod_status("web")])


def test_a_burst_of_writes_is_all_in_the_file_once_acknowledged(make_site: Callable[..., Site]) -> None:
    site = make_site()
    pushes = [cloud_message("insert", f"default/pod/p{i}", pod(f"p{i}")) for i in range(300)]

    for push in pushes:
        site.router.send(Module.META, push)
    site.hub.wait_for_count(300)

    assert len(site.rows()) == 300
    assert [m.parent_id for m in site.hub.messages] == [p.id for p in pushes]


def test_a_restarted_meta_serves_what_the_previous_one_stored(make_site: Callable[..., Site]) -> None:
    first = make_site()
    first.router.send(Module.META, cloud_message("insert", "default/pod/web", pod("web")))
    first.hub.wait_for_count(1)
    first.close()

    second = make_site(connected=False)
    answer = second.ask(edged_message("query", "default/pod"))

    assert answer.content == [stored(pod("web"))]


def test_with_journal_mode_delete_a_reader_holding_the_file_delays_the_acks_and_loses_none(tmp_path: Path) -> None:
    db_path = tmp_path / "edge.db"
    router = Router()
    start_probe(router, Module.EDGED, Group.EDGED)
    hub = start_probe(router, Module.HUB, Group.HUB)
    config = edge_defaults().with_values({"database.source": str(db_path), "database.journal-mode": "delete"})
    store = MetaStore(db_path, "delete", busy_timeout_ms=20)  # SQLite gives up soon: meta's own wait is tested
    router.register(Module.META, Group.META, MetaActor.start(router, config, store=store))
    router.send_sync(Module.META, edged_message("query", "default/pod")).result(5)  # meta has started: its table is made
    reader = HeldLock(db_path, read="SELECT COUNT(*) FROM meta")  # as the original's tools read

    for index in range(20):
        router.send(Module.META, cloud_message("insert", f"default/pod/p{index}", pod(f"p{index}")))
    wait_until(lambda: store.busy.refusals >= 3, what="meta's commit refused while the reader reads")
    acks_while_held = [m for m in hub.messages if m.content == "OK"]
    reader.release()

    acks = hub.wait_for_count(20)
    assert acks_while_held == []
    assert sorted(m.resource for m in acks) == sorted(f"default/pod/p{index}" for index in range(20))
    with contextlib.closing(sqlite3.connect(db_path)) as other:
        assert other.execute("SELECT COUNT(*) FROM meta").fetchone() == (20,)
    router.close()
