"""edged's side of logs and exec (docs/protocol.md#9.5) behind a fake Docker stream: which
container a request means, the credit window, the stall, and what a close does."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from actors.edged.inventory import ContainerInventory
from actors.edged.lifecycle import StartGates
from actors.edged.model import CONTAINER_NAME_LABEL, POD_UID_LABEL, ContainerInfo
from actors.edged.pods import parse_pod
from actors.edged.records import PodTable
from actors.edged.streams import PodStreams, StreamChunk, StreamEnded, StreamOpened, parse_request
from actors.protocol import Module, StreamOperation
from kubeedge_actors.message import Message
from kubeedge_actors.testing import RecordingRouter, wait_until
from tests.edged.builders import make_pod


class FakeSource:
    """A Docker stream of ``frames``; each frame taken is counted; ``close`` ends it."""

    def __init__(self, frames: list[tuple[str, bytes]], code: int | None = None) -> None:
        self._frames = frames
        self._code = code
        self.taken = 0
        self.closed = threading.Event()

    def frames(self) -> Iterator[tuple[str, bytes]]:
        for frame in self._frames:
            if self.closed.is_set():
                return
            self.taken += 1
            yield frame

    def exit_code(self) -> int | None:
        return self._code

    def close(self) -> None:
        self.closed.set()


class FakeOpener:
    def __init__(self, source: FakeSource) -> None:
        self.source = source
        self.calls: list[tuple[Any, ...]] = []

    def logs(self, container_id: str, *, follow: bool, tail: int, since_s: int) -> FakeSource:
        self.calls.append(("logs", container_id, follow, tail, since_s))
        return self.source

    def exec(self, container_id: str, command: tuple[str, ...]) -> FakeSource:
        self.calls.append(("exec", container_id, command))
        return self.source


class Node:
    """A pod ``web`` with containers ``main`` (running) and ``side`` (exited), and the streams."""

    def __init__(self, source: FakeSource, stall_s: float = 60.0) -> None:
        self.router = RecordingRouter()
        self.events: list[object] = []
        table = PodTable(StartGates(1, 10, 60))
        pod = parse_pod(
            make_pod("web", uid="uid-1", containers=[{"name": "main", "image": "i"}, {"name": "side", "image": "i"}]), "default"
        )
        table.set_pod(pod)
        inventory = ContainerInventory()
        for number, (name, status) in enumerate([("main", "running"), ("side", "exited")], start=1):
            labels = {POD_UID_LABEL: "uid-1", CONTAINER_NAME_LABEL: name}
            inventory.apply(number, f"id-{name}", ContainerInfo(f"id-{name}", name, labels, "i", "sha", status, created_at="2026"))
        self.opener = FakeOpener(source)
        self.streams = PodStreams(self.router, self.events.append, table, inventory, self.opener, stall_s=stall_s)

    def open(self, kind: str = "podlogs", **content: Any) -> None:
        body = {"stream": "s1", "container": "main", **content}
        self.streams.handle(
            Message.new(source="cloudstreams", group="resource", operation="stream_open", resource=f"default/{kind}/web", content=body)
        )

    def ack(self, seq: int) -> None:
        self.streams.handle(
            Message.new(
                source="cloudstreams",
                group="resource",
                operation="stream_ack",
                resource="default/podlogs/web",
                content={"stream": "s1", "seq": seq},
            )
        )

    def chunks(self) -> list[StreamChunk]:
        return [e for e in list(self.events) if isinstance(e, StreamChunk)]

    def to_cloud(self) -> list[Message]:
        for event in list(self.events):
            self.streams.on_event(event)  # type: ignore[arg-type]
        self.events.clear()
        return self.router.take("send", Module.HUB)


def frames(count: int, size: int = 10) -> list[tuple[str, bytes]]:
    return [("stdout", bytes([65 + n % 26]) * size) for n in range(count)]


def test_a_stream_sends_no_more_than_its_window_until_the_cloud_acknowledges() -> None:
    source = FakeSource(frames(20, size=1024))
    node = Node(source)

    node.open(window=4, chunk=1024)
    # Four chunks sent; one frame read ahead, the reader waiting with the next: the pump waits for credit.
    wait_until(lambda: len(node.chunks()) == 4 and source.taken == 6, 5, 0.005, "the window spent")
    held = len(node.chunks())
    node.ack(3)
    wait_until(lambda: len(node.chunks()) == 7 and source.taken == 9, 5, 0.005, "three more chunks for three credits")

    assert held == 4
    assert [c.seq for c in node.chunks()] == [1, 2, 3, 4, 5, 6, 7]
    assert all(len(c.data) == 1024 for c in node.chunks())


def test_lines_read_while_the_pump_waits_for_credit_go_out_together_in_one_chunk() -> None:
    source = FakeSource(frames(50, size=10))
    node = Node(source)

    node.open(window=1, chunk=1024)
    wait_until(lambda: source.taken == 50, 5, 0.005, "every line read ahead")
    node.ack(1)
    wait_until(lambda: any(isinstance(e, StreamEnded) for e in node.events), 5, 0.005, "the end")

    sizes = [len(c.data) for c in node.chunks()]
    assert sum(sizes) == 500 and len(sizes) <= 2  # at most the first line alone, then the rest at once


def test_every_chunk_reaches_the_cloud_in_order_split_to_the_chunk_size_and_then_the_end() -> None:
    source = FakeSource([("stdout", b"x" * 3000), ("stdout", b"tail\n")])
    node = Node(source)

    node.open(window=32, chunk=1024, follow=True, tail=5, since=60)
    wait_until(lambda: any(isinstance(e, StreamEnded) for e in node.events), 5, 0.005, "the end")
    sent = node.to_cloud()

    data = [base64.b64decode(m.content["data"]) for m in sent if m.operation == "stream_data"]
    assert sent[0].operation == "stream_opened" and sent[-1].operation == "stream_end"
    assert b"".join(data) == b"x" * 3000 + b"tail\n" and all(len(d) <= 1024 for d in data)
    assert all(m.resource == "default/podlogs/web" and m.group == "resource" and m.source == "edged" for m in sent)
    assert sent[-1].content == {"stream": "s1", "exit_code": None, "error": None}
    assert node.opener.calls == [("logs", "id-main", True, 5, 60)]


def test_exec_ends_with_the_commands_exit_code() -> None:
    node = Node(FakeSource([("stderr", b"oops\n")], code=7))

    node.open("podexec", command=["sh", "-c", "exit 7"])
    wait_until(lambda: any(isinstance(e, StreamEnded) for e in node.events), 5, 0.005, "the end")
    sent = node.to_cloud()

    assert sent[1].content["channel"] == "stderr"
    assert sent[-1].content == {"stream": "s1", "exit_code": 7, "error": None}
    assert node.opener.calls == [("exec", "id-main", ("sh", "-c", "exit 7"))]


def test_a_close_from_the_cloud_closes_the_docker_stream_and_nothing_more_is_sent() -> None:
    source = FakeSource(frames(100, size=1024))
    node = Node(source)

    node.open(window=2, chunk=1024)
    wait_until(lambda: len(node.chunks()) == 2 and source.taken == 4, 5, 0.005, "the pump waiting for credit")
    node.streams.handle(
        Message.new(
            source="cloudstreams", group="resource", operation="stream_close", resource="default/podlogs/web", content={"stream": "s1"}
        )
    )

    assert source.closed.is_set()
    assert len(node.streams) == 0
    assert node.to_cloud() == []  # a closed stream's events are dropped


def test_a_stream_nobody_acknowledges_ends_with_an_error_after_the_stall_time() -> None:
    source = FakeSource(frames(10))
    node = Node(source, stall_s=0.05)

    node.open(window=1)
    wait_until(lambda: any(isinstance(e, StreamEnded) for e in node.events), 5, 0.005, "the end")

    assert node.to_cloud()[-1].content["error"] == "edged: no chunk acknowledged for 0.05 s"
    assert source.closed.is_set()


@pytest.mark.parametrize(
    ("kind", "content", "error"),
    [
        ("podlogs", {"container": ""}, "a container name must be specified for pod web, choose one of: [main side]"),
        ("podlogs", {"container": "other"}, "container other is not valid for pod web: choose one of: [main side]"),
        ("podexec", {"container": "side", "command": ["true"]}, 'container "side" in pod "web" is not running (exited): cannot exec'),
        ("podexec", {"command": []}, "exec needs 'command': a non-empty list of strings"),
        ("podlogs", {"tail": "ten"}, "'tail' must be an integer, not 'ten'"),
    ],
    ids=["no-container", "unknown-container", "exec-not-running", "no-command", "bad-tail"],
)
def test_a_request_edged_cannot_serve_ends_at_once_with_the_reason(kind: str, content: dict[str, Any], error: str) -> None:
    node = Node(FakeSource([]))

    node.open(kind, **content)

    [end] = node.router.take("send", Module.HUB)
    assert (end.operation, end.content) == (StreamOperation.END, {"stream": "s1", "exit_code": None, "error": error})
    assert node.opener.calls == []


def test_a_pod_that_is_not_on_this_node_is_refused() -> None:
    node = Node(FakeSource([]))
    message = Message.new(source="c", group="resource", operation="stream_open", resource="default/podlogs/other", content={"stream": "s9"})

    node.streams.handle(message)

    [end] = node.router.take("send", Module.HUB)
    assert end.content["error"] == 'pod "other" is not on this node (namespace default)'


def test_the_window_and_chunk_the_cloud_asks_for_are_capped() -> None:
    message = Message.new(
        source="c",
        group="resource",
        operation="stream_open",
        resource="ns/podlogs/p",
        content={"stream": "s", "window": 10**6, "chunk": 10**9},
    )

    request = parse_request(message)

    assert (request.window, request.chunk) == (32, 32 * 1024)


def test_opened_is_the_first_event_of_a_stream() -> None:
    node = Node(FakeSource(frames(1)))

    node.open()
    wait_until(lambda: any(isinstance(e, StreamEnded) for e in node.events), 5, 0.005, "the end")

    assert isinstance(node.events[0], StreamOpened) and node.events[0].container == "main"
