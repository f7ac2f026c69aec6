"""The scheduler (docs/protocol.md#12.5): the choice itself, pure, and pods without a node placed
through the controller against the embedded API server (``pods/binding``)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes.client import ApiException, CoreV1Api, V1Binding, V1ObjectMeta, V1ObjectReference

from kubeedge_actors.testing import wait_until
from kubeedge_cloud.kube.scheduler import place, requests_of
from tests.kube.controller_site import ControllerSite, edge_node, pod
from tests.kube.site import KubeSite


def bound(name: str, node: str, cpu: str) -> dict[str, Any]:
    return pod(name, node, cpu=cpu)


def test_a_pod_goes_to_the_least_loaded_ready_edge_node_that_matches_its_selector() -> None:
    nodes = [
        edge_node("busy", zone="a"),
        edge_node("idle", zone="a"),
        edge_node("other-zone", zone="b"),
        edge_node("down", ready=False, zone="a"),
    ]
    pods = [bound("p1", "busy", "1500m")]

    placement = place(pod("new", None, cpu="100m", nodeSelector={"zone": "a"}), nodes, pods)

    assert placement.node == "idle"


def test_equal_loads_go_to_the_node_with_fewer_pods_then_by_name() -> None:
    nodes = [edge_node("b"), edge_node("a"), edge_node("c")]
    pods = [pod("x", "a"), pod("y", "a")]  # no requests: the same load everywhere

    assert place(pod("new", None), nodes, pods).node == "b"
    assert place(pod("new", None), nodes[:1] + nodes[2:], []).node == "b"


def test_a_pod_that_fits_nowhere_is_unschedulable_with_kube_schedulers_reason() -> None:
    nodes = [edge_node("small", cpu="1", zone="a"), edge_node("down", ready=False, zone="a"), edge_node("elsewhere", cpu="4", zone="b")]

    placement = place(pod("big", None, cpu="2", nodeSelector={"zone": "a"}), nodes, [])
    no_node = place(pod("p", None), [], [])

    assert placement.node is None
    assert placement.reason == (
        "0/3 nodes are available: 1 node(s) not ready, 1 node(s) didn't match Pod's node affinity/selector, "
        "1 node(s) had insufficient resources."
    )
    assert no_node.reason == "0/0 nodes are available: no edge node."


def test_requests_are_summed_over_containers_and_a_larger_init_container_counts_alone() -> None:
    spec = {
        "spec": {
            "containers": [{"resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}}, {"resources": {"requests": {"cpu": "250m"}}}],
            "initContainers": [{"resources": {"requests": {"cpu": "1"}}}],
        }
    }

    requests = requests_of(spec)

    assert (requests["cpu"], requests["memory"]) == (1, 64 * 1024 * 1024)


def test_a_pod_without_a_node_is_bound_to_an_edge_node_and_reaches_it(site: ControllerSite) -> None:
    site.create_node(edge_node("edge-1"))
    site.start()
    site.connect("edge-1")
    with site.core() as core:
        core.create_namespaced_pod("default", pod("floating", None, cpu="100m"))

    site.wait_sent(("insert", "node/edge-1/default/pod/floating"))
    placed = site.read_pod("floating")
    assert placed is not None and placed["spec"]["nodeName"] == "edge-1"


def test_an_unschedulable_pod_says_why_and_is_placed_once_a_node_fits(site: ControllerSite) -> None:
    site.create_node(edge_node("edge-1", cpu="1"))
    site.start()
    site.connect("edge-1")
    with site.core() as core:
        core.create_namespaced_pod("default", pod("big", None, cpu="2"))

    def scheduled_condition() -> dict[str, Any] | None:
        current = site.read_pod("big") or {}
        return next((c for c in current.get("status", {}).get("conditions") or [] if c["type"] == "PodScheduled"), None)

    condition = wait_until(scheduled_condition, 30, 0.05, "PodScheduled written")
    assert (condition["status"], condition["reason"]) == ("False", "Unschedulable")
    assert condition["message"] == "0/1 nodes are available: 1 node(s) had insufficient resources."

    site.connect("edge-2")  # before its Node: the pod then goes to a connected node, as an insert
    site.create_node(edge_node("edge-2", cpu="4"))
    site.wait_sent(("insert", "node/edge-2/default/pod/big"))


def test_the_binding_subresource_refuses_a_pod_that_already_has_a_node(kube: KubeSite) -> None:
    with kube.client() as api_client:
        core = CoreV1Api(api_client)
        core.create_namespaced_pod("default", pod("p", None))
        binding = V1Binding(metadata=V1ObjectMeta(name="p"), target=V1ObjectReference(kind="Node", name="edge-1"))
        core.create_namespaced_pod_binding("p", "default", binding, _preload_content=False)
        with pytest.raises(ApiException) as raised:
            core.create_namespaced_pod_binding("p", "default", binding, _preload_content=False)
        node = core.read_namespaced_pod("p", "default").spec.node_name

    assert node == "edge-1"
    assert raised.value.status == 409
    assert (
        json.loads(raised.value.body)["message"] == 'Operation cannot be fulfilled on pods "p": pod p is already assigned to node "edge-1"'
    )
