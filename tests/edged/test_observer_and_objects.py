"""Tier 1: what edged asks of Docker (a started container inspected once) and of meta (the
objects a job reads, asked before the job starts: no worker waits on meta)."""

from __future__ import annotations

from actors.edged.model import ContainerInfo
from kubeedge_actors.errors import SyncTimeoutError
from tests.edged.builders import make_configmap, make_pod
from tests.edged.conftest import BUSYBOX, Edge

CONFIG_VOLUME = [{"name": "conf", "configMap": {"name": "app-config"}}]
CONFIG_MOUNT = [{"name": "conf", "mountPath": "/etc/app"}]


def only_container(edge: Edge) -> ContainerInfo:
    [container] = edge.runtime.containers.values()
    return container


# --- Docker: one inspection per started container ----------------------------------------------


def test_a_started_container_is_inspected_once_although_docker_reports_its_create_and_start(edge: Edge) -> None:
    edge.start()

    edge.deliver("insert", make_pod())

    container = only_container(edge)
    assert container.is_running
    assert edge.runtime.inspections(container.id) == 1
    assert edge.status()["phase"] == "Running"


def test_create_and_start_events_that_arrive_after_the_jobs_result_are_not_inspected_either(edge: Edge) -> None:
    edge.runtime.emits_events = False
    edge.start()
    edge.deliver("insert", make_pod())
    container = only_container(edge)

    edge.runtime.emit(container.id, "create")
    edge.runtime.emit(container.id, "start")
    edge.harness.run_pending()

    assert edge.runtime.inspections(container.id) == 1


def test_a_container_that_dies_after_its_start_is_inspected_and_restarted(edge: Edge) -> None:
    edge.start()
    edge.deliver("insert", make_pod())
    first = only_container(edge)

    edge.exit_running(1)

    assert edge.runtime.inspections(first.id) == 2
    assert [c.restart_count for c in edge.runtime.running()] == [1]


def test_a_start_edged_did_not_make_is_inspected(edge: Edge) -> None:
    edge.runtime.emits_events = False
    edge.start()
    edge.deliver("insert", make_pod(restart_policy="Never"))
    container = only_container(edge)
    edge.runtime.emit(container.id, "create")
    edge.runtime.emit(container.id, "start")
    edge.runtime.exit(container.id, 0)
    edge.harness.run_pending()
    assert edge.status()["phase"] == "Succeeded"

    edge.runtime.start_container(container.id)  # someone ran `docker start` on it
    edge.runtime.emit(container.id, "start")
    edge.harness.run_pending()

    assert edge.runtime.inspections(container.id) == 3
    assert edge.status()["phase"] == "Running"


def test_a_start_that_fails_leaves_no_expected_event_behind(edge: Edge) -> None:
    edge.runtime.fail_start = "exec format error"
    edge.start()
    edge.deliver("insert", make_pod())
    container = only_container(edge)

    edge.runtime.emit(container.id, "start")  # not the job's: its start failed
    edge.harness.run_pending()

    assert edge.runtime.inspections(container.id) == 2


# --- meta: the objects come before the job ---------------------------------------------------


def test_the_job_starts_only_once_meta_has_answered_for_the_pods_configmap(edge: Edge) -> None:
    edge.router.answering = False
    edge.start()
    pod = make_pod(volumes=CONFIG_VOLUME, volumeMounts=CONFIG_MOUNT)
    edge.deliver("insert", pod)
    [query] = edge.object_queries()
    assert query.resource == "default/configmap/app-config"
    assert not [c for c in edge.runtime.calls if c.startswith("create")]
    assert edge.actor.module_metrics()["pod_syncs_running"] == 1

    edge.router.reply_to(query, [make_configmap("app-config", {"app.conf": "v1"})])
    edge.harness.run_pending()

    assert len(edge.runtime.running()) == 1
    assert (edge.root / "pods" / pod["metadata"]["uid"] / "volumes/kubernetes.io~configmap/conf/app.conf").read_text() == "v1"
    assert edge.actor.module_metrics()["pod_syncs_running"] == 0


def test_an_object_meta_cannot_give_in_time_keeps_the_pod_creating_and_says_why(edge: Edge) -> None:
    edge.router.answering = False
    edge.start()
    edge.deliver("insert", make_pod(volumes=CONFIG_VOLUME, volumeMounts=CONFIG_MOUNT))
    [query] = edge.object_queries()

    edge.router.fail(query, SyncTimeoutError("no reply within 60 s"))
    edge.harness.run_pending()

    assert edge.runtime.containers == {}
    assert edge.waiting_reason() == "ContainerCreating"
    assert "cannot read configmap default/app-config from meta: no reply within 60 s" in edge.container_state()["waiting"]["message"]


def test_an_object_that_changes_while_meta_answers_is_asked_again(edge: Edge) -> None:
    edge.router.answering = False
    edge.start()
    pod = make_pod(volumes=CONFIG_VOLUME, volumeMounts=CONFIG_MOUNT)
    edge.deliver("insert", pod)
    [before] = edge.object_queries()
    changed = make_configmap("app-config", {"app.conf": "v2"})

    edge.deliver("update", changed, kind="configmap")
    edge.router.reply_to(before, [make_configmap("app-config", {"app.conf": "v1"})])  # answered before the change
    edge.harness.run_pending()
    [again] = edge.object_queries()[1:]
    edge.router.reply_to(again, [changed])
    edge.harness.run_pending()

    assert (edge.root / "pods" / pod["metadata"]["uid"] / "volumes/kubernetes.io~configmap/conf/app.conf").read_text() == "v2"
    assert len(edge.runtime.running()) == 1


def test_image_pull_secrets_are_asked_of_meta_only_when_an_image_must_be_pulled(edge: Edge) -> None:
    edge.start()
    pod = make_pod(image=BUSYBOX)
    pod["spec"]["imagePullSecrets"] = [{"name": "regcred"}]

    edge.deliver("insert", pod)

    assert len(edge.runtime.running()) == 1
    assert edge.object_queries() == []


def test_a_pull_that_needs_the_secrets_asks_for_them_and_then_pulls_once(edge: Edge) -> None:
    image = "registry.local:5000/app:1.0"
    edge.runtime.registry[image] = None
    edge.router.answering = False
    edge.start()
    pod = make_pod(image=image)
    pod["spec"]["imagePullSecrets"] = [{"name": "regcred"}, {"name": "other"}]

    edge.deliver("insert", pod)
    queries = edge.object_queries()
    assert sorted(q.resource for q in queries) == ["default/secret/other", "default/secret/regcred"]
    assert edge.runtime.pulls == []
    for query in queries:
        edge.router.reply_to(query, [])
    edge.harness.run_pending()

    assert [p[0] for p in edge.runtime.pulls] == [image]
    assert len(edge.runtime.running()) == 1
