"""Tier 2: the cloud hub's websocket server over real TLS, with websocket-client as edges."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import websocket

from actors.hub.transport import keepalive_text
from kubeedge_actors.message import decode_message
from kubeedge_cloud.server import (
    CLOSE_KEEPALIVE,
    CLOSE_REPLACED,
    EdgeConnected,
    EdgeDisconnected,
    EdgeServer,
    ServerSettings,
    parse_events_path,
    server_ssl_context,
)
from tests.services import TlsFiles, free_port, make_tls_files


class Recorder:
    """Collects the server's callbacks (they run on the server's thread)."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._condition = threading.Condition()

    def on_frames(self, frames: list[tuple[int, str | bytes]]) -> None:
        for conn_id, data in frames:
            self._add(("frame", conn_id, data))

    def on_event(self, event: Any) -> None:
        self._add(event)

    def _add(self, item: Any) -> None:
        with self._condition:
            self.items.append(item)
            self._condition.notify_all()

    def wait_for(self, predicate: Callable[[Any], bool], count: int = 1, timeout_s: float = 10.0) -> list[Any]:
        deadline = time.monotonic() + timeout_s
        with self._condition:
            while True:
                found = [item for item in self.items if predicate(item)]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"only {len(found)} of {count} expected items; got {self.items}"
                self._condition.wait(remaining)


@pytest.fixture
def start_server(tls_files: TlsFiles) -> Iterator[Callable[..., tuple[EdgeServer, Recorder]]]:
    servers: list[EdgeServer] = []

    def start(**overrides: Any) -> tuple[EdgeServer, Recorder]:
        settings = ServerSettings(
            host="127.0.0.1",
            port=free_port(),
            ssl_context=server_ssl_context(tls_files.server_cert, tls_files.server_key, tls_files.ca),
            node_limit=overrides.pop("node_limit", 10),
            keepalive_s=overrides.pop("keepalive_s", 30.0),
            write_timeout_s=5.0,
        )
        server = EdgeServer(settings)
        recorder = Recorder()
        server.start(recorder.on_frames, recorder.on_event)
        servers.append(server)
        return server, recorder

    yield start
    for server in servers:
        server.stop()


def dial(
    server: EdgeServer, tls: TlsFiles | None, path: str = "/project-1/edge-1/events", *, as_node: str | None = None, **options: Any
) -> websocket.WebSocket:
    """A TLS websocket to ``path`` with a certificate for ``as_node`` (default: the node of the path)."""
    sslopt: dict[str, Any] = {"cert_reqs": ssl.CERT_NONE}
    if tls is not None:
        ids = parse_events_path(path)
        node = as_node or (ids[1] if ids else "edge-1")
        node_tls = tls.for_node(node)
        sslopt.update(certfile=str(node_tls.client_cert), keyfile=str(node_tls.client_key))
    url = f"wss://127.0.0.1:{server.port}{path}"
    return websocket.create_connection(url, sslopt=sslopt, timeout=10, suppress_origin=True, **options)


@pytest.mark.parametrize(
    ("path", "ids"),
    [
        ("/project-1/edge-1/events", ("project-1", "edge-1")),
        ("/edge-1/events", ("", "edge-1")),
        ("/p/edge-1/events?x=1", ("p", "edge-1")),
        ("/edge-1/other", None),
        ("/a/b/c/events", None),
        ("//edge-1/events", None),
    ],
    ids=["v0.2-path", "head-path", "query", "not-events", "too-deep", "empty-project"],
)
def test_the_events_path_names_the_project_and_the_node(path: str, ids: tuple[str, str] | None) -> None:
    assert parse_events_path(path) == ids


def test_an_edge_connects_over_tls_and_its_text_and_binary_frames_reach_the_hub(
    start_server: Callable[..., tuple[EdgeServer, Recorder]], tls_files: TlsFiles
) -> None:
    server, recorder = start_server()

    client = dial(server, tls_files)
    client.send("text frame")
    client.send_binary(b"binary frame")

    [connected] = recorder.wait_for(lambda i: isinstance(i, EdgeConnected))
    frames = recorder.wait_for(lambda i: isinstance(i, tuple), count=2)
    assert (connected.node_id, connected.project_id) == ("edge-1", "project-1")
    assert [(f[1], f[2]) for f in frames] == [(connected.conn_id, "text frame"), (connected.conn_id, b"binary frame")]
    client.close()


