"""Tier 2: the started hub in a real router, probes for meta/twin/bus, and a real (TLS)
websocket cloud on loopback (docs/protocol.md#3)."""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pykka
import pytest

from actors.hub.frames import PublicFrameWriter
from actors.hub.transport import CloudLinkError, LinkSettings, WebsocketDialer, client_ssl_context
from actors.keys import EDGE_KEYS, edge_defaults
from actors.protocol import DeliveryReport
from actors.testing import cloud_message
from kubeedge_actors import Config, Message, Router, load_config
from kubeedge_actors.message import encode_message
from kubeedge_actors.testing import make_message, wait_until
from tests.hub.cloud_double import CloudDouble
from tests.hub.edge import RunningEdge as Edge
from tests.hub.edge import start_edge as start_running_edge
from tests.services import TlsFiles, make_tls_files


def edge_config(cloud: CloudDouble, tls: TlsFiles | None, **values: Any) -> Config:
    settings: dict[str, Any] = {
        "edgehub.websocket.url": cloud.url,
        "edgehub.controller.node-id": "node-1",
        "edgehub.controller.project-id": "project-1",
        "edgehub.websocket.certfile": str(tls.client_cert) if tls else "",
        "edgehub.websocket.keyfile": str(tls.client_key) if tls else "",
        "edgehub.websocket.cafile": str(tls.ca) if tls else "",
        "edgehub.reconnect.initial-interval": 0.05,
        "edgehub.reconnect.max-interval": 0.2,
    }
    settings.update(values)
    return edge_defaults().with_values(settings)


@pytest.fixture
def cloud(tls_files: TlsFiles) -> Iterator[CloudDouble]:
    double = CloudDouble(tls_files).start()
    yield double
    double.stop()


@pytest.fixture
def start_edge() -> Iterator[Callable[..., Edge]]:
    routers: list[Router] = []

    def start(config: Config, dialer: WebsocketDialer | None = None) -> Edge:
        edge = start_running_edge(config, dialer)
        routers.append(edge.router)
        return edge

    yield start
    pykka.ActorRegistry.stop_all()
    for router in routers:
        router.close()


def test_the_hub_connects_over_tls_with_its_certificate_and_the_handshake_headers(
    cloud: CloudDouble, tls_files: TlsFiles, start_edge: Callable[[Config], Edge]
) -> None:
    cloud.stop()
    cloud.require_client_cert = True
    cloud.start()

    edge = start_edge(edge_config(cloud, tls_files))

    [handshake] = cloud.wait_for_handshakes(1)
    assert handshake.path == "/project-1/node-1/events"
    assert handshake.headers["node_id"] == "node-1" and handshake.headers["project_id"] == "project-1"
    assert handshake.peer_name == "edge-node"
    events = [probe.wait_for(lambda m: m.resource == "node/connection") for probe in (edge.meta, edge.twin, edge.bus)]
    assert [(e.source, e.group, e.operation, e.content) for e in events] == [
        ("edgehub", group, "publish", "cloud_connected") for group in ("meta", "twin", "bus")
    ]


def test_keepalives_go_out_every_heartbeat_as_text_frames_in_the_original_shape(
    cloud: CloudDouble, tls_files: TlsFiles, start_edge: Callable[[Config], Edge]
) -> None:
    start_edge(edge_config(cloud, tls_files, **{"edgehub.controller.heartbeat": 0.1}))

    keepalives = cloud.wait_for_messages(lambda m: m.operation == "keepalive", count=3)

    frame = next(f for f in cloud.frames if f.message.operation == "keepalive")
    assert not frame.binary
    document = json.loads(frame.data)
    assert document["route"] == {"source": "websocket", "group": "resource", "operation": "keepalive", "resource": "node"}
    assert document["content"] == "ping" and document["header"]["parent_msg_id"] == "" and document["header"]["sync"] is False
    assert len({k.id for k in keepalives}) == 3


