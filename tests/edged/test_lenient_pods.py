"""Tier 1: the actor runs what the original runs (a pod with a name only, a container name
ending in '-'), uses the derived uid everywhere, and adopts those containers after a restart."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from actors.edged.identity import derived_uid
from actors.edged.model import CONTAINER_NAME_LABEL, POD_NAMESPACE_LABEL, POD_UID_LABEL
from actors.testing import cloud_message
from tests.edged.builders import as_meta_answer, make_pod
from tests.edged.conftest import BUSYBOX, Edge


def bare_pod(name: str = "web", container: str = "main") -> dict[str, Any]:
    """A pod whose metadata has a name and nothing else, as the original runs it."""
    return {"metadata": {"name": name}, "spec": {"containers": [{"name": container, "image": BUSYBOX, "command": ["sleep", "3600"]}]}}


def send(edge: Edge, operation: str, resource: str, pod: dict[str, Any] | None) -> None:
    edge.harness.deliver(cloud_message(operation, resource, pod))


def podstatus_resources(edge: Edge) -> set[str]:
    return {m.resource for m in edge.sent_to_meta("/podstatus/")}


def start_listing_pods_before_docker_answers(edge: Edge, *pods: dict[str, Any]) -> None:
    """Start, meta's pod list first, Docker's listing after (the order can go either way)."""
    edge.harness.start()
    [query] = [s.message for s in edge.harness.router.sent if s.kind == "sync" and s.message.resource.endswith("/pod")]
    edge.harness.router.reply_to(query, as_meta_answer(*pods))
    edge.harness.run_pending()
    edge.runtime.open_events()
    edge.harness.run_pending()


def test_a_pod_with_a_name_only_runs_under_the_resources_namespace_and_a_derived_uid(edge: Edge) -> None:
    edge.start()

    send(edge, "insert", "apps/pod/web", bare_pod())

    uid = derived_uid("apps", "web")
    [container] = edge.runtime.running()
    assert container.name == f"k8s_main_web_apps_{uid}_0"
    assert (container.labels[POD_UID_LABEL], container.labels[POD_NAMESPACE_LABEL]) == (uid, "apps")
    assert (edge.root / "pods" / uid).is_dir()
    [report] = edge.sent_to_meta("apps/podstatus/web")[-1:]
    assert report.content["UID"] == uid and report.content["Status"]["phase"] == "Running"


def test_an_update_without_a_uid_is_the_same_pod_and_keeps_its_container(edge: Edge) -> None:
    edge.start()
    send(edge, "insert", "apps/pod/web", bare_pod())
    [container] = edge.runtime.running()

    send(edge, "update", "apps/pod/web", bare_pod())

    assert edge.runtime.running() == [container]


def test_a_delete_without_a_uid_removes_the_pod_with_the_derived_one(edge: Edge) -> None:
    edge.start()
    send(edge, "insert", "apps/pod/web", bare_pod())

    send(edge, "delete", "apps/pod/web", bare_pod())

    assert edge.runtime.containers == {}
    assert not (edge.root / "pods" / derived_uid("apps", "web")).exists()


def test_a_delete_naming_only_the_pod_still_finds_a_pod_the_cloud_gave_a_uid(edge: Edge) -> None:
    edge.start()
    edge.deliver("insert", make_pod(uid="cloud-uid"))

    send(edge, "delete", "default/pod/web", {"metadata": {"name": "web"}})

    assert edge.runtime.containers == {}


def test_containers_of_a_pod_with_a_name_only_are_adopted_after_a_restart(edge: Edge) -> None:
    edge.start()
    send(edge, "insert", "apps/pod/web", bare_pod())
    [container] = edge.runtime.running()
    second = edge.restarted()

    second.start(bare_pod())  # meta lists the stored pod: no resource says it was in apps

    assert edge.runtime.running() == [container]
    assert [c for c in edge.runtime.calls if c.startswith("create")] == [f"create {container.name}"]
    assert podstatus_resources(second) == {"apps/podstatus/web"}


def test_a_pod_listed_before_docker_answers_is_placed_by_its_containers_and_reported_only_there(edge: Edge) -> None:
    edge.start()
    send(edge, "insert", "apps/pod/web", bare_pod())
    [container] = edge.runtime.running()
    second = edge.restarted()

    start_listing_pods_before_docker_answers(second, bare_pod())

    assert edge.runtime.running() == [container]
    assert podstatus_resources(second) == {"apps/podstatus/web"}
    assert second.status()["phase"] == "Running"


def test_a_listed_pod_nothing_places_runs_in_default_until_its_message_places_it(edge: Edge) -> None:
    edge.start(bare_pod())
    [assumed] = edge.runtime.running()
    assert assumed.labels[POD_NAMESPACE_LABEL] == "default"

    send(edge, "update", "apps/pod/web", bare_pod())  # the cloud sends it again, with its resource

    [placed] = edge.runtime.running()
    assert placed.labels[POD_NAMESPACE_LABEL] == "apps" and placed.id != assumed.id


def test_a_listed_pod_is_not_added_beside_the_same_pod_its_message_placed(edge: Edge) -> None:
    edge.harness.start()
    edge.runtime.open_events()
    edge.harness.run_pending()
    send(edge, "insert", "apps/pod/web", bare_pod())  # the cloud's message beats meta's answer
    [query] = [s.message for s in edge.harness.router.sent if s.kind == "sync" and s.message.resource.endswith("/pod")]

    edge.harness.router.reply_to(query, as_meta_answer(bare_pod()))
    edge.harness.run_pending()

    [container] = edge.runtime.running()
    assert container.labels[POD_NAMESPACE_LABEL] == "apps"


def test_a_delete_of_a_listed_pod_nothing_placed_removes_it(edge: Edge) -> None:
    edge.start(bare_pod())

    send(edge, "delete", "apps/pod/web", None)

    assert edge.runtime.containers == {}


def test_a_container_name_ending_in_a_dash_runs(edge: Edge) -> None:
    edge.start()

    edge.deliver("insert", make_pod(uid="u-1", containers=[{"name": "main-", "image": BUSYBOX, "command": ["sleep", "60"]}]))

    [container] = edge.runtime.running()
    assert container.name == "k8s_main-_web_default_u-1_0" and container.labels[CONTAINER_NAME_LABEL] == "main-"
    assert edge.status()["containerStatuses"][0]["name"] == "main-"


def test_a_container_docker_cannot_name_waits_with_the_field_named_while_the_others_run(edge: Edge) -> None:
    edge.start()
    containers = [{"name": "main", "image": BUSYBOX, "command": ["sleep", "60"]}, {"name": "side car", "image": BUSYBOX}]

    edge.deliver("insert", make_pod(uid="u-1", containers=containers))

    [running] = edge.runtime.running()
    assert running.labels[CONTAINER_NAME_LABEL] == "main"
    waiting = edge.status()["containerStatuses"][1]
    assert waiting["name"] == "side car"
    assert waiting["state"]["waiting"]["reason"] == "CreateContainerConfigError"
    assert "spec.containers[1].name" in waiting["state"]["waiting"]["message"]


def test_a_pod_name_docker_cannot_take_is_stored_and_reported_with_the_field_named(edge: Edge) -> None:
    edge.start()

    edge.deliver("insert", make_pod("web app", uid="u-1"))

    assert edge.runtime.containers == {}
    state = edge.container_state("web app")["waiting"]
    assert state["reason"] == "CreateContainerConfigError" and state["message"].startswith("metadata.name: 'web app'")


def test_what_edged_reads_differently_is_logged_once_as_a_warning(edge: Edge, caplog: pytest.LogCaptureFixture) -> None:
    edge.start()
    pod = make_pod(uid="u-1", restart_policy="Sometimes")

    with caplog.at_level(logging.WARNING, logger="actors.edged.actor"):
        edge.deliver("insert", pod)
        edge.deliver("update", pod)  # sent again unchanged: no news

    notes = [r.getMessage() for r in caplog.records if "restartPolicy" in r.getMessage()]
    assert len(notes) == 1 and "'Sometimes' is not one of Always, OnFailure, Never; Always is used" in notes[0]
    assert len(edge.runtime.running()) == 1