def test_keepalives_are_counted_and_dropped_by_the_server(
    start_server: Callable[..., tuple[EdgeServer, Recorder]], tls_files: TlsFiles
) -> None:
    server, recorder = start_server()
    client = dial(server, tls_files)

    client.send(keepalive_text())
    client.send_binary(keepalive_text().encode())
    client.send('{"route": {"operation": "keepalive"}, "content": "but not an envelope of ours: [}')
    client.send("after")

    frames = recorder.wait_for(lambda i: isinstance(i, tuple), count=2)
    assert [f[2] for f in frames][-1] == "after" and len(frames) == 2
    assert server.keepalive_count == 2
    client.close()


def test_frames_for_an_edge_are_written_in_order_as_text_frames(
    start_server: Callable[..., tuple[EdgeServer, Recorder]], tls_files: TlsFiles
) -> None:
    server, recorder = start_server()
    client = dial(server, tls_files)
    [connected] = recorder.wait_for(lambda i: isinstance(i, EdgeConnected))

    server.send(connected.conn_id, [f"frame {n}" for n in range(100)])

    received = [client.recv_data() for _ in range(100)]
    assert [data.decode() for _, data in received] == [f"frame {n}" for n in range(100)]
    assert {opcode for opcode, _ in received} == {websocket.ABNF.OPCODE_TEXT}
    client.close()


def test_an_edge_without_a_client_certificate_is_refused_403_unlike_the_original(
    start_server: Callable[..., tuple[EdgeServer, Recorder]], caplog: pytest.LogCaptureFixture
) -> None:
    server, recorder = start_server()

    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        dial(server, None)

    assert refused.value.status_code == 403
    assert b"no client certificate" in (refused.value.resp_body or b"")
    assert "refused node edge-1" in caplog.text
    assert not [i for i in recorder.items if isinstance(i, EdgeConnected)]


def test_a_certificate_for_node_a_dialing_as_node_b_is_refused_403_and_the_right_one_connects(
    start_server: Callable[..., tuple[EdgeServer, Recorder]], tls_files: TlsFiles, caplog: pytest.LogCaptureFixture
) -> None:
    server, recorder = start_server()

    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        dial(server, tls_files, "/project-1/node-b/events", as_node="node-a")
    client = dial(server, tls_files, "/project-1/node-b/events", as_node="node-b")

    assert refused.value.status_code == 403
    assert refused.value.resp_body == b"refused: its certificate is for node 'node-a', not 'node-b'\n"
    assert "cloudhub: refused node node-b from 127.0.0.1:" in caplog.text
    [connected] = recorder.wait_for(lambda i: isinstance(i, EdgeConnected))
    assert connected.node_id == "node-b"
    client.close()


def test_a_node_id_header_naming_another_node_than_the_path_is_refused_403(
    start_server: Callable[..., tuple[EdgeServer, Recorder]], tls_files: TlsFiles
) -> None:
    server, _ = start_server()

    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        dial(server, tls_files, "/project-1/node-b/events", header=["node_id: node-a"])
    client = dial(server, tls_files, "/project-1/node-b/events", header=["node_id: node-b"])

    assert refused.value.status_code == 403
    assert b"its node_id header 'node-a' is not the node of its path 'node-b'" in (refused.value.resp_body or b"")
    client.close()


def test_an_edge_certificate_from_another_ca_is_refused(start_server: Callable[..., tuple[EdgeServer, Recorder]], tmp_path: Path) -> None:
    server, recorder = start_server()

    with pytest.raises((ssl.SSLError, OSError, websocket.WebSocketException)):
        dial(server, make_tls_files(tmp_path / "other")).recv()

    assert not [i for i in recorder.items if isinstance(i, EdgeConnected)]


def test_another_path_is_answered_404(start_server: Callable[..., tuple[EdgeServer, Recorder]], tls_files: TlsFiles) -> None:
    server, _ = start_server()

    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        dial(server, tls_files, "/metrics")

    assert refused.value.status_code == 404


