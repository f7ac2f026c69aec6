"""The cloud controller on the Kubernetes API (docs/protocol.md#12.5) against the embedded API
server, through the official client only: what reaches the edges, what the edges report, the
API server restarted mid-watch and objects changed while the controller is down."""

from __future__ import annotations

from typing import Any

from kubernetes.client import CustomObjectsApi

from kubeedge_actors.testing import wait_until
from tests.kube.controller_site import ControllerSite, edge_node, pod, ready_of
from tests.kube.site import KubeSite

RUNNING = {"phase": "Running", "containerStatuses": [{"name": "main", "ready": True, "restartCount": 0, "state": {"running": {}}}]}


def configmap(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data or {"a": "1"}}


def secret(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": {"t": "s3cret"}}


def started_with_node(site: ControllerSite, name: str = "edge-1") -> ControllerSite:
    site.create_node(edge_node(name))
    site.start()
    site.connect(name)
    return site


def test_a_pod_on_an_edge_node_reaches_its_node_after_the_configmap_it_uses_and_a_spec_change_is_an_update(site: ControllerSite) -> None:
    started_with_node(site)
    with site.core() as core:
        core.create_namespaced_config_map("default", configmap("app"))
        site.wait_watched("ConfigMap", "app")  # else the pod's event may come first: the edge waits for the configmap then
        core.create_namespaced_pod("default", pod("web", uses=(("ConfigMap", "app"),)))
        site.wait_sent(("update", "node/edge-1/default/configmap/app"), ("insert", "node/edge-1/default/pod/web"))
        core.patch_namespaced_pod("web", "default", {"metadata": {"labels": {"tier": "front"}}})
        site.wait_sent(("insert", "node/edge-1/default/pod/web"), ("update", "node/edge-1/default/pod/web"))
        core.patch_namespaced_config_map("app", "default", {"data": {"a": "2"}})
        updated = site.wait_sent(("update", "node/edge-1/default/pod/web"), ("update", "node/edge-1/default/configmap/app"))

    assert updated.content["data"] == {"a": "2"}
    inserted = next(m for m in site.probe.messages if m.operation == "insert")
    assert inserted.content["kind"] == "Pod" and "status" not in inserted.content
    assert inserted.content["spec"]["nodeName"] == "edge-1"


def test_pods_of_other_nodes_and_objects_no_pod_of_an_edge_uses_never_reach_an_edge(site: ControllerSite) -> None:
    started_with_node(site)
    with site.core() as core:
        core.create_node({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "cloud-1"}})
        core.create_namespaced_secret("default", secret("unused"))
        core.create_namespaced_pod("default", pod("elsewhere", "cloud-1"))
        core.create_namespaced_pod("default", pod("here"))
    site.wait_sent(("insert", "node/edge-1/default/pod/here"))

    assert site.sent() == [("insert", "node/edge-1/default/pod/here")]


def test_a_secret_reaches_a_node_only_while_a_pod_there_uses_it(site: ControllerSite) -> None:
    started_with_node(site)
    with site.core() as core:
        core.create_namespaced_secret("default", secret("token"))
        site.wait_watched("Secret", "token")
        core.create_namespaced_pod("default", pod("a", uses=(("Secret", "token"),)))
        site.wait_sent(("update", "node/edge-1/default/secret/token"), ("insert", "node/edge-1/default/pod/a"))
        core.delete_namespaced_pod("a", "default", grace_period_seconds=0)
        site.wait_sent(("delete", "node/edge-1/default/pod/a"), ("delete", "node/edge-1/default/secret/token"))
        core.patch_namespaced_secret("token", "default", {"stringData": {"t": "changed"}})
        core.create_namespaced_pod("default", pod("b"))
        site.wait_sent(("insert", "node/edge-1/default/pod/b"))

    assert site.sent().count(("update", "node/edge-1/default/secret/token")) == 1  # its change went nowhere: no pod uses it


