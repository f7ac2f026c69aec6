"""Tier 1: probes, init containers, hooks and pod conditions, with a fake Docker and an inline prober."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from actors.edged.model import ExecResult
from actors.edged.pods import parse_pod
from actors.edged.podspec_lifecycle import Handler, Probe
from tests.edged.builders import make_pod
from tests.edged.conftest import BUSYBOX, Edge

OK = ExecResult(0, "")
FAIL = ExecResult(1, "not yet")
CHECK = ("cat", "/tmp/healthy")


def exec_probe(**fields: Any) -> dict[str, Any]:
    return {"exec": {"command": list(CHECK)}, "periodSeconds": 1, **fields}


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == kind)


def with_init(pod: dict[str, Any], *names: str) -> dict[str, Any]:
    pod["spec"]["initContainers"] = [{"name": name, "image": BUSYBOX, "command": ["true"]} for name in names]
    return pod


# --- the spec -----------------------------------------------------------------------------------


def test_a_probe_gets_kubernetes_defaults_and_a_named_port() -> None:
    container = {
        "name": "c",
        "image": "a:1",
        "ports": [{"name": "http", "containerPort": 8080}],
        "livenessProbe": {"httpGet": {"port": "http"}},
    }

    pod = parse_pod({"metadata": {"name": "p"}, "spec": {"containers": [container]}})

    assert pod.containers[0].lifecycle.liveness == Probe(Handler("httpGet", port=8080, path="/"), 0, 10, 1, 1, 3)


@pytest.mark.parametrize(
    ("probe", "field"),
    [
        ({"httpGet": {"port": "nope"}}, "spec.containers[0].livenessProbe.httpGet.port"),
        ({"exec": {"command": ["true"]}, "periodSeconds": -1}, "spec.containers[0].livenessProbe.periodSeconds"),
        ({"exec": {}}, "spec.containers[0].livenessProbe.exec.command"),
        ({"exec": {"command": ["true"]}, "successThreshold": 2}, "spec.containers[0].livenessProbe.successThreshold"),
        ({}, "spec.containers[0].livenessProbe"),
    ],
    ids=["unknown-port-name", "negative-period", "no-command", "liveness-success-threshold", "no-handler"],
)
def test_a_bad_probe_is_the_containers_problem_naming_the_field(probe: dict[str, Any], field: str) -> None:
    pod = parse_pod({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "a:1", "livenessProbe": probe}]}})

    problem = pod.containers[0].problem
    assert problem is not None and problem.message.startswith(field)


def test_init_containers_are_read_and_share_the_names_of_the_pod() -> None:
    spec = {"initContainers": [{"name": "c", "image": "a:1"}], "containers": [{"name": "c", "image": "a:1"}]}

    pod = parse_pod({"metadata": {"name": "p"}, "spec": spec})

    assert pod.problem is not None and "unique" in pod.problem.message


# --- probes ---------------------------------------------------------------------------------------


def test_a_failing_liveness_probe_restarts_the_container_after_the_failure_threshold(edge: Edge) -> None:
    edge.runtime.exec_answers[CHECK] = OK
    edge.start()
    edge.deliver("insert", make_pod(livenessProbe=exec_probe(failureThreshold=2)))
    [first] = edge.runtime.running()
    edge.advance(1)

    edge.runtime.exec_answers[CHECK] = FAIL
    edge.advance(1)
    still = [c.id for c in edge.runtime.running()]
    edge.advance(1)

    assert still == [first.id]
    [second] = edge.runtime.running()
    assert second.id != first.id and (first.id, 1.0) in edge.runtime.stops
    assert edge.status()["containerStatuses"][0]["restartCount"] == 1


def test_the_liveness_probe_of_a_restarted_container_starts_afresh(edge: Edge) -> None:
    edge.runtime.exec_answers[CHECK] = FAIL
    edge.start()
    edge.deliver("insert", make_pod(livenessProbe=exec_probe(failureThreshold=1, initialDelaySeconds=5)))
    [first] = edge.runtime.running()

    edge.advance(5)
    [second] = edge.runtime.running()
    edge.advance(4)

    assert second.id != first.id
    assert [c.id for c in edge.runtime.running()] == [second.id]  # its initial delay again


def test_readiness_flips_the_container_and_the_pod_ready_both_ways(edge: Edge) -> None:
    edge.runtime.exec_answers[CHECK] = FAIL
    edge.start()
    edge.deliver("insert", make_pod(readinessProbe=exec_probe()))
    before = edge.status()

    edge.runtime.exec_answers[CHECK] = OK
    edge.advance(0)
    ready = edge.status()
    edge.runtime.exec_answers[CHECK] = FAIL
    for _ in range(3):  # failureThreshold 3, one run a second
        edge.advance(1)
    unready = edge.status()

    assert before["containerStatuses"][0]["ready"] is False and condition(before, "Ready")["status"] == "False"
    assert ready["containerStatuses"][0]["ready"] is True
    assert condition(ready, "Ready")["status"] == condition(ready, "ContainersReady")["status"] == "True"
    assert condition(unready, "Ready")["status"] == "False" and condition(unready, "Ready")["reason"] == "ContainersNotReady"
    assert len(edge.runtime.running()) == 1  # readiness never restarts


def test_a_readiness_probe_that_keeps_succeeding_sends_no_more_statuses(edge: Edge) -> None:
    edge.runtime.exec_answers[CHECK] = OK
    edge.start()
    edge.deliver("insert", make_pod(readinessProbe=exec_probe()))
    edge.advance(1)
    sent = len(edge.statuses())

    for _ in range(5):
        edge.advance(1)

    assert len(edge.statuses()) == sent


def test_a_startup_probe_holds_the_liveness_probe_back_until_it_succeeds(edge: Edge) -> None:
    edge.runtime.exec_answers[CHECK] = FAIL
    edge.runtime.exec_answers[("true",)] = OK
    startup = {"exec": {"command": ["true"]}, "periodSeconds": 1, "initialDelaySeconds": 3}
    edge.start()
    edge.deliver("insert", make_pod(startupProbe=startup, livenessProbe=exec_probe(failureThreshold=1)))
    waiting = edge.status()["containerStatuses"][0]

    edge.advance(2)
    checks_before = [c for _, c in edge.runtime.execs]
    edge.advance(1)
    started = edge.status()["containerStatuses"][0]

    assert (waiting["started"], waiting["ready"]) == (False, False)
    assert checks_before == []
    assert (started["started"], started["ready"]) == (True, True)


def test_a_failed_startup_probe_restarts_the_container(edge: Edge) -> None:
    edge.runtime.exec_answers[CHECK] = FAIL
    edge.start()
    edge.deliver("insert", make_pod(startupProbe=exec_probe(failureThreshold=2)))
    [first] = edge.runtime.running()

    edge.advance(0)
    edge.advance(1)

    [second] = edge.runtime.running()
    assert second.id != first.id


def test_probes_stop_when_the_pod_is_deleted(edge: Edge) -> None:
    edge.runtime.exec_answers[CHECK] = OK
    edge.start()
    pod = make_pod(livenessProbe=exec_probe())
    edge.deliver("insert", pod)
    edge.deliver("delete", pod)
    runs = len(edge.runtime.execs)

    edge.advance(5)

    assert len(edge.runtime.execs) == runs


# --- hooks ----------------------------------------------------------------------------------------


def test_the_pre_stop_hook_runs_before_the_container_is_stopped(edge: Edge) -> None:
    hook = ("sh", "-c", "echo bye")
    edge.runtime.exec_answers[hook] = OK
    edge.start()
    pod = make_pod(lifecycle={"preStop": {"exec": {"command": list(hook)}}})
    edge.deliver("insert", pod)
    [container] = edge.runtime.running()

    edge.deliver("delete", pod)

    assert edge.runtime.execs == [(container.id, hook)]
    assert edge.runtime.calls.index(f"exec {container.id}") < edge.runtime.calls.index(f"stop {container.id}")


def test_a_failed_post_start_hook_kills_the_container(edge: Edge) -> None:
    hook = ("false",)
    edge.runtime.exec_answers[hook] = FAIL
    edge.start()

    edge.deliver("insert", make_pod(restart_policy="Never", lifecycle={"postStart": {"exec": {"command": list(hook)}}}))

    assert edge.runtime.running() == []
    assert len(edge.runtime.stops) == 1


# --- init containers --------------------------------------------------------------------------------


def test_init_containers_run_one_after_the_other_before_the_app(edge: Edge) -> None:
    edge.start()
    edge.deliver("insert", with_init(make_pod(), "one", "two"))
    [one] = edge.runtime.running()
    first = edge.status()

    edge.exit_running(0)
    [two] = edge.runtime.running()
    edge.exit_running(0)
    [app] = edge.runtime.running()
    last = edge.status()

    assert [one.container_name, two.container_name, app.container_name] == ["one", "two", "main"]
    assert first["phase"] == "Pending" and condition(first, "Initialized")["status"] == "False"
    assert condition(first, "Initialized")["message"] == "containers with incomplete status: [one two]"
    assert first["containerStatuses"][0]["state"] == {"waiting": {"reason": "PodInitializing"}}
    assert [s["state"] for s in first["initContainerStatuses"]][1] == {"waiting": {"reason": "PodInitializing"}}
    assert last["phase"] == "Running" and condition(last, "Initialized")["status"] == "True"
    assert [s["ready"] for s in last["initContainerStatuses"]] == [True, True]


def test_a_failing_init_container_is_restarted_with_back_off(edge: Edge) -> None:
    edge.start()
    edge.deliver("insert", with_init(make_pod(), "setup"))

    edge.exit_running(1)  # the first crash restarts at once
    edge.exit_running(1)

    assert edge.runtime.running() == []
    setup = edge.status()["initContainerStatuses"][0]
    assert setup["state"]["waiting"]["reason"] == "CrashLoopBackOff" and setup["restartCount"] == 1
    edge.advance(10)
    assert [c.container_name for c in edge.runtime.running()] == ["setup"]


def test_a_failed_init_container_fails_a_pod_that_never_restarts(edge: Edge) -> None:
    edge.start()
    edge.deliver("insert", with_init(make_pod(restart_policy="Never"), "setup"))

    edge.exit_running(1)

    assert edge.runtime.running() == []
    assert edge.status()["phase"] == "Failed"
    assert edge.status()["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Error"


def test_conditions_keep_their_transition_time_while_unchanged(edge: Edge) -> None:
    edge.runtime.exec_answers[CHECK] = OK
    edge.start()
    edge.deliver("insert", make_pod(readinessProbe=exec_probe()))
    first = {c["type"]: c["lastTransitionTime"] for c in edge.status()["conditions"]}

    edge.advance(5)
    edge.exit_running(1)

    later = {c["type"]: c["lastTransitionTime"] for c in edge.status()["conditions"]}
    assert {k: later[k] for k in ("PodScheduled", "Initialized")} == {k: first[k] for k in ("PodScheduled", "Initialized")}
    assert set(first) == {"PodScheduled", "Initialized", "ContainersReady", "Ready"}


# --- termination messages ------------------------------------------------------------------------------


def test_each_start_binds_a_fresh_host_file_at_the_termination_message_path(edge: Edge) -> None:
    edge.start()
    edge.deliver("insert", make_pod(terminationMessagePath="/tmp/why"))
    [first] = edge.runtime.running()

    edge.exit_running(1)
    [second] = edge.runtime.running()

    [one] = [m for m in edge.runtime.configs[first.id].mounts if m.target == "/tmp/why"]
    [two] = [m for m in edge.runtime.configs[second.id].mounts if m.target == "/tmp/why"]
    assert one.source != two.source and Path(one.source).read_bytes() == b"" and not one.read_only


def test_the_termination_message_fills_the_terminated_state(edge: Edge) -> None:
    edge.start()
    edge.deliver("insert", make_pod(restart_policy="Never"))
    [container] = edge.runtime.running()
    edge.runtime.containers[container.id] = replace(container, termination_message="disk full")

    edge.exit_running(1)

    assert edge.container_state()["terminated"]["message"] == "disk full"


def test_an_exec_probe_docker_cannot_run_counts_neither_way(edge: Edge) -> None:
    edge.runtime.exec_answers[CHECK] = OK
    edge.start()
    edge.deliver("insert", make_pod(livenessProbe=exec_probe(failureThreshold=1)))
    [container] = edge.runtime.running()
    edge.advance(0)
    edge.runtime.down = True

    for _ in range(3):
        edge.advance(1)
    edge.runtime.down = False
    for _ in range(15):  # past the 10 s poll that looks at every pod again
        edge.advance(1)

    assert [c.id for c in edge.runtime.running()] == [container.id]
