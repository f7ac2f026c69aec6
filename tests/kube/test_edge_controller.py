"""The controller's rules alone (kubeedge_cloud/kube/controller.py, docs/protocol.md#12.5): watched
objects and the edges' reports in, commands out; no server, no threads."""

from __future__ import annotations

from typing import Any

from kubeedge_actors.testing import make_message
from kubeedge_cloud.kube.controller import Apply, Command, Delete, EdgeController, Write
from kubeedge_cloud.names import DEVICE_CONTROLLER_MODULE
from tests.kube.controller_site import edge_node, pod


def meta(obj: dict[str, Any], **fields: Any) -> dict[str, Any]:
    obj["metadata"] = {"namespace": "default", "uid": f"uid-{obj['metadata']['name']}", "resourceVersion": "7", **obj["metadata"], **fields}
    return obj


def configmap(name: str) -> dict[str, Any]:
    return meta({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "1"}})


def synced(*objects: dict[str, Any], inventory: tuple[tuple[str, str, str], ...] = ()) -> tuple[EdgeController, list[Command]]:
    state = EdgeController()
    commands: list[Command] = []
    for kind in ("Node", "Pod", "ConfigMap", "Secret", "DeviceModel", "Device"):
        commands += state.on_listed(kind, [o for o in objects if o["kind"] == kind])
    commands += state.on_inventory(inventory)
    return state, commands


def applied(commands: list[Command]) -> list[tuple[str, str]]:
    return [(o["kind"], o["metadata"]["name"]) for c in commands if isinstance(c, Apply) for o in c.objects]


def deleted(commands: list[Command]) -> list[tuple[str, str, str]]:
    return [key for c in commands if isinstance(c, Delete) for key in c.keys]


def test_nothing_is_handed_over_before_every_list_and_the_inventory_are_in() -> None:
    state = EdgeController()
    early = state.on_listed("Node", [edge_node("edge-1")]) + state.on_listed("Pod", [meta(pod("web"))])

    assert early == []
    assert not state.synced


def test_a_pod_on_an_edge_node_goes_with_the_configmap_it_uses_first_and_without_its_status() -> None:
    web = meta(pod("web", uses=(("ConfigMap", "app"),)))
    web["status"] = {"phase": "Pending"}

    _state, commands = synced(edge_node("edge-1"), web, configmap("app"), configmap("unused"))

    assert applied(commands) == [("ConfigMap", "app"), ("Pod", "web")]
    [apply] = [c for c in commands if isinstance(c, Apply)]
    assert "status" not in apply.objects[1] and "resourceVersion" not in apply.objects[1]["metadata"]


def test_a_pod_whose_node_becomes_an_edge_node_is_handed_over_then() -> None:
    plain = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "edge-1"}}
    state, commands = synced(plain, meta(pod("web")))

    joined = state.on_watched("Node", "MODIFIED", edge_node("edge-1"))

    assert applied(commands) == []
    assert applied(joined) == [("Pod", "web")]


def test_a_status_only_change_is_not_handed_over_and_a_spec_change_is() -> None:
    web = meta(pod("web"))
    state, _ = synced(edge_node("edge-1"), web)

    status_only = state.on_watched("Pod", "MODIFIED", {**web, "status": {"phase": "Running"}})
    relabelled = state.on_watched("Pod", "MODIFIED", meta(pod("web"), labels={"v": "2"}))

    assert applied(status_only) == []
    assert applied(relabelled) == [("Pod", "web")]


def test_the_last_pod_using_a_configmap_going_deletes_the_configmap_after_the_pod() -> None:
    web = meta(pod("web", uses=(("ConfigMap", "app"),)))
    state, _ = synced(edge_node("edge-1"), web, configmap("app"))

    commands = state.on_watched("Pod", "DELETED", web)

    assert deleted(commands) == [("Pod", "default", "web"), ("ConfigMap", "default", "app")]


def test_pods_the_controller_module_has_but_the_api_does_not_are_deleted_at_start() -> None:
    _state, commands = synced(edge_node("edge-1"), meta(pod("kept")), inventory=(("Pod", "default", "gone"), ("Pod", "default", "kept")))

    assert deleted(commands) == [("Pod", "default", "gone")]
    assert applied(commands) == [("Pod", "kept")]  # compared again: the module answers "unchanged"


def test_a_new_list_without_an_object_deletes_it() -> None:
    state, _ = synced(edge_node("edge-1"), meta(pod("a")), meta(pod("b")))

    commands = state.on_listed("Pod", [meta(pod("a"))])

    assert deleted(commands) == [("Pod", "default", "b")]


