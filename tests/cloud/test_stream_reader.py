"""Tier 1: how the cloud's side of a stream is read (docs/protocol.md#9.5): a chunk is acknowledged
only once whoever serves the user has taken the next step after writing it, so a slow reader
slows the edge; the reader's queue holds a window and no more."""

from __future__ import annotations

import base64
import json

from actors.protocol import StreamKind
from kubeedge_cloud.streams import WINDOW, ReaderBody, StreamData, StreamEnded, StreamFailed, StreamReader, StreamSpec


def reader(told: list[object]) -> StreamReader:
    return StreamReader("s1", StreamSpec("node-1", "default", "web", StreamKind.LOGS), told.append)


def test_a_chunk_is_acknowledged_only_after_it_was_written() -> None:
    told: list[object] = []
    stream = reader(told)
    stream.offer(StreamData(1, "stdout", b"one\n"))
    stream.offer(StreamData(2, "stdout", b"two\n"))
    stream.offer(StreamEnded())
    chunks = ReaderBody(stream, frames=False, poll_s=0.01).chunks()

    first = next(chunks)
    acked_while_writing = list(told)
    second = next(chunks)

    assert (first, acked_while_writing, second) == (b"one\n", [], b"two\n")
    assert [getattr(event, "seq", None) for event in told] == [1]
    assert list(chunks) == []  # the end: the raw log just ends
    assert [getattr(event, "seq", None) for event in told] == [1, 2]


def test_frames_carry_the_channel_and_end_with_the_exit_code_or_the_error() -> None:
    ended, failed = reader([]), reader([])
    ended.offer(StreamData(1, "stderr", b"\xff\x00"))
    ended.offer(StreamEnded(exit_code=3))
    failed.offer(StreamFailed(503, "node node-1 disconnected"))

    lines = [json.loads(line) for line in ReaderBody(ended, frames=True, poll_s=0.01).chunks() if line]
    [failure] = [json.loads(line) for line in ReaderBody(failed, frames=True, poll_s=0.01).chunks() if line]

    assert lines == [{"channel": "stderr", "data": base64.b64encode(b"\xff\x00").decode()}, {"exit_code": 3}]
    assert failure == {"error": "node node-1 disconnected"}


def test_an_idle_stream_yields_none_so_the_server_can_look_at_its_client() -> None:
    chunks = ReaderBody(reader([]), frames=False, poll_s=0.01).chunks()

    assert next(chunks) is None


def test_the_readers_queue_holds_a_window_its_opening_and_its_end_and_refuses_more() -> None:
    stream = reader([])

    taken = [stream.offer(StreamData(seq, "stdout", b"x")) for seq in range(1, WINDOW + 4)]

    assert taken == [True] * (WINDOW + 2) + [False]


def test_closing_a_reader_tells_the_stream_module_once() -> None:
    told: list[object] = []
    stream = reader(told)

    stream.close()
    stream.close()

    assert [type(event).__name__ for event in told] == ["_Close"]