def test_a_message_sent_to_the_hub_reaches_the_cloud_unchanged_as_a_text_frame(
    cloud: CloudDouble, tls_files: TlsFiles, start_edge: Callable[[Config], Edge]
) -> None:
    edge = start_edge(edge_config(cloud, tls_files))
    edge.meta.wait_for(lambda m: m.content == "cloud_connected")
    status = make_message("update", "default/nodestatus/node-1", {"UID": "u", "Status": {}}, source="edged", group="meta", sync=True)

    edge.router.send("websocket", status)

    [received] = cloud.wait_for_messages(lambda m: m.resource == status.resource)
    assert received == status
    assert next(f for f in cloud.frames if f.message.id == status.id).data == encode_message(status)


@pytest.mark.parametrize("binary", [False, True], ids=["text-frame", "binary-frame"])
def test_a_cloud_push_reaches_meta_and_its_ack_reaches_the_cloud(
    binary: bool, cloud: CloudDouble, tls_files: TlsFiles, start_edge: Callable[[Config], Edge]
) -> None:
    edge = start_edge(edge_config(cloud, tls_files))
    edge.meta.wait_for(lambda m: m.content == "cloud_connected")
    pod = cloud_message("insert", "default/pod/nginx", {"metadata": {"name": "nginx"}})

    text = encode_message(pod)
    cloud.push(text.encode() if binary else text)
    pushed = edge.meta.wait_for(lambda m: m.resource == "default/pod/nginx")
    edge.router.send("websocket", pushed.reply("OK"))

    assert pushed == pod
    [ack] = cloud.wait_for_messages(lambda m: m.operation == "response")
    assert (ack.parent_id, ack.content, ack.source, ack.group) == (pod.id, "OK", "controller", "resource")


def test_through_the_public_frame_writer_a_burst_reaches_the_cloud_unchanged_and_in_order(
    cloud: CloudDouble, tls_files: TlsFiles, start_edge: Callable[..., Edge]
) -> None:
    config = edge_config(cloud, tls_files)
    edge = start_edge(config, WebsocketDialer(LinkSettings.from_config(config), PublicFrameWriter))
    edge.meta.wait_for(lambda m: m.content == "cloud_connected")
    statuses = [make_message("update", f"default/podstatus/p{n}", {"n": n}, source="edged", group="meta") for n in range(300)]

    for status in statuses:
        edge.router.send("websocket", status)

    assert cloud.wait_for_messages(lambda m: m.resource.startswith("default/podstatus/"), count=300) == statuses
    assert [f.data for f in cloud.frames if f.message.resource.startswith("default/podstatus/")] == [encode_message(m) for m in statuses]


def test_the_twin_hears_its_report_was_written_once_the_link_wrote_it_to_the_cloud(
    cloud: CloudDouble, tls_files: TlsFiles, start_edge: Callable[..., Edge]
) -> None:
    edge = start_edge(edge_config(cloud, tls_files))
    edge.twin.wait_for(lambda m: m.content == "cloud_connected")
    report = Message.new(source="twin", group="resource", operation="update", resource="device/lamp/twin/edge_updated", content={})

    edge.router.send("websocket", report)

    heard = edge.twin.wait_for(lambda m: m.resource == "node/delivery" and bool(DeliveryReport.of(m).written))
    assert DeliveryReport.of(heard) == DeliveryReport(written=(report.id,), connection=1)
    assert cloud.wait_for_messages(lambda m: m.id == report.id) == [report]


def test_a_burst_of_cloud_pushes_arrives_complete_and_in_order(
    cloud: CloudDouble, tls_files: TlsFiles, start_edge: Callable[[Config], Edge]
) -> None:
    edge = start_edge(edge_config(cloud, tls_files))
    edge.meta.wait_for(lambda m: m.content == "cloud_connected")
    pushes = [cloud_message("insert", f"default/pod/p{n}", {"n": n}) for n in range(1000)]

    cloud.push_many([encode_message(m) for m in pushes])

    received = edge.meta.wait_for_count(1001)[1:]  # after the connection event
    assert received == pushes