def test_the_edges_node_status_makes_the_node_ready_and_its_disconnect_unknown(site: ControllerSite) -> None:
    site.start()
    site.connect("edge-2")
    site.node_status(
        "edge-2", {"conditions": [{"type": "Ready", "status": "True", "reason": "EdgeReady"}], "nodeInfo": {"kubeletVersion": "v1.0"}}
    )
    node = wait_until(lambda: site.read_node("edge-2"), 30, 0.05, "the Node made from the edge's status")
    assert node["metadata"]["labels"] == {"node-role.kubernetes.io/edge": ""}
    wait_until(lambda: ready_of(site.read_node("edge-2")) == "True", 30, 0.05, "Ready")

    site.connect("edge-2", False)
    wait_until(lambda: ready_of(site.read_node("edge-2")) == "Unknown", 30, 0.05, "Unknown once the edge is away")
    site.node_status("edge-2", {"conditions": [{"type": "Ready", "status": "True", "reason": "EdgeReady"}]})
    wait_until(lambda: ready_of(site.read_node("edge-2")) == "True", 30, 0.05, "Ready again with the next status")


def test_an_edge_never_writes_the_status_of_a_node_without_the_edge_label(site: ControllerSite) -> None:
    with site.core() as core:
        core.create_node({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "cloud-1"}})
    site.start()
    site.node_status("cloud-1", {"conditions": [{"type": "Ready", "status": "True"}]})
    site.node_status("edge-3", {"conditions": [{"type": "Ready", "status": "True"}]})
    wait_until(lambda: site.read_node("edge-3"), 30, 0.05, "the later report written")

    assert ready_of(site.read_node("cloud-1")) is None


def test_the_edges_pod_status_becomes_the_pods_status(site: ControllerSite) -> None:
    started_with_node(site)
    with site.core() as core:
        core.create_namespaced_pod("default", pod("web"))
    inserted = site.wait_sent(("insert", "node/edge-1/default/pod/web"))
    site.pod_status("edge-1", "web", inserted.content["metadata"]["uid"], RUNNING)

    running = wait_until(lambda: (p := site.read_pod("web")) and p["status"]["phase"] == "Running" and p, 30, 0.05, "Running")
    assert running["status"]["containerStatuses"][0]["state"] == {"running": {}}


def test_a_pod_deleted_with_a_grace_period_stays_terminating_until_the_edge_acknowledges_the_delete(site: ControllerSite) -> None:
    started_with_node(site)
    with site.core() as core:
        core.create_namespaced_pod("default", pod("web", terminationGracePeriodSeconds=30))
        site.wait_sent(("insert", "node/edge-1/default/pod/web"))
        core.delete_namespaced_pod("web", "default")
    delete = site.wait_sent(("delete", "node/edge-1/default/pod/web"))
    terminating = site.read_pod("web")
    site.acknowledge(delete)

    assert terminating is not None and terminating["metadata"]["deletionTimestamp"]
    wait_until(lambda: site.read_pod("web") is None, 30, 0.05, "the pod removed once the edge said it deleted it")


def test_a_change_after_the_api_server_restarted_mid_watch_reaches_the_edge(site: ControllerSite) -> None:
    started_with_node(site)
    with site.core() as core:
        core.create_namespaced_pod("default", pod("before"))
    site.wait_sent(("insert", "node/edge-1/default/pod/before"))

    site.kube.restart()  # every watch breaks; the versions they had are before the restart: 410, then a list
    with site.core() as core:
        core.create_namespaced_pod("default", pod("after"))
        core.delete_namespaced_pod("before", "default", grace_period_seconds=0)

    site.wait_sent(("insert", "node/edge-1/default/pod/after"))
    site.wait_sent(("delete", "node/edge-1/default/pod/before"))


def changed_while_the_controller_was_down(site: ControllerSite) -> None:
    """Pods ``gone`` and ``changed`` sent to edge-1; with the runtime stopped, ``gone`` deleted,
    ``changed`` labelled ``v: 2`` and ``new`` created; the runtime started again."""
    started_with_node(site)
    with site.core() as core:
        core.create_namespaced_pod("default", pod("gone"))
        core.create_namespaced_pod("default", pod("changed"))
    # One at a time: pods created before kubeapi is in step go together, in name order.
    site.wait_sent(("insert", "node/edge-1/default/pod/gone"))
    site.wait_sent(("insert", "node/edge-1/default/pod/changed"))
    site.stop()

    with site.core() as core:
        core.delete_namespaced_pod("gone", "default", grace_period_seconds=0)
        core.patch_namespaced_pod("changed", "default", {"metadata": {"labels": {"v": "2"}}})
        core.create_namespaced_pod("default", pod("new"))
    site.probe.clear()
    site.start()


