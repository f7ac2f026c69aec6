"""Tier 1: Docker going away and coming back, status delivery, node status, garbage collection."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import replace

import pytest

from actors.edged.model import ContainerInfo
from actors.protocol import Module
from kubeedge_actors.errors import SyncTimeoutError
from kubeedge_actors.testing import make_message
from tests.edged.builders import make_pod
from tests.edged.conftest import BUSYBOX, Edge
from tests.edged.fakes import docker_time
from tests.services import free_port


def test_a_lost_event_stream_is_redialled_with_back_off_and_pods_are_reconciled(edge: Edge) -> None:
    edge.start()
    edge.deliver("insert", make_pod())
    [container] = edge.runtime.running()

    edge.runtime.down = True
    edge.runtime.watch.on_end("event stream failed: connection refused")
    edge.harness.run_pending()
    edge.runtime.exit(container.id, 137, emit=False)  # the daemon's restart killed it
    edge.advance(1)  # first redial: the daemon is still down
    edge.runtime.watch.on_end("connection refused")
    edge.harness.run_pending()
    edge.runtime.down = False
    edge.advance(2)
    edge.runtime.open_events()
    edge.harness.run_pending()

    assert len(edge.watches_opened()) >= 3
    [restarted] = edge.runtime.running()
    assert restarted.restart_count == 1
    assert edge.status()["phase"] == "Running"


def test_the_figures_show_docker_going_away_and_coming_back(edge: Edge) -> None:
    edge.start()
    up = edge.actor.module_metrics()["docker_connected"]

    edge.runtime.down = True
    edge.runtime.watch.on_end("event stream failed: connection refused")
    edge.harness.run_pending()
    down = edge.actor.module_metrics()["docker_connected"]
    edge.runtime.down = False
    edge.advance(1)
    edge.runtime.open_events()
    edge.harness.run_pending()

    assert (up, down, edge.actor.module_metrics()["docker_connected"]) == (1, 0, 1)


def test_a_status_meta_did_not_store_is_sent_again_at_the_next_poll(edge: Edge) -> None:
    edge.start()
    edge.deliver("insert", make_pod())
    [update] = [m for m in edge.harness.router.take("sync", Module.META) if "/podstatus/" in m.resource][-1:]

    edge.harness.router.fail(update, SyncTimeoutError("meta is busy"))
    edge.harness.run_pending()
    edge.advance(10)

    resent = [m for m in edge.harness.router.take("sync", Module.META) if "/podstatus/" in m.resource]
    assert [m.content["Status"]["phase"] for m in resent] == ["Running"]


def test_node_status_goes_to_meta_at_start_and_every_interval_with_the_docker_version(edge: Edge) -> None:
    edge.start()
    edge.advance(20)

    updates = edge.sent_to_meta("/nodestatus/")
    assert len(updates) == 3
    body = updates[0].content
    assert updates[0].resource == "default/nodestatus/edge-node"
    assert set(body) == {"UID", "Status", "ExtendResources"} and body["ExtendResources"] is None
    assert body["Status"]["nodeInfo"]["containerRuntimeVersion"] == "docker://20.10.24"  # docs/protocol.md#13.5
    assert body["Status"]["conditions"][0]["reason"] == "EdgeReady"


def test_node_status_says_not_ready_when_docker_does_not_answer(edge: Edge) -> None:
    edge.start()
    edge.runtime.down = True

    edge.advance(10)

    condition = edge.sent_to_meta("/nodestatus/")[-1].content["Status"]["conditions"][0]
    assert (condition["status"], condition["reason"]) == ("False", "EdgeNotReady")
    assert "not reachable" in condition["message"]


def test_container_gc_keeps_the_configured_dead_containers_per_container(edge: Edge) -> None:
    edge.start()
    edge.deliver("insert", make_pod())
    for _ in range(3):
        edge.exit_running(0)
        edge.advance(30)

    edge.advance(120)

    kept = edge.runtime.of_container("main")
    assert [c.restart_count for c in kept] == [2, 3]  # one dead (the default) and the running one
    assert kept[-1].is_running


def test_a_dead_newest_container_is_kept_for_the_pods_status(edge: Edge) -> None:
    edge.start()
    edge.deliver("insert", make_pod(restart_policy="Never"))
    edge.exit_running(3)

    edge.advance(600)

    assert len(edge.runtime.containers) == 1
    assert edge.status()["phase"] == "Failed"


def test_image_gc_removes_only_images_edged_pulled_and_no_container_uses(edge: Edge) -> None:
    pulled, in_use = "registry.local/old:1", "registry.local/used:1"
    edge.runtime.registry.update({pulled: None, in_use: None})
    edge.start()
    gone = make_pod(name="gone", image=pulled)
    edge.deliver("insert", gone)
    edge.deliver("insert", make_pod(name="kept", image=in_use))
    edge.deliver("delete", gone)
    edge.disk_percent = 90.0

    edge.advance(120)

    assert pulled not in edge.runtime.images
    assert in_use in edge.runtime.images
    assert BUSYBOX in edge.runtime.images  # present before edged: not ours


def test_containers_of_another_node_are_never_seen(edge: Edge) -> None:
    foreign = ContainerInfo(
        "x1", "k8s_main_web_default_u9_0", {"io.kubernetes.pod.uid": "u9", "io.kubeedge-actors.node-id": "node-b"}, BUSYBOX, "", "running"
    )
    edge.runtime.only_node = "node-a"
    edge.runtime.add_container(foreign)

    edge.start()
    edge.advance(120)

    assert edge.runtime.containers["x1"] == foreign


def test_the_pod_list_is_served_read_only_over_http(tmp_path: object) -> None:
    port = free_port()
    edge = Edge(tmp_path, **{"edged.server-port": port})  # type: ignore[arg-type]
    edge.start()
    edge.deliver("insert", make_pod())

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/pods", timeout=5) as response:
        pods = json.loads(response.read())
    edge.harness.stop()

    assert pods["kind"] == "PodList"
    [item] = pods["items"]
    assert item["metadata"]["name"] == "web" and item["status"]["phase"] == "Running"


def test_an_unknown_resource_is_rejected_with_an_error_reply(edge: Edge) -> None:
    edge.start()

    edge.harness.deliver(make_message("query", "default/device/x", sync=True))

    [reply] = edge.harness.router.take("resp")
    assert reply.is_error and "cannot query" in reply.content


@pytest.mark.parametrize("stale_first", [True, False], ids=["stale-answer-arrives-last", "answers-in-order"])
def test_an_older_inspection_never_overwrites_a_newer_one(edge: Edge, stale_first: bool) -> None:
    from actors.edged.inventory import ContainerInventory

    inventory = ContainerInventory()
    running = ContainerInfo("c1", "n", {"io.kubernetes.pod.uid": "u"}, BUSYBOX, "", "running")
    exited = replace(running, status="exited", finished_at=docker_time(0))
    old, new = inventory.next_seq(), inventory.next_seq()

    if stale_first:
        inventory.apply(new, "c1", exited)
        inventory.apply(old, "c1", running)
    else:
        inventory.apply(old, "c1", running)
        inventory.apply(new, "c1", exited)

    assert inventory.of_pod("u") == [exited]
