"""Tier 1: the cloudhub actor with a recording router and a fake websocket server (docs/protocol.md#9.2)."""

from __future__ import annotations

import json
import logging

import pytest

from kubeedge_actors.message import decode_message, encode_message
from kubeedge_actors.router import MessageBatch
from kubeedge_actors.testing import ActorHarness, make_message
from kubeedge_cloud.hub import CloudHubActor
from tests.cloud.fakes import FakeEdgeServer


def start_hub() -> tuple[ActorHarness[CloudHubActor], FakeEdgeServer]:
    server = FakeEdgeServer()
    harness = ActorHarness(CloudHubActor, server=server)
    harness.start()
    return harness, server


def test_an_edge_connecting_is_announced_to_the_controllers_as_the_original_does() -> None:
    harness, server = start_hub()

    server.connect(1, "edge-1")
    harness.run_pending()

    [event] = harness.router.take("group", "controller")
    assert (event.source, event.group, event.operation, event.resource) == ("cloudhub", "resource", "connected", "node/edge-1")
    content = json.loads(event.content)
    assert list(content) == ["event_type", "timestamp", "client_id"]
    assert (content["event_type"], content["client_id"]) == ("connected", "edge-1") and isinstance(content["timestamp"], int)


def test_what_an_edge_sends_reaches_the_controllers_with_the_node_prefix() -> None:
    harness, server = start_hub()
    server.connect(1, "edge-1")
    harness.run_pending()
    harness.router.take()
    status = make_message("update", "default/podstatus/nginx", {"Name": "nginx"}, source="edged", group="meta", sync=True)

    server.frame(1, encode_message(status).encode())  # a v1.0.0 edge writes binary frames
    harness.run_pending()

    [forwarded] = harness.router.take("send", "controller")
    assert forwarded == status.with_route(resource="node/edge-1/default/podstatus/nginx")


@pytest.mark.parametrize(
    "resource",
    ["device/thermometer/twin/edge_updated", "device/thermometer/state", "membership/detail"],
    ids=["twin-edge-updated", "device-state", "membership-detail"],
)
def test_what_the_edge_twin_sends_goes_to_the_device_controller(resource: str) -> None:
    harness, server = start_hub()
    server.connect(1, "edge-1")
    harness.run_pending()
    harness.router.take()

    server.frame(1, encode_message(make_message("update", resource, {}, source="twin", group="resource")))
    harness.run_pending()

    [forwarded] = harness.router.take("send", "devicecontroller")
    assert forwarded.resource == f"node/edge-1/{resource}"


def test_keepalives_are_dropped_at_the_hub_as_at_v1() -> None:
    harness, server = start_hub()
    server.connect(1, "edge-1")
    harness.run_pending()
    harness.router.take()
    keepalive = make_message("keepalive", "node", "ping", source="websocket", group="resource")

    server.frame(1, encode_message(keepalive))
    harness.run_pending()

    assert harness.router.sent == [] and harness.actor.keepalive_count == 1


def test_garbage_from_an_edge_is_skipped_counted_and_logged_once_in_a_burst(caplog: pytest.LogCaptureFixture) -> None:
    harness, server = start_hub()
    server.connect(1, "edge-1")
    harness.run_pending()
    harness.router.take()
    fine = make_message("update", "default/nodestatus/edge-1", {})

    with caplog.at_level(logging.WARNING):
        server.frame(1, "nope", b"\xff", '{"route": []}', encode_message(fine))
        harness.run_pending()

    assert [m.id for m in harness.router.take("send", "controller")] == [fine.id]
    assert harness.actor.bad_frame_count == 3
    assert sum("not an envelope" in r.getMessage() for r in caplog.records) == 1


def test_a_message_for_a_connected_node_is_written_to_it_without_the_prefix_and_sync() -> None:
    harness, server = start_hub()
    server.connect(1, "edge-1")
    server.connect(2, "edge-2")
    harness.run_pending()
    pod = make_message("insert", "node/edge-2/default/pod/nginx", {"kind": "Pod"}, source="controller", group="resource", sync=True)

    harness.deliver(pod)

    [(conn_id, text)] = server.sent
    assert conn_id == 2
    assert decode_message(text) == pod.with_route(resource="default/pod/nginx").with_header(sync=False)


def test_messages_handled_in_one_turn_go_to_the_server_in_one_hand_over_per_edge() -> None:
    harness, server = start_hub()
    server.connect(1, "edge-1")
    server.connect(2, "edge-2")
    harness.run_pending()
    pods = [make_message("insert", f"node/edge-{n % 2 + 1}/default/pod/p{n}", source="controller", group="resource") for n in range(6)]

    harness.deliver(MessageBatch(tuple(pods)))

    assert sorted(server.hand_overs) == [(1, 3), (2, 3)]
    to_first = [decode_message(text).resource for conn, text in server.sent if conn == 1]
    assert to_first == ["default/pod/p0", "default/pod/p2", "default/pod/p4"]


def test_a_message_for_a_node_that_is_not_connected_is_dropped_and_counted() -> None:
    harness, server = start_hub()

    harness.deliver(make_message("insert", "node/edge-9/default/pod/nginx", source="controller", group="resource"))

    assert server.sent == [] and harness.actor.undeliverable_count == 1


def test_a_message_without_a_node_prefix_is_rejected(caplog: pytest.LogCaptureFixture) -> None:
    harness, server = start_hub()

    with caplog.at_level(logging.WARNING):
        harness.deliver(make_message("insert", "default/pod/nginx", source="controller", group="resource"))

    assert server.sent == []
    assert any("malformed cloud resource" in r.getMessage() for r in caplog.records)


def test_a_newer_connection_of_a_node_takes_over_without_a_disconnect_event() -> None:
    harness, server = start_hub()
    server.connect(1, "edge-1")
    harness.run_pending()
    harness.router.take()

    server.connect(2, "edge-1")
    server.disconnect(1, "edge-1", "replaced by a newer connection of the same node")
    harness.run_pending()
    harness.deliver(make_message("update", "node/edge-1/default/pod/a", source="controller", group="resource"))
    server.disconnect(2, "edge-1")
    harness.run_pending()

    assert [conn for conn, _ in server.sent] == [2]
    assert [m.operation for m in harness.router.take("group", "controller")] == ["disconnected"]


def test_stopping_stops_the_server() -> None:
    harness, server = start_hub()

    harness.stop()

    assert server.stopped
