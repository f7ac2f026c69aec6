"""Tier 1: what the controller reads of its SQLite file when an edge connects (issue 15: with
1,000 edges of 10 pods each, reading every object on each connect never caught up)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import kubeedge_cloud.store
from kubeedge_actors.testing import ActorHarness
from kubeedge_cloud.controller import ControllerActor
from kubeedge_cloud.hub import connection_event
from kubeedge_cloud.names import HANDED_OVER_ANNOTATION
from tests.cloud.control_api import api, apply

Harness = ActorHarness[ControllerActor]
NODES = 20
PODS_PER_NODE = 5


def pod(name: str, node: str, *, configmap: str | None = None, secret: str | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "c", "image": "busybox:1.36"}
    if secret:
        container["env"] = [{"name": "T", "valueFrom": {"secretKeyRef": {"name": secret, "key": "t"}}}]
    spec: dict[str, Any] = {"nodeName": node, "containers": [container]}
    if configmap:
        spec["volumes"] = [{"name": "v", "configMap": {"name": configmap}}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def configmap(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "1"}}


def secret(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": {"t": "s3cret"}}


def many_nodes(harness: Harness) -> None:
    """``NODES`` nodes of ``PODS_PER_NODE`` pods; every node's first pod mounts its own configmap
    and uses the shared secret; ``named`` goes to node-3 by ``--node``."""
    objects = [configmap(f"config-{n}") for n in range(NODES)] + [secret("shared")]
    for n in range(NODES):
        objects.append(pod(f"node-{n}-pod-0", f"node-{n}", configmap=f"config-{n}", secret="shared"))
        objects += [pod(f"node-{n}-pod-{i}", f"node-{n}") for i in range(1, PODS_PER_NODE)]
    apply(harness, *objects)
    apply(harness, configmap("named"), node="node-3")
    harness.router.take()


def connect(harness: Harness, node: str) -> list[tuple[str, str]]:
    harness.deliver(connection_event(node, True))
    return [(m.operation, m.resource) for m in harness.router.take("send", "cloudhub")]


def count_rows_read(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of every object row the store turns into an object from now on."""
    read: list[str] = []
    to_object = kubeedge_cloud.store._stored

    def counted(row: Any) -> kubeedge_cloud.store.StoredObject:
        read.append(row.name)
        return to_object(row)

    monkeypatch.setattr(kubeedge_cloud.store, "_stored", counted)
    return read


def test_a_connecting_node_reads_only_its_own_objects_of_all_the_nodes(
    start_controller: Callable[[], Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = start_controller()
    many_nodes(harness)
    read = count_rows_read(monkeypatch)

    sent = connect(harness, "node-3")

    assert sorted(read) == sorted(["config-3", "named", "shared"] + [f"node-3-pod-{i}" for i in range(PODS_PER_NODE)])
    assert sent == [
        ("update", "node/node-3/default/configmap/config-3"),
        ("update", "node/node-3/default/configmap/named"),
        ("update", "node/node-3/default/secret/shared"),
        *[("update", f"node/node-3/default/pod/node-3-pod-{i}") for i in range(PODS_PER_NODE)],
    ]


def test_a_configmap_a_pod_moved_away_from_a_node_used_is_no_longer_sent_there_on_connect(
    start_controller: Callable[[], Harness],
) -> None:
    harness = start_controller()
    many_nodes(harness)

    apply(harness, pod("node-4-pod-0", "node-5", configmap="config-4", secret="shared"))
    harness.router.take()
    sent_to_4, sent_to_5 = connect(harness, "node-4"), connect(harness, "node-5")

    assert sorted(sent_to_4[:3]) == [
        ("delete", "node/node-4/default/configmap/config-4"),
        ("delete", "node/node-4/default/pod/node-4-pod-0"),
        ("delete", "node/node-4/default/secret/shared"),
    ]
    assert sent_to_4[3:] == [("update", f"node/node-4/default/pod/node-4-pod-{i}") for i in range(1, PODS_PER_NODE)]
    assert ("update", "node/node-5/default/configmap/config-4") in sent_to_5
    assert ("update", "node/node-5/default/pod/node-4-pod-0") in sent_to_5


def test_the_nodes_of_a_configmap_are_those_of_the_pods_using_it_and_those_named(start_controller: Callable[[], Harness]) -> None:
    harness = start_controller()
    many_nodes(harness)
    apply(harness, configmap("named"), node="node-7")

    rows = {row["name"]: row["nodes"] for row in api(harness, "list", {}, "configmaps").content["items"]}
    [secret_row] = api(harness, "list", {}, "secrets").content["items"]

    assert rows["config-2"] == ["node-2"]
    assert rows["named"] == ["node-3", "node-7"]
    assert secret_row["nodes"] == [f"node-{n}" for n in sorted(range(NODES), key=str)]


def test_a_database_of_the_earlier_release_sends_a_connecting_node_what_it_holds(
    start_controller: Callable[[], Harness], tmp_path: Path
) -> None:
    harness = start_controller()
    many_nodes(harness)
    harness.stop()
    with sqlite3.connect(tmp_path / "cloud.db") as earlier:  # the release before kept no cloud_target
        earlier.execute("DROP TABLE cloud_target")

    restarted = start_controller()
    sent = connect(restarted, "node-3")

    assert [resource.rsplit("/", 1)[1] for _, resource in sent] == ["config-3", "named", "shared"] + [
        f"node-3-pod-{i}" for i in range(PODS_PER_NODE)
    ]


def test_an_edge_never_gets_the_mark_kubeapi_puts_on_what_it_hands_over(start_controller: Callable[[], Harness]) -> None:
    harness = start_controller()
    marked = pod("marked", "node-1")
    marked["metadata"]["annotations"] = {HANDED_OVER_ANNOTATION: "kubeapi", "owner": "me"}
    only_mark = pod("only-mark", "node-1")
    only_mark["metadata"]["annotations"] = {HANDED_OVER_ANNOTATION: "kubeapi"}
    apply(harness, marked, only_mark)
    harness.router.take()

    harness.deliver(connection_event("node-1", True))
    sent = {m.content["metadata"]["name"]: m.content["metadata"] for m in harness.router.take("send", "cloudhub")}
    [stored] = [o for o in harness.actor._store.objects("Pod") if o.key.name == "marked"]

    assert sent["marked"]["annotations"] == {"owner": "me"}
    assert "annotations" not in sent["only-mark"]
    assert stored.body["metadata"]["annotations"][HANDED_OVER_ANNOTATION] == "kubeapi"  # the controllers keep their mark