def wait_changes_sent(site: ControllerSite) -> None:
    site.wait_sent(("delete", "node/edge-1/default/pod/gone"))
    site.wait_message(lambda m: m.resource == "node/edge-1/default/pod/new" and m.operation in ("insert", "update"), "the new pod sent")
    site.wait_message(lambda m: m.resource == "node/edge-1/default/pod/changed" and m.content["metadata"].get("labels") == {"v": "2"},
                      "the change sent")  # fmt: skip


def test_objects_changed_while_the_controller_was_down_reach_the_edge_when_it_starts_again(site: ControllerSite) -> None:
    changed_while_the_controller_was_down(site)
    site.connect("edge-1")

    # Either order: the connect's catch-up first (the pods as they were), then kubeapi's apply
    # and delete; or those first (the edge away: stored, the delete pending) and the catch-up
    # carrying them, the new pod as an update, which edged runs as it would an insert.
    wait_changes_sent(site)


def test_objects_changed_while_the_controller_was_down_reach_an_edge_that_connects_after_the_controller_caught_up(
    site: ControllerSite,
) -> None:
    changed_while_the_controller_was_down(site)
    assert site.runtime is not None
    controller = site.runtime.actor_ref("controller")
    assert controller is not None
    # kubeapi hands over the apply, then the delete: the delete pending means both were taken.
    wait_until(lambda: controller.proxy().pending_delete_count().get(timeout=5) == 1, 30, 0.05, "the delete of gone pending")
    assert site.sent() == []
    site.connect("edge-1")

    wait_changes_sent(site)
    assert site.sent().count(("update", "node/edge-1/default/pod/new")) == 1


def test_a_device_reaches_its_node_through_the_device_controller_and_its_reported_twin_comes_back_into_its_status(kube: KubeSite) -> None:
    site = ControllerSite(kube, devices=True)
    expression = {"key": "", "operator": "In", "values": ["edge-1"]}
    device = {
        "apiVersion": "devices.kubeedge.io/v1alpha1",
        "kind": "Device",
        "metadata": {"name": "thermometer"},
        "spec": {
            "deviceModelRef": {"name": "thermometer-model"},
            "nodeSelector": {"nodeSelectorTerms": [{"matchExpressions": [expression]}]},
        },
        "status": {"twins": [{"propertyName": "temperature", "desired": {"metadata": {"type": "string"}, "value": "25"}}]},
    }
    try:
        started_with_node(site)
        with kube.client() as api_client:
            custom = CustomObjectsApi(api_client)
            custom.create_namespaced_custom_object("devices.kubeedge.io", "v1alpha1", "default", "devices", device)
            updated = site.wait_sent(("update", "node/edge-1/membership"), ("update", "node/edge-1/device/thermometer/twin/cloud_updated"))
            twin = {"temperature": {"actual": {"value": "24.5", "metadata": {"timestamp": 1700000000000}}, "metadata": {"type": "string"}}}
            site.twin_reported("edge-1", "thermometer", twin)

            def reported() -> Any:
                shown = custom.get_namespaced_custom_object("devices.kubeedge.io", "v1alpha1", "default", "devices", "thermometer")
                return shown["status"]["twins"][0].get("reported")

            shown = wait_until(reported, 30, 0.05, "the reported value in the Device's status")
            desired = [{"propertyName": "temperature", "desired": {"metadata": {"type": "string"}, "value": "26"}, "reported": shown}]
            custom.patch_namespaced_custom_object("devices.kubeedge.io", "v1alpha1", "default", "devices", "thermometer",
                                                  {"status": {"twins": desired}})  # fmt: skip
            site.wait_sent(("update", "node/edge-1/device/thermometer/twin/cloud_updated"),
                           ("update", "node/edge-1/device/thermometer/twin/cloud_updated"))  # fmt: skip
    finally:
        site.stop()

    assert updated.content["twin"]["temperature"]["expected"]["value"] == "25"
    assert shown == {"value": "24.5", "metadata": {"timestamp": 1700000000000, "type": "string"}}
    # The write of the reported value was no change for the edge; the new desired value was (watch events come in order).
    assert site.sent().count(("update", "node/edge-1/device/thermometer/twin/cloud_updated")) == 2
