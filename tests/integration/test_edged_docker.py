"""Tier 3: edged against the real Docker Engine, with a probe answering as meta (docs/architecture.md#4.3)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.edged import EdgedTimings
from kubeedge_actors.testing import wait_until
from tests.edged.builders import make_configmap, make_pod, make_secret, pull_secret
from tests.edged.docker_support import FAST, CountingDocker, EdgeNode, Registry, SocketProxy, exec_in, remove_image
from tests.services import free_port

pytestmark = pytest.mark.docker

TRAP_TERM = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]


@pytest.fixture
def node(docker_client: Any, busybox_image: str, tmp_path: Path) -> Iterator[EdgeNode]:
    edge = EdgeNode(docker_client, tmp_path / "edged")
    try:
        yield edge
    finally:
        edge.close()


def test_a_pod_runs_as_a_docker_container_and_its_status_reaches_running(node: EdgeNode) -> None:
    node.start_edged()
    pod = make_pod(uid="u-run-" + node.node_id)

    node.send("insert", pod)

    status = node.wait_running()
    container = node.running_container()
    assert container.name == f"k8s_main_web_default_u-run-{node.node_id}_0"
    assert container.labels["io.kubernetes.pod.uid"] == pod["metadata"]["uid"]
    assert container.attrs["HostConfig"]["NetworkMode"] == "host"
    assert status["containerStatuses"][0]["containerID"] == f"docker://{container.id}"
    assert status["hostIP"] and status["podIP"] == status["hostIP"]


@pytest.mark.parametrize(
    ("policy", "command", "expect"),
    [
        ("Always", ["sh", "-c", "sleep 0.3; exit 0"], lambda s: s["containerStatuses"][0]["restartCount"] >= 2),
        ("OnFailure", ["sh", "-c", "exit 3"], lambda s: s["containerStatuses"][0]["restartCount"] >= 2),
        ("OnFailure", ["sh", "-c", "exit 0"], lambda s: s["phase"] == "Succeeded"),
        ("Never", ["sh", "-c", "exit 3"], lambda s: s["phase"] == "Failed"),
    ],
    ids=["always-restarts", "onfailure-restarts-a-failure", "onfailure-keeps-a-success", "never-reports-failed"],
)
def test_each_restart_policy_is_followed(node: EdgeNode, policy: str, command: list[str], expect: Any) -> None:
    node.start_edged()

    node.send("insert", make_pod(restart_policy=policy, command=command))

    status = node.wait_status("web", expect)
    if policy != "Always" and status["phase"] in ("Succeeded", "Failed"):
        assert len(node.containers()) == 1
        terminated = status["containerStatuses"][0]["state"]["terminated"]
        assert terminated["exitCode"] == (0 if status["phase"] == "Succeeded" else 3)


def test_a_crash_loop_is_reported_as_crash_loop_back_off(node: EdgeNode) -> None:
    node.start_edged(EdgedTimings(**{**FAST.__dict__, "restart_backoff_initial_s": 5.0, "restart_backoff_max_s": 5.0}))

    node.send("insert", make_pod(command=["sh", "-c", "exit 1"]))

    status = node.wait_status("web", lambda s: s["containerStatuses"][0]["state"].get("waiting", {}).get("reason") == "CrashLoopBackOff")
    assert status["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] == 1


def test_a_started_container_is_inspected_once_and_again_only_when_it_dies(node: EdgeNode) -> None:
    docker = CountingDocker(node.config["edged.docker-address"], node.node_id)
    node.start_edged(EdgedTimings(**{**FAST.__dict__, "poll_interval_s": 3600.0}), runtime=docker)  # no listing to inspect it
    node.send("insert", make_pod())
    node.wait_running()
    first = node.running_container()

    first.kill()

    node.wait_status("web", lambda s: s["phase"] == "Running" and s["containerStatuses"][0]["restartCount"] == 1)
    assert docker.inspections[first.id] == 2  # the job's look after its start, and the look after its death


def test_configmap_files_and_env_are_visible_inside_the_container(node: EdgeNode) -> None:
    node.objects["default/configmap/app-config"] = make_configmap("app-config", {"app.conf": "level=debug", "MODE": "edge"})
    node.objects["default/secret/creds"] = make_secret("creds", {"password": "s3cret"})
    node.start_edged()
    pod = make_pod(
        volumes=[{"name": "conf", "configMap": {"name": "app-config"}}],
        volumeMounts=[{"name": "conf", "mountPath": "/etc/app"}],
        envFrom=[{"configMapRef": {"name": "app-config"}}],
        env=[{"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}}],
    )

    node.send("insert", pod)
    node.wait_running()
    container = node.running_container()

    assert exec_in(container, "cat", "/etc/app/app.conf") == "level=debug"
    environment = exec_in(container, "env")
    assert "MODE=edge" in environment.splitlines()
    assert "PASSWORD=s3cret" in environment.splitlines()


def test_a_changed_configmap_shows_in_the_running_container(node: EdgeNode) -> None:
    node.objects["default/configmap/app-config"] = make_configmap("app-config", {"app.conf": "v1"})
    node.start_edged()
    node.send(
        "insert",
        make_pod(volumes=[{"name": "conf", "configMap": {"name": "app-config"}}], volumeMounts=[{"name": "conf", "mountPath": "/etc/app"}]),
    )
    node.wait_running()
    container = node.running_container()

    node.send("update", make_configmap("app-config", {"app.conf": "v2"}), kind="configmap")

    wait_until(lambda: exec_in(container, "cat", "/etc/app/app.conf") == "v2", 10, 0.1, "the new configmap content in the container")
    assert node.running_container().id == container.id


def test_a_deleted_pod_is_stopped_and_removed(node: EdgeNode) -> None:
    node.start_edged()
    pod = make_pod(command=TRAP_TERM, grace_s=10)
    node.send("insert", pod)
    node.wait_running()
    container = node.running_container()

    node.send("delete", pod)

    # edged removes the folder after the container, in the same job: wait for both.
    pod_dir = node.root / "pods" / pod["metadata"]["uid"]
    wait_until(lambda: not node.containers() and not pod_dir.exists(), 30, 0.05, "the pod's container and folder removed")
    with pytest.raises(Exception, match=r"No such container|404"):
        container.reload()


def test_containers_are_adopted_after_an_edged_restart_not_duplicated(node: EdgeNode) -> None:
    node.start_edged()
    node.send("insert", make_pod())
    node.wait_running()
    before = node.running_container()
    node.stop_edged()
    node.meta.clear()

    node.start_edged()

    node.wait_running()
    [after] = node.containers()
    assert after.id == before.id
    after.reload()
    assert after.status == "running"


def test_containers_of_another_node_are_left_alone(node: EdgeNode, docker_client: Any, busybox_image: str) -> None:
    labels = {"io.kubernetes.pod.uid": "someone-elses", "io.kubeedge-actors.node-id": "another-node"}
    foreign = docker_client.containers.run(
        busybox_image, ["sleep", "60"], labels=labels, detach=True, name=f"foreign-{node.node_id}", network_mode="host"
    )
    try:
        node.start_edged()
        node.send("insert", make_pod())
        node.wait_running()
        node.meta.wait_for(lambda m: "/podstatus/" in m.resource)

        foreign.reload()
        assert foreign.status == "running"
    finally:
        foreign.remove(force=True)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"image": ""}, "CreateContainerConfigError"),
        ({"image": "kubeedge-actors/BusyBox:test"}, "InvalidImageName"),
        ({"image": "127.0.0.1:9/kubeedge-actors/absent:1"}, "ErrImagePull"),
        ({"command": ["/no/such/program"]}, "RunContainerError"),
    ],
    ids=["missing-image", "invalid-image-name", "image-not-in-any-registry", "command-not-found"],
)
def test_a_bad_pod_spec_gives_a_clear_waiting_reason(node: EdgeNode, change: dict[str, Any], reason: str) -> None:
    node.start_edged()
    pod = make_pod(restart_policy="Always")
    pod["spec"]["containers"][0].update(change)

    node.send("insert", pod)

    status = node.wait_status("web", lambda s: s["containerStatuses"][0]["state"].get("waiting", {}).get("reason") == reason)
    assert status["phase"] == "Pending" or reason == "RunContainerError"
    assert status["containerStatuses"][0]["state"]["waiting"].get("message")


def test_a_missing_image_backs_off_as_image_pull_back_off(node: EdgeNode) -> None:
    node.start_edged()

    node.send("insert", make_pod(image="127.0.0.1:9/kubeedge-actors/absent:1"))

    node.wait_status("web", lambda s: s["containerStatuses"][0]["state"].get("waiting", {}).get("reason") == "ImagePullBackOff")


def test_an_image_is_pulled_from_a_registry_with_the_pods_pull_secret(node: EdgeNode, docker_client: Any, tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry", "robot", "pw")
    image = f"{registry.host}/kubeedge-actors/pulltest:{node.node_id}"
    try:
        registry.push(docker_client, "kubeedge-actors/pulltest", node.node_id, {"username": "robot", "password": "pw"})
        node.objects["default/secret/regcred"] = pull_secret("regcred", registry.host, "robot", "pw")
        node.start_edged()
        without = make_pod(name="anonymous", image=image)
        with_secret = make_pod(name="web", image=image, namespace="apps")
        with_secret["spec"]["imagePullSecrets"] = [{"name": "regcred"}]

        node.send("insert", without)
        node.send("insert", with_secret)

        node.wait_running("web")
        failed = node.wait_status(
            "anonymous", lambda s: s["containerStatuses"][0]["state"].get("waiting", {}).get("reason") == "ErrImagePull"
        )
        assert "no basic auth credentials" in failed["containerStatuses"][0]["state"]["waiting"]["message"]
    finally:
        node.close()  # edged first: a running edged restarts the containers a clean-up removes
        registry.stop()
        remove_image(docker_client, image)


def test_edged_survives_docker_going_away_and_reconciles_when_it_returns(docker_client: Any, busybox_image: str, tmp_path: Path) -> None:
    proxy = SocketProxy(tmp_path / "docker.sock")
    proxy.restore()
    node = EdgeNode(docker_client, tmp_path / "edged", docker_address=proxy.address)
    try:
        # No poll: only the redialled event stream can bring edged back.
        node.start_edged(EdgedTimings(**{**FAST.__dict__, "poll_interval_s": 3600.0}))
        node.send("insert", make_pod())
        node.wait_running()
        first = node.running_container()

        proxy.cut()
        first.kill()  # what a daemon restart does to containers without live-restore
        node.meta.clear()
        proxy.restore()

        status = node.wait_status("web", lambda s: s["phase"] == "Running" and s["containerStatuses"][0]["restartCount"] == 1)
        assert node.running_container().id != first.id
        assert status["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] == 137
    finally:
        node.close()
        proxy.cut()


def test_edged_started_while_docker_is_away_runs_pods_once_it_is_back(docker_client: Any, busybox_image: str, tmp_path: Path) -> None:
    proxy = SocketProxy(tmp_path / "docker.sock")
    node = EdgeNode(docker_client, tmp_path / "edged", docker_address=proxy.address)
    try:
        node.start_edged()
        node.send("insert", make_pod())
        node.meta.wait_for(lambda m: "/nodestatus/" in m.resource and m.content["Status"]["conditions"][0]["status"] == "False")

        proxy.restore()

        node.wait_running()
        assert len(node.containers()) == 1
    finally:
        node.close()
        proxy.cut()


def test_the_pod_list_is_served_on_the_configured_port(docker_client: Any, busybox_image: str, tmp_path: Path) -> None:
    import urllib.request

    port = free_port()
    node = EdgeNode(docker_client, tmp_path / "edged", **{"edged.server-port": port})
    try:
        node.start_edged()
        node.send("insert", make_pod())
        node.wait_running()

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/pods", timeout=5) as response:
            body = json.loads(response.read())
        [item] = body["items"]
        assert item["status"]["phase"] == "Running"
    finally:
        node.close()


def test_image_gc_removes_an_image_edged_pulled_once_no_pod_uses_it(docker_client: Any, busybox_image: str, tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry", "robot", "pw")
    thresholds = {"edged.image-gc-high-threshold": 0, "edged.image-gc-low-threshold": 0}  # always "full"
    node = EdgeNode(docker_client, tmp_path / "edged", **thresholds)
    try:
        image = registry.push(docker_client, "kubeedge-actors/gctest", node.node_id, {"username": "robot", "password": "pw"})
        node.objects["default/secret/regcred"] = pull_secret("regcred", registry.host, "robot", "pw")
        node.start_edged(EdgedTimings(**{**FAST.__dict__, "image_gc_interval_s": 0.5, "image_gc_min_age_s": 0.0}))
        pod = make_pod(image=image, command=TRAP_TERM)
        pod["spec"]["imagePullSecrets"] = [{"name": "regcred"}]
        node.send("insert", pod)
        node.wait_running()
        assert docker_client.images.list(name=image.rsplit(":", 1)[0])  # in use: kept

        node.send("delete", pod)

        wait_until(lambda: not docker_client.images.list(name=image.rsplit(":", 1)[0]), 30, 0.1, "the pulled image removed")
        assert docker_client.images.list(name=busybox_image)  # not pulled by edged: never touched
    finally:
        node.close()
        registry.stop()
        remove_image(docker_client, f"{registry.host}/kubeedge-actors/gctest:{node.node_id}")
