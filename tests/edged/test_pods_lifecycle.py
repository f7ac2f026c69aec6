"""Tier 1: pods become containers; restart policy, back-off, updates, deletes, adoption."""

from __future__ import annotations

import logging

import pytest

from actors.edged.model import CONTAINER_HASH_LABEL, NODE_ID_LABEL, POD_UID_LABEL, RESTART_COUNT_LABEL
from tests.edged.builders import make_pod
from tests.edged.conftest import Edge


def test_a_pod_inserted_by_meta_runs_and_its_status_reaches_running(edge: Edge) -> None:
    edge.start()

    edge.deliver("insert", make_pod())

    [container] = edge.runtime.running()
    assert edge.status()["phase"] == "Running"
    assert edge.container_state() == {"running": {"startedAt": edge.status()["containerStatuses"][0]["state"]["running"]["startedAt"]}}
    assert edge.status()["containerStatuses"][0]["containerID"] == f"docker://{container.id}"


def test_the_status_goes_to_meta_as_an_update_with_capitalised_keys(edge: Edge) -> None:
    edge.start()
    pod = make_pod()

    edge.deliver("insert", pod)

    update = edge.sent_to_meta("/podstatus/web")[-1]
    assert (update.operation, update.resource, update.source, update.group) == ("update", "default/podstatus/web", "edged", "meta")
    assert set(update.content) == {"UID", "Name", "Status"}
    assert update.content["UID"] == pod["metadata"]["uid"]


def test_containers_are_named_and_labelled_as_kubernetes_does(edge: Edge) -> None:
    edge.start()
    pod = make_pod(uid="u-1")

    edge.deliver("insert", pod)

    [container] = edge.runtime.running()
    assert container.name == "k8s_main_web_default_u-1_0"
    assert container.labels[POD_UID_LABEL] == "u-1"
    assert container.labels[RESTART_COUNT_LABEL] == "0"
    assert container.labels[NODE_ID_LABEL] == "node-a"
    assert container.labels["io.kubernetes.container.terminationMessagePath"] == "/dev/termination-log"


def test_an_unchanged_status_is_not_sent_again(edge: Edge) -> None:
    edge.start()
    edge.deliver("insert", make_pod())
    sent = len(edge.statuses())

    edge.advance(60)

    assert len(edge.statuses()) == sent


