"""The cloud side of logs and exec (docs/protocol.md#9.5) against edges on a real TLS websocket
that say exactly what a test scripts: one that does not know the requests (as a KubeEdge v1.0
edge, whose meta logs "not supported operation" and answers nothing), one that keeps to the
window, one that does not, and one that writes into another node's stream."""

from __future__ import annotations

import base64
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import websocket

from actors.protocol import StreamOperation
from kubeedge_actors.message import Message, decode_message, encode_message
from kubeedge_actors.testing import wait_until
from kubeedge_cloud.streams import WINDOW
from tests.cloud.running import RunningCloudHub
from tests.services import TlsFiles


class ScriptedEdge:
    """A websocket edge of node ``node_id``: records what the cloud sends and answers as told."""

    def __init__(self, cloud: RunningCloudHub, tls: TlsFiles, node_id: str) -> None:
        tls = tls.for_node(node_id)
        sslopt: dict[str, Any] = {"cert_reqs": ssl.CERT_NONE, "certfile": str(tls.client_cert), "keyfile": str(tls.client_key)}
        self.node_id = node_id
        self.socket = websocket.create_connection(cloud.url(node_id), sslopt=sslopt, timeout=30, suppress_origin=True)
        self.received: list[Message] = []
        self.on_message: Callable[[Message], None] = lambda message: None
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            while True:
                message = decode_message(self.socket.recv())
                with self._lock:
                    self.received.append(message)
                self.on_message(message)
        except Exception:  # the test closed the socket
            return

    def of(self, operation: str) -> list[Message]:
        with self._lock:
            return [m for m in self.received if m.operation == operation]

    def send(self, request: Message, operation: StreamOperation, **content: Any) -> None:
        """A stream message about ``request``'s stream, on its resource, as edged sends it."""
        body = {"stream": request.content["stream"], **content}
        reply = Message.new(source="edged", group="resource", operation=operation, resource=request.resource, content=body)
        self.socket.send(encode_message(reply))

    def close(self) -> None:
        self.socket.close()


@pytest.fixture
def edges(cloud: RunningCloudHub, tls_files: TlsFiles) -> Iterator[Callable[[str], ScriptedEdge]]:
    made: list[ScriptedEdge] = []

    def connect(node_id: str) -> ScriptedEdge:
        edge = ScriptedEdge(cloud, tls_files, node_id)
        made.append(edge)
        cloud.wait_node_connected(node_id)
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"pod-{node_id}"},
            "spec": {"nodeName": node_id, "containers": [{"name": "main", "image": "busybox"}]},
        }
        status, answer = cloud.api.call("POST", "apply", [pod])
        assert status == 200, answer
        return edge

    yield connect
    for edge in made:
        edge.close()


def chunk(seq: int) -> dict[str, Any]:
    return {"seq": seq, "channel": "stdout", "data": base64.b64encode(f"line {seq}\n".encode()).decode()}


def test_an_edge_that_does_not_know_logs_ends_the_request_as_an_error_within_the_bound(
    cloud: RunningCloudHub, edges: Callable[[str], ScriptedEdge]
) -> None:
    v1_0 = edges("old-edge")  # answers nothing, as KubeEdge v1.0's meta

    code, out, err = cloud.control("logs", "pod-old-edge")

    assert (code, out) == (1, "")
    assert err == (
        "error: node old-edge did not answer the logs request within 10 s:"
        " its edge may not support logs and exec (a KubeEdge v1.0 edge does not)\n"
    )
    [opened] = v1_0.of(StreamOperation.OPEN)
    assert opened.resource == "default/podlogs/pod-old-edge" and opened.content["window"] == WINDOW
    wait_until(lambda: v1_0.of(StreamOperation.CLOSE), 10, 0.05, "the cloud telling the edge the request is over")