def test_an_edge_beyond_the_node_limit_gets_429(start_server: Callable[..., tuple[EdgeServer, Recorder]], tls_files: TlsFiles) -> None:
    server, recorder = start_server(node_limit=2)
    clients = [dial(server, tls_files, f"/p/edge-{n}/events") for n in range(2)]
    recorder.wait_for(lambda i: isinstance(i, EdgeConnected), count=2)

    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        dial(server, tls_files, "/p/edge-3/events")
    again = dial(server, tls_files, "/p/edge-1/events")  # a node already connected may reconnect

    assert refused.value.status_code == 429
    assert b"too many Nodes connected" in (refused.value.resp_body or b"")
    for client in [*clients, again]:
        client.close()


def test_a_second_connection_of_a_node_replaces_the_first_which_gets_the_notice_and_a_close(
    start_server: Callable[..., tuple[EdgeServer, Recorder]], tls_files: TlsFiles
) -> None:
    server, recorder = start_server()
    older = dial(server, tls_files)
    recorder.wait_for(lambda i: isinstance(i, EdgeConnected))

    newer = dial(server, tls_files)
    opcode, notice = older.recv_data()
    close_opcode, close = older.recv_data()
    older.shutdown()
    newer.send("still here")

    assert opcode == websocket.ABNF.OPCODE_TEXT
    message = decode_message(notice)
    assert (message.source, message.group, message.operation, message.resource) == ("resource", "cloudhub", "disconnected", "node/edge-1")
    assert close_opcode == websocket.ABNF.OPCODE_CLOSE and int.from_bytes(close[:2], "big") == CLOSE_REPLACED
    [first, second] = recorder.wait_for(lambda i: isinstance(i, EdgeConnected), count=2)
    [gone] = recorder.wait_for(lambda i: isinstance(i, EdgeDisconnected))
    assert gone.conn_id == first.conn_id and "replaced" in gone.reason
    assert recorder.wait_for(lambda i: isinstance(i, tuple) and i[2] == "still here")[0][1] == second.conn_id
    newer.close()


def test_a_silent_edge_is_dropped_after_the_keepalive_interval_and_a_talking_one_is_kept(
    start_server: Callable[..., tuple[EdgeServer, Recorder]], tls_files: TlsFiles
) -> None:
    server, recorder = start_server(keepalive_s=0.6)
    silent = dial(server, tls_files, "/p/silent/events")
    talking = dial(server, tls_files, "/p/talking/events")
    received: list[tuple[int, bytes]] = []
    silent_reader = threading.Thread(target=lambda: (received.append(silent.recv_data()), silent.shutdown()))
    silent_reader.start()

    deadline = time.monotonic() + 10
    while not [i for i in recorder.items if isinstance(i, EdgeDisconnected)] and time.monotonic() < deadline:
        talking.send("keepalive")
        time.sleep(0.1)  # the talking edge's heartbeat

    silent_reader.join(10)
    [gone] = recorder.wait_for(lambda i: isinstance(i, EdgeDisconnected))
    assert gone.node_id == "silent" and "keepalive-interval" in gone.reason
    [(opcode, close)] = received
    assert opcode == websocket.ABNF.OPCODE_CLOSE and int.from_bytes(close[:2], "big") == CLOSE_KEEPALIVE
    assert server.connection_count == 1
    talking.close()


def test_stopping_the_server_closes_every_edge_with_going_away(
    start_server: Callable[..., tuple[EdgeServer, Recorder]], tls_files: TlsFiles
) -> None:
    server, recorder = start_server()
    client = dial(server, tls_files)
    recorder.wait_for(lambda i: isinstance(i, EdgeConnected))

    received: list[tuple[int, bytes]] = []

    def edge_reads_the_close() -> None:  # as the edge's I/O thread does, while stop() waits
        received.append(client.recv_data())
        client.shutdown()

    reader = threading.Thread(target=edge_reads_the_close)
    reader.start()
    server.stop()
    reader.join(10)

    [(opcode, close)] = received
    assert opcode == websocket.ABNF.OPCODE_CLOSE and int.from_bytes(close[:2], "big") == 1001
    recorder.wait_for(lambda i: isinstance(i, EdgeDisconnected))
