"""Tier 1: the cloud hub's controller with a recording router and a real SQLite file."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubeedge_actors import Message
from kubeedge_actors.testing import ActorHarness, make_message
from kubeedge_cloud.controller import ControllerActor
from kubeedge_cloud.hub import connection_event
from tests.cloud.control_api import api, apply

Harness = ActorHarness[ControllerActor]


def pod(name: str = "nginx", node: str = "edge-1", image: str = "nginx:1.25", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"nodeName": node, "containers": [{"name": "web", "image": image}], **spec},
    }


def configmap(name: str = "app", **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data or {"a": "1"}}


def secret(name: str = "token") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": {"t": "s3cret"}}


def delete(harness: Harness, kind: str, name: str, namespace: str = "default", node: str | None = None) -> Message:
    return api(harness, "delete", {"kind": kind, "namespace": namespace, "name": name, "node": node})


def connect(harness: Harness, node: str, connected: bool = True) -> None:
    harness.deliver(connection_event(node, connected))


def to_edges(harness: Harness) -> list[tuple[str, str]]:
    return [(m.operation, m.resource) for m in harness.router.take("send", "cloudhub")]


def sent_uids(harness: Harness) -> dict[str, str]:
    """The uid of each pod sent to the edges so far, by name (the messages are taken)."""
    return {
        m.content["metadata"]["name"]: m.content["metadata"]["uid"]
        for m in harness.router.take("send", "cloudhub")
        if "/pod/" in m.resource
    }


def from_edge(node: str, operation: str, resource: str, content: Any = None, **kwargs: Any) -> Message:
    return make_message(operation, f"node/{node}/{resource}", content, source="edged", group="meta", **kwargs)


def test_a_pod_applied_to_a_connected_node_is_inserted_there_as_the_original_sends_it(start_controller: Callable[[], Harness]) -> None:
    harness = start_controller()
    connect(harness, "edge-1")

    results = apply(harness, pod())

    [sent] = harness.router.take("send", "cloudhub")
    assert results == [("nginx", "created")]
    assert (sent.source, sent.group, sent.operation, sent.resource) == ("controller", "resource", "insert", "node/edge-1/default/pod/nginx")
    assert sent.content["spec"]["nodeName"] == "edge-1" and sent.content["metadata"]["uid"]
    assert not sent.is_sync and sent.parent_id == ""


def test_a_pod_applied_while_its_node_is_away_is_sent_when_the_node_connects(start_controller: Callable[[], Harness]) -> None:
    harness = start_controller()

    apply(harness, pod())
    sent_while_away = to_edges(harness)
    connect(harness, "edge-1")

    assert sent_while_away == []
    assert to_edges(harness) == [("update", "node/edge-1/default/pod/nginx")]


def test_every_connect_sends_the_node_its_current_objects_again(start_controller: Callable[[], Harness]) -> None:
    harness = start_controller()
    connect(harness, "edge-1")
    apply(harness, pod("a"), pod("b"), pod("elsewhere", node="edge-2"))
    harness.router.take()

    connect(harness, "edge-1", False)
    connect(harness, "edge-1")

    assert to_edges(harness) == [("update", "node/edge-1/default/pod/a"), ("update", "node/edge-1/default/pod/b")]


def test_applying_the_same_pod_again_changes_nothing_and_a_change_is_an_update(start_controller: Callable[[], Harness]) -> None:
    harness = start_controller()
    connect(harness, "edge-1")
    apply(harness, pod())
    harness.router.take()

    unchanged = apply(harness, pod())
    nothing_sent = to_edges(harness)
    changed = apply(harness, pod(image="nginx:1.26"))

    assert (unchanged, nothing_sent) == ([("nginx", "unchanged")], [])
    assert changed == [("nginx", "configured")]
    [update] = harness.router.take("send", "cloudhub")
    assert update.operation == "update" and update.content["spec"]["containers"][0]["image"] == "nginx:1.26"


def test_a_pod_deleted_while_its_node_is_away_is_deleted_there_on_connect_until_the_edge_acks(
    start_controller: Callable[[], Harness],
) -> None:
    harness = start_controller()
    connect(harness, "edge-1")
    apply(harness, pod())
    connect(harness, "edge-1", False)
    harness.router.take()

    delete(harness, "Pod", "nginx")
    connect(harness, "edge-1")
    [first] = harness.router.take("send", "cloudhub")
    connect(harness, "edge-1", False)
    connect(harness, "edge-1")
    [again] = harness.router.take("send", "cloudhub")
    harness.deliver(from_edge("edge-1", "response", "default/pod/nginx", "OK", parent_id=again.id))
    connect(harness, "edge-1", False)
    connect(harness, "edge-1")

    assert (first.operation, first.resource) == ("delete", "node/edge-1/default/pod/nginx")
    assert (again.operation, again.resource) == ("delete", "node/edge-1/default/pod/nginx")
    assert to_edges(harness) == []


def test_deleting_an_unknown_pod_says_not_found(start_controller: Callable[[], Harness]) -> None:
    harness = start_controller()

    reply = delete(harness, "Pod", "ghost")

    assert reply.content["results"][0]["action"] == "not found"


def test_deleting_a_pod_on_another_node_than_named_is_refused(start_controller: Callable[[], Harness]) -> None:
    harness = start_controller()
    apply(harness, pod())

    reply = delete(harness, "Pod", "nginx", node="edge-9")

    assert reply.is_error and "runs on node edge-1, not on edge-9" in reply.content


def test_a_configmap_goes_to_the_nodes_whose_pods_use_it_before_the_pod(start_controller: Callable[[], Harness]) -> None:
    harness = start_controller()
    connect(harness, "edge-1")
    apply(harness, configmap("app"))
    first = to_edges(harness)

    apply(harness, pod(volumes=[{"name": "cfg", "configMap": {"name": "app"}}]))
    with_pod = to_edges(harness)
    apply(harness, configmap("app", a="2"))

    assert first == []  # no node uses it yet
    assert with_pod == [("update", "node/edge-1/default/configmap/app"), ("insert", "node/edge-1/default/pod/nginx")]
    assert to_edges(harness) == [("update", "node/edge-1/default/configmap/app")]


def test_a_secret_leaves_a_node_with_the_last_pod_there_that_uses_it(start_controller: Callable[[], Harness]) -> None:
    harness = start_controller()
    connect(harness, "edge-1")
    apply(harness, secret("token"))
    uses = {"volumes": [{"name": "t", "secret": {"secretName": "token"}}]}
    apply(harness, pod("a", **uses), pod("b", **uses))
    to_edges(harness)

    delete(harness, "Pod", "a")
    after_first = to_edges(harness)
    delete(harness, "Pod", "b")

    assert after_first == [("delete", "node/edge-1/default/pod/a")]  # pod b still uses it
    assert to_edges(harness) == [("delete", "node/edge-1/default/pod/b"), ("delete", "node/edge-1/default/secret/token")]
    assert harness.actor.pending_delete_count() == 3  # until the edge answers each


def test_a_configmap_a_changed_pod_no_longer_mounts_is_deleted_on_its_node(start_controller: Callable[[], Harness]) -> None:
    harness = start_controller()
    connect(harness, "edge-1")
    apply(harness, configmap("app"), pod(volumes=[{"name": "cfg", "configMap": {"name": "app"}}]))
    to_edges(harness)

    apply(harness, pod())
    changed = to_edges(harness)
    apply(harness, pod(volumes=[{"name": "cfg", "configMap": {"name": "app"}}]))

    assert changed == [("delete", "node/edge-1/default/configmap/app"), ("update", "node/edge-1/default/pod/nginx")]
    assert to_edges(harness) == [("update", "node/edge-1/default/configmap/app"), ("update", "node/edge-1/default/pod/nginx")]
    assert harness.actor.pending_delete_count() == 0  # used again: its delete is no longer due


def test_a_new_configmap_for_a_node_is_an_insert_and_a_secret_is_always_an_update(start_controller: Callable[[], Harness]) -> None:
    harness = start_controller()
    connect(harness, "edge-1")

    apply(harness, configmap("app"), secret("token"), node="edge-1")

    assert to_edges(harness) == [("insert", "node/edge-1/default/configmap/app"), ("update", "node/edge-1/default/secret/token")]


def test_a_pod_moved_to_another_node_is_deleted_on_the_old_one(start_controller: Callable[[], Harness]) -> None:
    harness = start_controller()
    connect(harness, "edge-1")
    connect(harness, "edge-2")
    apply(harness, pod(node="edge-1"))
    harness.router.take()

    apply(harness, pod(node="edge-2"))

    assert to_edges(harness) == [("delete", "node/edge-1/default/pod/nginx"), ("insert", "node/edge-2/default/pod/nginx")]


def test_an_edge_query_for_a_configmap_is_answered_to_the_request(start_controller: Callable[[], Harness]) -> None:
    harness = start_controller()
    apply(harness, configmap("app"))
    query = make_message("query", "node/edge-1/default/configmap/app", source="metaManager", group="meta", sync=True)

    harness.deliver(query)

    [reply] = harness.router.take("send", "cloudhub")
    assert (reply.parent_id, reply.operation, reply.resource) == (query.id, "response", "node/edge-1/default/configmap/app")
    assert (reply.source, reply.group) == ("controller", "resource")
    assert reply.content["data"] == {"a": "1"}


def test_an_edge_query_for_a_missing_secret_is_not_answered_as_in_the_original(start_controller: Callable[[], Harness]) -> None:
    harness = start_controller()

    harness.deliver(make_message("query", "node/edge-1/default/secret/none", source="metaManager", group="meta", sync=True))

    assert harness.router.sent == []


def test_node_and_pod_status_reports_are_what_get_nodes_and_get_pods_show(start_controller: Callable[[], Harness]) -> None:
    harness = start_controller()
    connect(harness, "edge-1")
    apply(harness, pod("a"), pod("b"))
    uids = sent_uids(harness)
    ready = {"conditions": [{"type": "Ready", "status": "True"}], "nodeInfo": {"kubeletVersion": "v1.10.9-kubeedge-v1.0.0"}}
    running = {"phase": "Running", "containerStatuses": [{"ready": True, "restartCount": 2}]}

    harness.deliver(from_edge("edge-1", "update", "default/nodestatus/edge-1", {"UID": "u", "Status": ready, "ExtendResources": None}))
    harness.deliver(from_edge("edge-1", "update", "default/podstatus/a", {"UID": uids["a"], "Name": "a", "Status": running}))
    harness.deliver(from_edge("edge-1", "update", "default/podstatus", [{"UID": uids["b"], "Name": "b", "Status": {"phase": "Failed"}}]))

    [node] = api(harness, "list", {}, "nodes").content["items"]
    pods = api(harness, "list", {}, "pods").content["items"]
    assert (node["name"], node["connection"], node["ready"], node["version"]) == ("edge-1", "connected", "Ready", "v1.10.9-kubeedge-v1.0.0")
    assert [(p["name"], p["phase"], p["ready"], p["restarts"]) for p in pods] == [("a", "Running", "1/1", 2), ("b", "Failed", "0/1", 0)]


def test_a_status_of_an_earlier_pod_of_the_same_name_does_not_become_the_new_pods_status(
    start_controller: Callable[[], Harness],
) -> None:
    harness = start_controller()
    connect(harness, "edge-1")
    apply(harness, pod("a"))
    earlier_uid = sent_uids(harness)["a"]
    delete(harness, "Pod", "a")
    apply(harness, pod("a", image="nginx:1.26"))
    harness.router.take("send", "cloudhub")

    harness.deliver(from_edge("edge-1", "update", "default/podstatus/a", {"UID": earlier_uid, "Name": "a", "Status": {"phase": "Running"}}))

    [row] = api(harness, "list", {}, "pods").content["items"]
    assert (row["name"], row["phase"], row["status"]) == ("a", "Pending", None)
    assert harness.router.take("send", "cloudhub") == []


def test_a_status_for_a_pod_the_cloud_does_not_have_deletes_it_on_the_edge(start_controller: Callable[[], Harness]) -> None:
    harness = start_controller()
    connect(harness, "edge-1")

    harness.deliver(from_edge("edge-1", "update", "default/podstatus/stray", {"UID": "u", "Name": "stray", "Status": {"phase": "Running"}}))

    [deletion] = harness.router.take("send", "cloudhub")
    assert (deletion.operation, deletion.resource) == ("delete", "node/edge-1/default/pod/stray")
    assert api(harness, "list", {}, "pods").content["items"] == []


def test_a_bad_manifest_in_a_batch_applies_nothing_and_names_the_object(start_controller: Callable[[], Harness]) -> None:
    harness = start_controller()

    reply = api(harness, "apply", {"objects": [pod("fine"), {"kind": "Pod", "metadata": {"name": "broken"}}]})

    assert reply.is_error and reply.content == "pod/broken in namespace default: spec is missing"
    assert api(harness, "list", {}, "pods").content["items"] == []


def test_the_state_survives_a_restart_of_the_controller(start_controller: Callable[[], Harness]) -> None:
    harness = start_controller()
    connect(harness, "edge-1")
    apply(harness, pod("kept"), pod("gone"))
    connect(harness, "edge-1", False)
    delete(harness, "Pod", "gone")

    restarted = start_controller()
    nodes = api(restarted, "list", {}, "nodes").content["items"]
    connect(restarted, "edge-1")

    assert [(n["name"], n["connection"]) for n in nodes] == [("edge-1", "disconnected")]
    assert to_edges(restarted) == [("delete", "node/edge-1/default/pod/gone"), ("update", "node/edge-1/default/pod/kept")]


def test_nodes_named_by_pods_that_never_connected_are_listed(start_controller: Callable[[], Harness]) -> None:
    harness = start_controller()

    apply(harness, pod(node="far-away"))

    [node] = api(harness, "list", {}, "nodes").content["items"]
    assert (node["name"], node["connection"], node["ready"]) == ("far-away", "never connected", "Unknown")


def test_listing_secrets_never_shows_their_data(start_controller: Callable[[], Harness]) -> None:
    harness = start_controller()
    apply(harness, secret("token"), node="edge-1")

    [row] = api(harness, "list", {}, "secrets").content["items"]

    assert row == {"namespace": "default", "name": "token", "data": 1, "nodes": ["edge-1"], "created": row["created"]}
