"""Tier 3: the edge's hub against this project's cloud hub over real TLS websockets on
loopback, driven through the control API and ``ctl`` as a user would."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pykka
import pytest
import websocket

from kubeedge_actors.message import encode_message
from kubeedge_actors.testing import make_message, wait_until
from tests.cloud.running import RunningCloudHub, edge_config
from tests.hub.edge import RunningEdge, start_edge
from tests.services import TlsFiles

StartEdge = Callable[..., RunningEdge]


@pytest.fixture
def edge(cloud: RunningCloudHub, tls_files: TlsFiles) -> Iterator[StartEdge]:
    edges: list[RunningEdge] = []

    def start(node_id: str = "edge-1", **values: Any) -> RunningEdge:
        running = start_edge(edge_config(cloud, tls_files, node_id, **values))
        edges.append(running)
        return running

    yield start
    for running in edges:
        running.stop()
        running.router.close()


def pod(name: str, node: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox:1.36"}], **spec},
    }


def apply(cloud: RunningCloudHub, *objects: dict[str, Any]) -> list[dict[str, Any]]:
    status, answer = cloud.api.call("POST", "apply", list(objects))
    assert status == 200, answer
    return list(answer["results"])


def wait_connected(cloud: RunningCloudHub, *edges: RunningEdge) -> None:
    """Each edge heard it is connected and the cloud's controller took the connection: only
    then does an applied pod go to the edge at once, as an insert."""
    for running in edges:
        running.wait_connected()
        cloud.wait_node_connected(running.node_id)


def pods_on(edge: RunningEdge, operation: str) -> list[str]:
    return [m.resource for m in edge.meta.messages if m.operation == operation and "/pod/" in m.resource]


def test_a_pod_pushed_by_the_cloud_reaches_meta_and_the_ack_goes_back(cloud: RunningCloudHub, edge: StartEdge) -> None:
    node = edge("edge-1")
    wait_connected(cloud, node)

    apply(cloud, pod("nginx", "edge-1"))
    pushed = node.meta.wait_for(lambda m: m.resource == "default/pod/nginx")
    node.router.send("websocket", pushed.reply("OK"))

    assert (pushed.source, pushed.group, pushed.operation) == ("controller", "resource", "insert")
    assert pushed.content["metadata"]["name"] == "nginx" and not pushed.is_sync


def test_what_the_edge_reports_is_what_ctl_get_shows(cloud: RunningCloudHub, edge: StartEdge) -> None:
    node = edge("edge-1")
    node.wait_connected()
    apply(cloud, pod("nginx", "edge-1"))
    ready = {"conditions": [{"type": "Ready", "status": "True"}], "nodeInfo": {"kubeletVersion": "v1.10.9-kubeedge-v1.0.0"}}
    running = {"phase": "Running", "containerStatuses": [{"ready": True, "restartCount": 0}]}

    node.router.send(
        "websocket", make_message("update", "default/nodestatus/edge-1", {"UID": "u", "Status": ready}, source="edged", group="meta")
    )
    node.router.send(
        "websocket", make_message("update", "default/podstatus/nginx", {"Name": "nginx", "Status": running}, source="edged", group="meta")
    )

    wait_until(lambda: "Running" in cloud.control("get", "pods")[1], what="the pod shown Running")
    code, nodes, _ = cloud.control("get", "nodes")
    assert code == 0
    name, ready_column, connection, _age, version = nodes.splitlines()[1].split()
    assert [name, ready_column, connection, version] == ["edge-1", "Ready", "connected", "v1.10.9-kubeedge-v1.0.0"]
    assert cloud.control("get", "pods")[1].splitlines()[1].split()[:5] == ["nginx", "1/1", "Running", "0", "edge-1"]


def test_a_configmap_query_of_the_edge_is_answered_to_its_sync_waiter(cloud: RunningCloudHub, edge: StartEdge) -> None:
    node = edge("edge-1")
    node.wait_connected()
    apply(cloud, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app"}, "data": {"mode": "edge"}})
    query = make_message("query", "default/configmap/app", source="metaManager", group="meta")

    reply = node.router.send_sync("websocket", query, timeout_s=10).result(10)

    assert (reply.parent_id, reply.operation, reply.resource) == (query.id, "response", "default/configmap/app")
    assert reply.content["data"] == {"mode": "edge"}
    assert not [m for m in node.meta.messages if m.operation == "response"]


def test_a_pod_deleted_in_the_cloud_while_the_edge_was_away_is_deleted_when_it_comes_back(cloud: RunningCloudHub, edge: StartEdge) -> None:
    node = edge("edge-1")
    node.wait_connected()
    apply(cloud, pod("gone", "edge-1"), pod("kept", "edge-1"))
    node.meta.wait_for(lambda m: m.resource == "default/pod/kept")
    node.stop()

    assert cloud.control("delete", "pod", "gone")[0] == 0
    back = edge("edge-1")
    deletion = back.meta.wait_for(lambda m: m.operation == "delete")
    back.meta.wait_for(lambda m: m.resource == "default/pod/kept")  # sent after the pending delete
    back.router.send("websocket", deletion.reply("OK"))
    wait_until(lambda: cloud.actor("controller").pending_delete_count().get() == 0, what="the delete retired")
    back.stop()
    again = edge("edge-1")
    again.meta.wait_for(lambda m: m.resource == "default/pod/kept")  # a delete would have come first

    assert deletion.resource == "default/pod/gone"
    assert pods_on(back, "update") == ["default/pod/kept"]
    assert pods_on(again, "delete") == []


def test_after_a_cloud_hub_restart_the_edge_reconnects_its_state_is_kept_and_queued_reports_arrive_in_order(
    cloud: RunningCloudHub, edge: StartEdge
) -> None:
    node = edge("edge-1")
    wait_connected(cloud, node)
    apply(cloud, pod("nginx", "edge-1"))
    node.meta.wait_for(lambda m: m.resource == "default/pod/nginx")

    cloud.stop()
    node.twin.wait_for(lambda m: m.content == "cloud_disconnected")
    for phase in ("Pending", "Running", "Succeeded"):
        status = {"Name": "nginx", "Status": {"phase": phase}}
        node.router.send("websocket", make_message("update", "default/podstatus/nginx", status, source="edged", group="meta"))
    cloud.start()
    node.wait_connected(times=2)

    wait_until(lambda: "Succeeded" in cloud.control("get", "pods")[1], what="the last status recorded last")
    node.meta.wait_for(lambda m: m.operation == "update" and m.resource == "default/pod/nginx")  # the cloud re-sends its objects
    assert pods_on(node, "update") == ["default/pod/nginx"]
    assert node.connection_events() == ["cloud_connected", "cloud_disconnected", "cloud_connected"]


def test_two_edge_nodes_on_one_hub_each_get_their_own_pods(cloud: RunningCloudHub, edge: StartEdge) -> None:
    first, second = edge("edge-1"), edge("edge-2")
    wait_connected(cloud, first, second)

    apply(cloud, pod("a", "edge-1"), pod("b", "edge-2"), pod("c", "edge-1"))

    first.meta.wait_for(lambda m: m.resource == "default/pod/c")
    second.meta.wait_for(lambda m: m.resource == "default/pod/b")
    assert pods_on(first, "insert") == ["default/pod/a", "default/pod/c"]
    assert pods_on(second, "insert") == ["default/pod/b"]
    nodes = cloud.control("get", "nodes")[1]
    assert [line.split()[:3] for line in nodes.splitlines()[1:]] == [["edge-1", "Unknown", "connected"], ["edge-2", "Unknown", "connected"]]


def test_a_second_edge_with_the_same_node_id_takes_over_from_the_first(cloud: RunningCloudHub, edge: StartEdge) -> None:
    older = edge("edge-1", **{"edgehub.reconnect.initial-interval": 60.0, "edgehub.reconnect.max-interval": 60.0})
    older.wait_connected()

    newer = edge("edge-1")
    newer.wait_connected()
    older.twin.wait_for(lambda m: m.content == "cloud_disconnected")
    apply(cloud, pod("nginx", "edge-1"))

    newer.meta.wait_for(lambda m: m.resource == "default/pod/nginx")
    assert pods_on(older, "insert") == []
    assert older.proxy().unrouted_counts.get()["cloudhub"] == 1  # the original's disconnect notice


def test_an_edge_beyond_the_node_limit_is_refused_with_429_and_keeps_trying(
    tmp_path: Path, tls_files: TlsFiles, caplog: pytest.LogCaptureFixture
) -> None:
    cloud = RunningCloudHub(tmp_path, tls_files, **{"cloudhub.node-limit": 1}).start()
    edges = []
    try:
        with caplog.at_level(logging.WARNING):
            edges.append(first := start_edge(edge_config(cloud, tls_files, "edge-1")))
            first.wait_connected()
            edges.append(second := start_edge(edge_config(cloud, tls_files, "edge-2")))
            wait_until(lambda: second.proxy().dial_count.get() >= 3, what="three refused dials")

        assert not second.proxy().connected.get()
        assert any("HTTP 429 too many Nodes connected" in r.getMessage() for r in caplog.records)
    finally:
        pykka.ActorRegistry.stop_all()
        for running in edges:
            running.router.close()
        cloud.stop()


def test_garbage_from_an_edge_is_skipped_and_its_link_stays_up(cloud: RunningCloudHub, tls_files: TlsFiles) -> None:
    tls = tls_files.for_node("raw-edge")
    sslopt = {"ca_certs": str(tls.ca), "certfile": str(tls.client_cert), "keyfile": str(tls.client_key)}
    raw = websocket.create_connection(cloud.url("raw-edge"), sslopt=sslopt, timeout=10)
    status = make_message("update", "default/nodestatus/raw-edge", {"Status": {"conditions": [{"type": "Ready", "status": "True"}]}})

    for garbage in ("garbage", b"\x00\x01", '{"header": []}', "null"):
        raw.send(garbage)
    raw.send(encode_message(status))

    wait_until(lambda: "Ready" in cloud.control("get", "nodes")[1], what="the status after the garbage")
    assert cloud.actor("cloudhub").bad_frame_count.get() == 4
    assert raw.connected
    raw.close()


def test_an_edge_sending_keepalives_stays_connected_past_the_keepalive_interval(tmp_path: Path, tls_files: TlsFiles) -> None:
    cloud = RunningCloudHub(tmp_path, tls_files, **{"cloudhub.keepalive-interval": 0.5}).start()
    try:
        talking = start_edge(edge_config(cloud, tls_files, "talking", **{"edgehub.controller.heartbeat": 0.1}))
        silent = start_edge(edge_config(cloud, tls_files, "silent", **{"edgehub.controller.heartbeat": 30.0}))

        silent.twin.wait_for(lambda m: m.content == "cloud_disconnected", timeout_s=10)  # dropped after 0.5 s of silence
        wait_until(lambda: cloud.actor("cloudhub").keepalives_received().get() >= 15, what="1.5 s of keepalives")

        assert talking.connection_events() == ["cloud_connected"]
    finally:
        pykka.ActorRegistry.stop_all()
        cloud.stop()