def test_a_sync_query_through_the_hub_is_answered_by_the_cloud_reply(
    cloud: CloudDouble, tls_files: TlsFiles, start_edge: Callable[[Config], Edge]
) -> None:
    edge = start_edge(edge_config(cloud, tls_files))
    edge.meta.wait_for(lambda m: m.content == "cloud_connected")
    query = make_message("query", "default/configmap/app", source="metaManager", group="meta")

    future = edge.router.send_sync("websocket", query, timeout_s=10)
    [asked] = cloud.wait_for_messages(lambda m: m.operation == "query")
    reply = asked.reply({"kind": "ConfigMap", "data": {"a": "1"}}).with_route(source="controller", group="resource")
    cloud.push(encode_message(reply))

    assert asked.is_sync and asked.id == query.id
    assert future.result(10) == reply
    assert not [m for m in edge.meta.messages if m.operation == "response"]


def test_messages_sent_while_the_cloud_is_down_arrive_in_order_and_once_after_it_is_back(
    cloud: CloudDouble, tls_files: TlsFiles, start_edge: Callable[[Config], Edge]
) -> None:
    edge = start_edge(edge_config(cloud, tls_files))
    edge.meta.wait_for(lambda m: m.content == "cloud_connected")

    cloud.stop()
    edge.meta.wait_for(lambda m: m.content == "cloud_disconnected")
    statuses = [make_message("update", f"default/podstatus/pod-{n}", {"n": n}, source="edged", group="meta") for n in range(50)]
    for status in statuses:
        edge.router.send("websocket", status)
    wait_until(lambda: edge.proxy().outbox_length.get() == 50, what="50 messages kept")
    cloud.start()

    received = cloud.wait_for_messages(lambda m: m.resource.startswith("default/podstatus/"), count=50)
    edge.meta.wait_for(lambda m: m.content == "cloud_connected" and m is not edge.meta.messages[0])
    assert [m.id for m in received] == [m.id for m in statuses]
    assert {f.connection for f in cloud.frames if f.message.resource.startswith("default/podstatus/")} == {2}
    # Each group's probe has its own mailbox: the twin may hear of the reconnect after meta.
    wait_until(lambda: len(edge.connection_events(edge.twin)) >= 3, 30, what="the twin told of the reconnect")
    assert edge.connection_events(edge.twin) == ["cloud_connected", "cloud_disconnected", "cloud_connected"]


def test_a_cloud_that_closes_the_link_is_redialled(cloud: CloudDouble, tls_files: TlsFiles, start_edge: Callable[[Config], Edge]) -> None:
    edge = start_edge(edge_config(cloud, tls_files))
    cloud.wait_for_handshakes(1)

    cloud.close(4001, "replaced by a newer connection")

    cloud.wait_for_handshakes(2)
    wait_until(lambda: edge.connection_events(edge.bus) == ["cloud_connected", "cloud_disconnected", "cloud_connected"])


def test_garbage_frames_from_the_cloud_are_skipped_and_the_link_stays_up(
    cloud: CloudDouble, tls_files: TlsFiles, start_edge: Callable[[Config], Edge]
) -> None:
    edge = start_edge(edge_config(cloud, tls_files))
    edge.meta.wait_for(lambda m: m.content == "cloud_connected")
    good = cloud_message("delete", "default/pod/nginx", {})

    for garbage in ("not json", b"\x00\xff\xfe", "[]", '{"header": {"timestamp": "soon"}}', "{" * 10_000):
        cloud.push(garbage)
    cloud.push(encode_message(good))

    assert edge.meta.wait_for(lambda m: m.resource == "default/pod/nginx") == good
    assert edge.proxy().bad_frame_count.get() == 5
    assert len(cloud.handshakes) == 1 and cloud.connection_count == 1


def test_stopping_the_hub_sends_a_close_frame_and_no_empty_envelope(
    cloud: CloudDouble, tls_files: TlsFiles, start_edge: Callable[[Config], Edge]
) -> None:
    edge = start_edge(edge_config(cloud, tls_files))
    edge.meta.wait_for(lambda m: m.content == "cloud_connected")

    edge.hub.stop()

    assert cloud.wait(lambda: cloud.close_codes) == [1000]
    assert all(m.id for m in cloud.messages())
    assert edge.meta.wait_for(lambda m: m.content == "cloud_disconnected")


