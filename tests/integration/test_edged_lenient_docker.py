"""Tier 3: what the original runs, edged runs on the real Docker Engine: a pod whose metadata
has a name only, and a container whose name ends in '-'; a restarted edged adopts the same
containers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.edged.identity import derived_uid
from tests.edged.builders import make_pod
from tests.edged.docker_support import EdgeNode

pytestmark = pytest.mark.docker


@pytest.fixture
def node(docker_client: Any, busybox_image: str, tmp_path: Path) -> Iterator[EdgeNode]:
    edge = EdgeNode(docker_client, tmp_path / "edged")
    try:
        yield edge
    finally:
        edge.close()


def running_ids(node: EdgeNode) -> dict[str, str]:
    """Pod name → id of its running container."""
    return {c.labels["io.kubernetes.pod.name"]: c.id for c in node.containers(status="running")}


def test_a_pod_with_a_name_only_and_a_container_name_ending_in_a_dash_run_and_are_adopted_after_a_restart(
    node: EdgeNode, busybox_image: str
) -> None:
    bare = {"metadata": {"name": "bare"}, "spec": {"containers": [{"name": "main", "image": busybox_image, "command": ["sleep", "3600"]}]}}
    worker = {"name": "worker-", "image": busybox_image, "command": ["sleep", "3600"]}
    dashed = make_pod("dashed", uid=f"u-{node.node_id}", containers=[worker])
    node.start_edged()

    node.send("insert", bare, namespace="apps")  # the resource's namespace; no uid anywhere
    node.send("insert", dashed)
    bare_status = node.wait_running("bare")
    node.wait_running("dashed")

    uid = derived_uid("apps", "bare")
    containers = {c.labels["io.kubernetes.pod.name"]: c for c in node.containers(status="running")}
    assert containers["bare"].name == f"k8s_main_bare_apps_{uid}_0"
    assert containers["bare"].labels["io.kubernetes.pod.uid"] == uid
    assert containers["dashed"].name == f"k8s_worker-_dashed_default_u-{node.node_id}_0"
    assert bare_status["containerStatuses"][0]["containerID"] == f"docker://{containers['bare'].id}"
    before = running_ids(node)

    node.stop_edged()
    node.meta.clear()
    node.start_edged()  # meta's list has both pods; nothing in it says "bare" was in apps

    node.wait_running("dashed")
    report = node.meta.wait_for(lambda m: m.resource == "apps/podstatus/bare" and m.content["Status"]["phase"] == "Running", 30)
    assert report.content["UID"] == uid
    assert running_ids(node) == before  # the same containers, adopted
    assert len(node.containers()) == 2
    assert not [m.resource for m in node.meta.messages if m.resource == "default/podstatus/bare"]


def test_a_container_name_docker_refuses_is_reported_while_its_sibling_runs(node: EdgeNode, busybox_image: str) -> None:
    pod = make_pod("mixed", uid=f"u-{node.node_id}", image=busybox_image)
    pod["spec"]["containers"].append({"name": "side car", "image": busybox_image, "command": ["sleep", "3600"]})
    node.start_edged()

    node.send("insert", pod)

    status = node.wait_status(
        "mixed", lambda s: "running" in s["containerStatuses"][0]["state"] and "waiting" in s["containerStatuses"][1]["state"]
    )
    waiting = status["containerStatuses"][1]["state"]["waiting"]
    assert waiting["reason"] == "CreateContainerConfigError"
    assert "spec.containers[1].name: 'side car'" in waiting["message"]
    assert [c.labels["io.kubernetes.container.name"] for c in node.containers()] == ["main"]