def test_a_terminating_pod_is_deleted_on_its_edge_and_removed_once_the_edge_acknowledges() -> None:
    web = meta(pod("web"))
    state, _ = synced(edge_node("edge-1"), web)

    terminating = state.on_watched("Pod", "MODIFIED", meta(pod("web"), deletionTimestamp="2026-01-01T00:00:00Z"))
    again = state.on_watched("Pod", "MODIFIED", meta(pod("web"), deletionTimestamp="2026-01-01T00:00:00Z", labels={"x": "y"}))
    acknowledged = state.on_edge(make_message("response", "node/edge-1/default/pod/web", "OK", source="controller", group="controller"))

    assert deleted(terminating) == [("Pod", "default", "web")]
    assert again == []  # one delete per pod
    assert acknowledged == [Write("delete_pod_now", ("default", "web", "uid-web"))]


def test_a_terminating_pod_the_controller_module_never_had_is_removed_at_once() -> None:
    state, _ = synced(edge_node("edge-1"))
    state.on_watched("Pod", "ADDED", meta(pod("web"), deletionTimestamp="2026-01-01T00:00:00Z"))

    commands = state.on_deleted([{"kind": "Pod", "namespace": "default", "name": "web", "action": "not found", "nodes": []}])

    assert commands == [Write("delete_pod_now", ("default", "web", "uid-web"))]


def test_the_edges_reports_become_writes_and_a_disconnect_makes_a_known_node_unknown() -> None:
    state, _ = synced(edge_node("edge-1"), meta(pod("web")))
    report = {"UID": "u", "Name": "web", "Status": {"phase": "Running"}}

    node_status = state.on_edge(make_message("update", "node/edge-1/default/nodestatus/edge-1", {"Status": {}}))
    pod_status = state.on_edge(make_message("update", "node/edge-1/default/podstatus", [report]))
    away = state.on_edge(make_message("disconnected", "node/edge-1", ""))
    stranger_away = state.on_edge(make_message("disconnected", "node/edge-9", ""))

    assert node_status == [Write("node_status", ("edge-1", {"Status": {}}))]
    assert pod_status == [Write("pod_status", ("edge-1", "default", "web", {"phase": "Running"}))]
    assert (away, stranger_away) == ([Write("node_away", ("edge-1",))], [])


def test_a_status_of_a_pod_the_api_does_not_have_on_that_node_is_not_written_once_the_lists_are_in() -> None:
    before_lists = EdgeController()
    state, _ = synced(edge_node("edge-1"), edge_node("edge-2"), meta(pod("web")))
    reports = [{"Name": name, "Status": {"phase": "Running"}} for name in ("web", "applied-with-ctl")]

    unsynced = before_lists.on_edge(make_message("update", "node/edge-1/default/podstatus", reports))
    from_its_node = state.on_edge(make_message("update", "node/edge-1/default/podstatus", reports))
    from_another_node = state.on_edge(make_message("update", "node/edge-2/default/podstatus", reports))

    assert [write.args[2] for write in unsynced if isinstance(write, Write)] == ["web", "applied-with-ctl"]
    assert from_its_node == [Write("pod_status", ("edge-1", "default", "web", {"phase": "Running"}))]
    assert from_another_node == []


def test_devices_go_to_the_device_controller_models_first_without_reported_values() -> None:
    model = meta({"apiVersion": "devices.kubeedge.io/v1alpha1", "kind": "DeviceModel", "metadata": {"name": "m"}, "spec": {}})
    twins = [{"propertyName": "t", "desired": {"value": "1"}, "reported": {"value": "2"}}]
    device = meta({"apiVersion": "devices.kubeedge.io/v1alpha1", "kind": "Device", "metadata": {"name": "d"}, "status": {"twins": twins}})

    state, commands = synced(device, model)
    reported_only = state.on_watched("Device", "MODIFIED", {**device, "status": {"twins": [{**twins[0], "reported": {"value": "3"}}]}})

    [apply] = [c for c in commands if isinstance(c, Apply)]
    assert apply.module == DEVICE_CONTROLLER_MODULE
    assert applied(commands) == [("DeviceModel", "m"), ("Device", "d")]
    assert apply.objects[1]["status"]["twins"] == [{"propertyName": "t", "desired": {"value": "1"}}]
    assert reported_only == []


def test_a_pod_without_a_node_is_bound_once_and_one_that_fits_nowhere_is_marked() -> None:
    state, commands = synced(edge_node("edge-1", cpu="1"), meta(pod("small", None, cpu="500m")), meta(pod("big", None, cpu="2")))

    writes = sorted((c.method, c.args) for c in commands if isinstance(c, Write))
    again = state.on_watched("Pod", "MODIFIED", meta(pod("small", None, cpu="500m"), labels={"x": "y"}))

    assert writes == [
        ("bind", ("default", "small", "edge-1")),
        ("unschedulable", ("default", "big", "0/1 nodes are available: 1 node(s) had insufficient resources.")),
    ]
    assert again == []  # being placed: not bound twice