def test_chunks_the_edge_sends_within_the_window_reach_the_reader_in_order_and_are_acknowledged(
    cloud: RunningCloudHub, edges: Callable[[str], ScriptedEdge]
) -> None:
    edge = edges("edge-a")
    total = 5 * WINDOW
    acked: list[int] = []
    sent = [0]

    def send_up_to(request: Message, credit: int) -> None:
        while sent[0] < min(credit, total):
            sent[0] += 1
            edge.send(request, StreamOperation.DATA, **chunk(sent[0]))
        if sent[0] == total and acked[-1:] == [total]:
            edge.send(request, StreamOperation.END, exit_code=None, error=None)

    def play(message: Message) -> None:  # edged's side of docs/protocol.md#9.5: send while holding credit
        if message.operation == StreamOperation.OPEN:
            edge.send(message, StreamOperation.OPENED, container="main")
            send_up_to(message, WINDOW)
        elif message.operation == StreamOperation.ACK:
            acked.append(message.content["seq"])
            send_up_to(edge.of(StreamOperation.OPEN)[0], message.content["seq"] + WINDOW)

    edge.on_message = play
    code, out, err = cloud.control("logs", "pod-edge-a")

    assert (code, err) == (0, "")
    assert out == "".join(f"line {seq}\n" for seq in range(1, total + 1))
    assert acked == sorted(acked) and acked[-1] == total


def test_an_edge_sending_beyond_the_window_has_its_stream_ended_and_closed(
    cloud: RunningCloudHub, edges: Callable[[str], ScriptedEdge]
) -> None:
    edge = edges("edge-b")

    def flood(message: Message) -> None:
        if message.operation == StreamOperation.OPEN:
            edge.send(message, StreamOperation.OPENED, container="main")
            for seq in range(1, 200):
                edge.send(message, StreamOperation.DATA, **chunk(seq))

    edge.on_message = flood
    status, answer = _raw_log(cloud, "pod-edge-b")  # a reader that reads only at the end

    assert status == 200
    assert json.loads(answer.splitlines()[-1]) == {"error": "the edge sent more than the window allows"}
    wait_until(lambda: edge.of(StreamOperation.CLOSE), 10, 0.05, "the cloud closing the stream at the edge")


def test_a_node_cannot_write_into_another_nodes_stream(cloud: RunningCloudHub, edges: Callable[[str], ScriptedEdge]) -> None:
    owner, intruder = edges("edge-c"), edges("edge-d")

    def answer(message: Message) -> None:
        if message.operation == StreamOperation.OPEN:
            owner.send(message, StreamOperation.OPENED, container="main")
            forged = message.with_route(resource="default/podlogs/pod-edge-d")  # the intruder's own resource
            intruder.send(forged, StreamOperation.DATA, **chunk(1))
            intruder.send(forged, StreamOperation.END, exit_code=None, error=None)
            owner.send(message, StreamOperation.DATA, seq=1, channel="stdout", data=base64.b64encode(b"mine\n").decode())
            owner.send(message, StreamOperation.END, exit_code=None, error=None)

    owner.on_message = answer
    code, out, _ = cloud.control("logs", "pod-edge-c")

    assert (code, out) == (0, "mine\n")


def _raw_log(cloud: RunningCloudHub, pod: str) -> tuple[int, str]:
    with cloud.api.stream("GET", f"namespaces/default/pods/{pod}/log", query={"follow": "true", "frames": "1"}) as response:
        return response.status, response.read().decode()


@pytest.mark.parametrize(
    ("method", "path", "body", "error"),
    [
        ("GET", "log?tailLines=ten", None, "tailLines must be a whole number, not 'ten'"),
        ("GET", "log?sinceSeconds=-5", None, "sinceSeconds must be a whole number, not '-5'"),
        ("POST", "exec", {"command": []}, 'exec needs a body {"command": ["cmd", "arg", ...]}'),
        ("POST", "exec", {"command": ["ls"], "container": 3}, "container must be a string"),
    ],
    ids=["tail", "since", "no-command", "container"],
)
def test_a_bad_log_or_exec_request_is_answered_400_naming_what_is_wrong(
    cloud: RunningCloudHub, method: str, path: str, body: Any, error: str
) -> None:
    status, answer = cloud.api.call(method, f"namespaces/default/pods/web/{path}", body)

    assert (status, answer) == (400, {"error": error})


def test_the_control_command_refuses_a_since_that_is_not_a_duration(cloud: RunningCloudHub) -> None:
    assert cloud.control("logs", "web", "--since", "yesterday") == (
        2,
        "",
        "error: --since 'yesterday': expected a duration such as 30s, 5m or 2h\n",
    )
