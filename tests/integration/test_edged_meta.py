"""Tier 3: edged with the real meta actor (SQLite file) and the real Docker Engine.

The cloud is a probe in the hub's place: pods and configmaps go into meta as the hub routes
them (docs/architecture.md#4.2: group ``resource`` → group ``meta``); meta forwards them to edged and acks the cloud;
edged's statuses are stored by meta and forwarded to the cloud (docs/architecture.md#4.3).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.edged import EdgedActor
from actors.edged.model import NODE_ID_LABEL
from actors.keys import edge_defaults
from actors.meta import MetaActor
from actors.protocol import Group, Module
from actors.testing import cloud_message, edged_message
from kubeedge_actors.message import Message
from kubeedge_actors.router import Router
from kubeedge_actors.testing import Probe, start_probe, wait_until
from tests.edged.builders import make_configmap, make_pod
from tests.edged.docker_support import FAST, exec_in, remove_all

pytestmark = pytest.mark.docker


class Edge:
    """meta and edged in one router; the cloud is a probe."""

    def __init__(self, docker_client: Any, tmp_path: Path) -> None:
        self.docker = docker_client
        self.node_id = f"it-meta-{uuid.uuid4().hex[:10]}"
        self.config = edge_defaults().with_values(
            {
                "database.source": str(tmp_path / "edge.db"),
                "edgehub.controller.node-id": self.node_id,
                "edged.hostname-override": self.node_id,
                "edged.root-directory": str(tmp_path / "edged"),
                "edged.server-port": 0,
            }
        )
        self.router = Router()
        self.cloud: Probe = start_probe(self.router, Module.HUB, Group.HUB)
        self.router.register(Module.META, Group.META, MetaActor.start(self.router, self.config))
        self.edged: Any = None

    def start_edged(self) -> None:
        self.edged = EdgedActor.start(self.router, self.config, timings=FAST)
        self.router.register(Module.EDGED, Group.EDGED, self.edged)

    def stop_edged(self) -> None:
        self.edged.stop()
        self.router.unregister(Module.EDGED)

    def from_cloud(self, operation: str, kind: str, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        self.router.send_to_group(Group.META, cloud_message(operation, f"{meta.get('namespace', 'default')}/{kind}/{meta['name']}", obj))

    def stored(self, resource: str) -> list[Any]:
        reply: Message = self.router.send_sync(Module.META, edged_message("query", resource), 5).result(6)
        return [json.loads(value) for value in reply.content or []]

    def containers(self, **filters: Any) -> list[Any]:
        return self.docker.containers.list(all=True, filters={"label": f"{NODE_ID_LABEL}={self.node_id}", **filters})

    def close(self) -> None:
        if self.edged is not None and self.edged.is_alive():
            self.stop_edged()
        self.router.close()
        remove_all(self.containers)


@pytest.fixture
def edge(docker_client: Any, busybox_image: str, tmp_path: Path) -> Iterator[Edge]:
    node = Edge(docker_client, tmp_path)
    try:
        yield node
    finally:
        node.close()


def running_in_meta(edge: Edge, name: str = "web") -> bool:
    stored = edge.stored(f"default/podstatus/{name}")
    return bool(stored) and stored[0]["Status"]["phase"] == "Running"


def test_a_pod_the_cloud_inserts_into_meta_runs_and_its_status_is_stored_in_meta(edge: Edge) -> None:
    edge.start_edged()
    pod = make_pod()

    edge.from_cloud("insert", "pod", pod)

    wait_until(lambda: running_in_meta(edge), 30, 0.1, "a Running pod status stored in meta")
    [container] = edge.containers(status="running")
    [stored] = edge.stored("default/podstatus/web")
    assert (stored["UID"], stored["Name"]) == (pod["metadata"]["uid"], "web")
    assert stored["Status"]["containerStatuses"][0]["containerID"] == f"docker://{container.id}"
    forwarded = edge.cloud.wait_for(lambda m: m.resource == "default/podstatus/web" and m.content["Status"]["phase"] == "Running")
    assert forwarded.source == "edged"


def test_a_configmap_from_the_cloud_reaches_the_container_through_meta(edge: Edge) -> None:
    edge.from_cloud("insert", "configmap", make_configmap("app-config", {"app.conf": "v1"}))
    edge.start_edged()
    volumes = [{"name": "conf", "configMap": {"name": "app-config"}}]
    edge.from_cloud("insert", "pod", make_pod(volumes=volumes, volumeMounts=[{"name": "conf", "mountPath": "/etc/app"}]))
    wait_until(lambda: running_in_meta(edge), 30, 0.1, "a Running pod status stored in meta")
    [container] = edge.containers(status="running")
    assert exec_in(container, "cat", "/etc/app/app.conf") == "v1"

    edge.from_cloud("update", "configmap", make_configmap("app-config", {"app.conf": "v2"}))

    wait_until(lambda: exec_in(container, "cat", "/etc/app/app.conf") == "v2", 10, 0.1, "the cloud's new configmap in the container")


def test_after_an_edged_restart_the_pods_come_back_from_meta_and_are_adopted(edge: Edge) -> None:
    edge.start_edged()
    edge.from_cloud("insert", "pod", make_pod())
    wait_until(lambda: running_in_meta(edge), 30, 0.1, "a Running pod status stored in meta")
    [before] = edge.containers(status="running")
    edge.stop_edged()
    edge.cloud.clear()

    edge.start_edged()

    edge.cloud.wait_for(lambda m: "/nodestatus/" in m.resource, timeout_s=10)
    wait_until(lambda: running_in_meta(edge), 10, 0.1, "the pod still Running")
    assert [c.id for c in edge.containers()] == [before.id]


def test_a_pod_the_cloud_deletes_is_removed_from_docker(edge: Edge) -> None:
    edge.start_edged()
    pod = make_pod(command=["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"])
    edge.from_cloud("insert", "pod", pod)
    wait_until(lambda: running_in_meta(edge), 30, 0.1, "a Running pod status stored in meta")

    edge.from_cloud("delete", "pod", pod)

    wait_until(lambda: not edge.containers(), 20, 0.1, "the pod's container removed")
    assert edge.stored("default/pod/web") == []