def test_a_cloud_whose_certificate_the_ca_did_not_sign_is_refused(
    cloud: CloudDouble, tmp_path: Path, start_edge: Callable[[Config], Edge]
) -> None:
    other_ca = make_tls_files(tmp_path / "other")
    edge = start_edge(edge_config(cloud, other_ca))

    wait_until(lambda: _dial_attempts(edge) >= 2, what="two refused dials")

    assert cloud.handshakes == []


def test_without_a_ca_the_cloud_is_not_verified_as_in_the_original(
    cloud: CloudDouble, tmp_path: Path, start_edge: Callable[[Config], Edge]
) -> None:
    other_ca = make_tls_files(tmp_path / "other")

    start_edge(edge_config(cloud, other_ca, **{"edgehub.websocket.cafile": ""}))

    cloud.wait_for_handshakes(1)


def test_a_conf_without_a_cafile_connects_to_a_cloud_it_cannot_verify_as_the_original_does(
    cloud: CloudDouble, tmp_path: Path, start_edge: Callable[[Config], Edge]
) -> None:
    other_ca = make_tls_files(tmp_path / "other")
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "edge.yaml").write_text(  # as v1.0.0's edge.yaml: certfile and keyfile, no cafile
        f"edgehub:\n  websocket:\n    url: {cloud.url}\n    certfile: {other_ca.client_cert}\n    keyfile: {other_ca.client_key}\n"
    )

    start_edge(load_config(conf, EDGE_KEYS))

    cloud.wait_for_handshakes(1)


def test_a_cafile_set_but_missing_is_an_error_naming_the_file_and_the_key(tmp_path: Path) -> None:
    config = edge_defaults().with_values({"edgehub.websocket.cafile": str(tmp_path / "nope" / "ca.crt")})

    with pytest.raises(CloudLinkError, match=rf"cannot load the CA file {tmp_path / 'nope' / 'ca.crt'} \(edgehub\.websocket\.cafile\)"):
        client_ssl_context(LinkSettings.from_config(config))


def test_a_cafile_that_is_set_makes_the_cloud_verified(tls_files: TlsFiles) -> None:
    config = edge_defaults().with_values({"edgehub.websocket.cafile": str(tls_files.ca), "edgehub.websocket.certfile": ""})

    context = client_ssl_context(LinkSettings.from_config(config))

    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_a_cloud_answering_429_is_retried(cloud: CloudDouble, tls_files: TlsFiles, start_edge: Callable[[Config], Edge]) -> None:
    cloud.refuse_with = 429
    edge = start_edge(edge_config(cloud, tls_files))
    wait_until(lambda: _dial_attempts(edge) >= 2, what="two refused dials")

    cloud.refuse_with = None

    edge.meta.wait_for(lambda m: m.content == "cloud_connected")


@pytest.mark.parametrize("missing_client_files", [False, True], ids=["no-client-files", "client-files-that-do-not-exist"])
def test_a_plain_ws_cloud_works_for_development(missing_client_files: bool, tmp_path: Path, start_edge: Callable[[Config], Edge]) -> None:
    # ws:// loads no TLS file: the seed README's certfile/keyfile that do not exist do not matter.
    missing = {"edgehub.websocket.certfile": str(tmp_path / "edge.crt"), "edgehub.websocket.keyfile": str(tmp_path / "edge.key")}
    cloud = CloudDouble(None).start()
    try:
        edge = start_edge(edge_config(cloud, None, **(missing if missing_client_files else {})))
        edge.meta.wait_for(lambda m: m.content == "cloud_connected")
        edge.router.send("websocket", make_message("update", "default/podstatus/a"))

        cloud.wait_for_messages(lambda m: m.resource == "default/podstatus/a")
    finally:
        cloud.stop()


def _dial_attempts(edge: Edge) -> int:
    return int(edge.proxy().dial_count.get())