@pytest.mark.parametrize(
    ("policy", "exit_code", "restarted", "phase"),
    [
        ("Always", 0, True, "Running"),
        ("Always", 1, True, "Running"),
        ("OnFailure", 1, True, "Running"),
        ("OnFailure", 0, False, "Succeeded"),
        ("Never", 0, False, "Succeeded"),
        ("Never", 1, False, "Failed"),
    ],
    ids=[
        "always-after-success",
        "always-after-failure",
        "onfailure-after-failure",
        "onfailure-after-success",
        "never-success",
        "never-failure",
    ],
)
def test_an_exited_container_is_restarted_as_the_restart_policy_says(
    edge: Edge, policy: str, exit_code: int, restarted: bool, phase: str
) -> None:
    edge.start()
    edge.deliver("insert", make_pod(restart_policy=policy))
    [first] = edge.runtime.running()

    edge.runtime.exit(first.id, exit_code)
    edge.harness.run_pending()

    assert bool(edge.runtime.running()) == restarted
    assert edge.status()["phase"] == phase
    if restarted:
        assert edge.runtime.running()[0].labels[RESTART_COUNT_LABEL] == "1"
        assert edge.status()["containerStatuses"][0]["restartCount"] == 1
        assert edge.status()["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] == exit_code


def test_a_crash_looping_container_waits_with_the_kubelet_back_off(edge: Edge) -> None:
    edge.start()
    edge.deliver("insert", make_pod())
    edge.exit_running(1)  # first crash: restarted at once

    edge.exit_running(1)  # second crash: 10 s back-off

    assert edge.runtime.running() == []
    assert edge.waiting_reason() == "CrashLoopBackOff"
    assert "back-off 10s" in edge.container_state()["waiting"]["message"]
    edge.advance(9)
    assert edge.runtime.running() == []
    edge.advance(1.5)
    assert [c.restart_count for c in edge.runtime.running()] == [2]


def test_the_back_off_doubles_with_each_crash_up_to_the_cap(edge: Edge) -> None:
    edge.start()
    edge.deliver("insert", make_pod())
    waits = []
    for _ in range(8):
        edge.exit_running(1)
        waited = 0
        while not edge.runtime.running():
            edge.advance(1)
            waited += 1
        waits.append(waited)

    assert waits == [0, 10, 20, 40, 80, 160, 300, 300]


def test_a_container_that_ran_ten_minutes_restarts_without_back_off(edge: Edge) -> None:
    edge.start()
    edge.deliver("insert", make_pod())
    for _ in range(3):
        edge.exit_running(1)
        while not edge.runtime.running():
            edge.advance(1)

    edge.advance(601)
    edge.exit_running(1)

    assert len(edge.runtime.running()) == 1


def test_a_changed_container_spec_recreates_the_container(edge: Edge) -> None:
    edge.start()
    pod = make_pod()
    edge.deliver("insert", pod)
    [old] = edge.runtime.running()

    pod["spec"]["containers"][0]["command"] = ["sleep", "7200"]
    edge.deliver("update", pod)

    [new] = edge.runtime.running()
    assert new.id != old.id
    assert new.labels[CONTAINER_HASH_LABEL] != old.labels[CONTAINER_HASH_LABEL]
    assert edge.runtime.configs[new.id].entrypoint == ("sleep", "7200")


def test_an_update_with_an_unchanged_spec_leaves_the_container_alone(edge: Edge) -> None:
    edge.start()
    pod = make_pod()
    edge.deliver("insert", pod)
    [before] = edge.runtime.running()

    pod["metadata"]["labels"] = {"tier": "front"}
    edge.deliver("update", pod)

    assert edge.runtime.running() == [before]


def test_the_same_pod_sent_again_on_a_reconnect_is_not_logged_as_news(edge: Edge, caplog: pytest.LogCaptureFixture) -> None:
    edge.start()
    pod = make_pod()
    edge.deliver("insert", pod)

    with caplog.at_level(logging.INFO, logger="actors.edged"):
        caplog.clear()  # what the insert logged, when the logging set up before lets INFO through
        edge.deliver("update", pod)
        pod["metadata"]["labels"] = {"tier": "front"}
        edge.deliver("update", pod)

    # Only the pod's lines: edged's start-up lines (its first relist runs on a worker) may land here too.
    about_the_pod = [r.getMessage().split(" (")[0] for r in caplog.records if "default/web" in r.getMessage()]
    assert about_the_pod == ["edged: pod default/web updated"]


def test_a_deleted_pod_is_stopped_with_its_grace_period_and_removed(edge: Edge) -> None:
    edge.start()
    pod = make_pod(grace_s=7)
    edge.deliver("insert", pod)
    [container] = edge.runtime.running()

    edge.deliver("delete", pod)

    assert edge.runtime.containers == {}
    assert edge.runtime.stops == [(container.id, 7.0)]
    assert not (edge.root / "pods" / pod["metadata"]["uid"]).exists()


def test_a_pod_with_a_deletion_timestamp_is_stopped_and_reported_terminated(edge: Edge) -> None:
    edge.start()
    pod = make_pod()
    edge.deliver("insert", pod)

    pod["metadata"]["deletionTimestamp"] = "2026-11-27T14:00:00Z"
    edge.deliver("update", pod)

    assert edge.runtime.running() == []
    assert "terminated" in edge.container_state()


def test_running_containers_are_adopted_after_a_restart_never_duplicated(edge: Edge) -> None:
    pod = make_pod()
    edge.start()
    edge.deliver("insert", pod)
    [container] = edge.runtime.running()
    creates = [c for c in edge.runtime.calls if c.startswith("create")]
    second = edge.restarted()

    second.start(pod)

    assert edge.runtime.running() == [container]
    assert [c for c in edge.runtime.calls if c.startswith("create")] == creates
    assert second.status()["phase"] == "Running"


def test_containers_of_pods_meta_no_longer_has_are_removed_at_start(edge: Edge) -> None:
    edge.start()
    edge.deliver("insert", make_pod(name="gone"))
    second = edge.restarted()

    second.start(make_pod(name="kept"))

    assert [c.labels["io.kubernetes.pod.name"] for c in edge.runtime.containers.values()] == ["kept"]


def test_nothing_is_removed_before_meta_has_answered_the_pod_query(edge: Edge) -> None:
    edge.start()
    edge.deliver("insert", make_pod(name="survivor"))
    second = edge.restarted()

    second.harness.start()
    second.runtime.open_events()
    second.harness.run_pending()

    assert len(edge.runtime.running()) == 1


def test_a_second_container_of_a_pod_starts_beside_the_first(edge: Edge) -> None:
    edge.start()
    containers = [
        {"name": "a", "image": "kubeedge-actors/busybox:test", "command": ["sleep", "1"]},
        {"name": "b", "image": "kubeedge-actors/busybox:test", "command": ["sleep", "2"]},
    ]

    edge.deliver("insert", make_pod(containers=containers))

    assert sorted(c.container_name for c in edge.runtime.running()) == ["a", "b"]
    assert [s["name"] for s in edge.status()["containerStatuses"]] == ["a", "b"]


def test_a_late_delete_of_an_earlier_pod_of_the_same_name_leaves_the_new_one_running(edge: Edge) -> None:
    edge.start()
    old, new = make_pod(uid="u-old"), make_pod(uid="u-new")
    edge.deliver("insert", old)
    edge.deliver("insert", new)

    edge.deliver("delete", old)

    assert [c.pod_uid for c in edge.runtime.running()] == ["u-new"]


def test_a_container_that_cannot_start_is_retried_with_back_off(edge: Edge) -> None:
    edge.runtime.fail_start = 'exec: "/no/such/program": stat /no/such/program: no such file or directory'
    edge.start()

    edge.deliver("insert", make_pod())

    assert edge.waiting_reason() == "RunContainerError"
    attempts = len([c for c in edge.runtime.calls if c.startswith("start")])
    edge.advance(5)
    assert len([c for c in edge.runtime.calls if c.startswith("start")]) == attempts
    assert edge.waiting_reason() == "CrashLoopBackOff"
    edge.advance(6)
    assert len([c for c in edge.runtime.calls if c.startswith("start")]) == attempts + 1


def test_the_figures_count_pods_by_phase_containers_by_state_and_why_they_wait(edge: Edge) -> None:
    edge.start()
    edge.deliver("insert", make_pod("web"))
    edge.deliver("insert", make_pod("job", restart_policy="Never"))
    edge.deliver("insert", make_pod("crashy"))
    job = next(c for c in edge.runtime.running() if "_job_" in c.name)
    edge.runtime.exit(job.id, 0)
    edge.harness.run_pending()
    for _ in range(2):  # the second crash waits in back-off
        crashy = next(c for c in edge.runtime.running() if "_crashy_" in c.name)
        edge.runtime.exit(crashy.id, 1)
        edge.harness.run_pending()

    figures = edge.actor.module_metrics()

    assert (figures['pods{phase="Running"}'], figures['pods{phase="Succeeded"}'], figures['pods{phase="Failed"}']) == (2, 1, 0)
    assert (figures['containers{state="running"}'], figures['containers{state="exited"}']) == (1, 3)
    assert figures['containers_waiting{reason="CrashLoopBackOff"}'] == 1
    assert (figures["docker_connected"], figures["pod_syncs_running"], figures["pods_terminating"]) == (1, 0, 0)
