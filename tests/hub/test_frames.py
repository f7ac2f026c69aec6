"""Tier 1: the client frames the link writes are exactly websocket-client's (RFC 6455 §5.2), on the
websocket-client release that was verified."""

from __future__ import annotations

import importlib.metadata
import itertools
from collections.abc import Callable

import pytest
import websocket

from actors.hub.frames import BATCHED_WRITER_VERIFIED_WITH, masked_text_frames


def counting_keys() -> tuple[list[bytes], Callable[[int], bytes]]:
    """Mask keys 4 bytes apart from a counter, and the list of those handed out."""
    counter = itertools.count(1)
    handed: list[bytes] = []

    def keys(length: int) -> bytes:
        block = bytes(next(counter) % 256 for _ in range(length))
        handed.append(block)
        return block

    return handed, keys


def websocket_client_frames(texts: list[str], keys: bytes) -> bytes:
    frames = []
    for index, text in enumerate(texts):
        frame = websocket.ABNF.create_frame(text, websocket.ABNF.OPCODE_TEXT)
        frame.get_mask_key = lambda _n, i=index: keys[4 * i : 4 * i + 4]
        frames.append(frame.format())
    return b"".join(frames)


@pytest.mark.parametrize(
    "texts",
    [
        ["x"],
        ["", "a", "ab", "abc", "abcd", "abcde"],
        ["a" * 125, "b" * 126, "c" * 127],
        ["d" * 65535, "e" * 65536],
        ['{"content":"grüße, 温度 ✓"}'],
        [f'{{"n":{n}}}' for n in range(256)],
    ],
    ids=["one", "short-lengths-around-the-key", "7-bit-to-16-bit-length", "16-bit-to-64-bit-length", "non-ascii", "a-full-batch"],
)
def test_a_batch_of_frames_is_byte_for_byte_what_websocket_client_makes(texts: list[str]) -> None:
    handed, keys = counting_keys()

    ours = masked_text_frames(texts, keys)

    assert ours == websocket_client_frames(texts, handed[0])


def test_every_frame_gets_its_own_mask_key() -> None:
    handed, keys = counting_keys()

    masked_text_frames(["a", "b", "c"], keys)

    assert len(handed) == 1 and len(handed[0]) == 12 and len({handed[0][i : i + 4] for i in (0, 4, 8)}) == 3


def test_frames_read_back_as_the_texts_that_were_sent() -> None:
    texts = ["hello", "z" * 300, "ünïcode"]
    _handed, keys = counting_keys()
    buffer = bytearray(masked_text_frames(texts, keys))

    def recv(size: int) -> bytes:
        chunk = bytes(buffer[:size])
        del buffer[:size]
        return chunk

    reader = websocket.frame_buffer(recv, skip_utf8_validation=False)
    frames = [reader.recv_frame() for _ in texts]

    assert [f.opcode for f in frames] == [websocket.ABNF.OPCODE_TEXT] * 3
    assert [f.mask_value for f in frames] == [1, 1, 1]
    assert [f.data.decode() for f in frames] == texts  # the reader unmasks


def test_the_batched_frame_writer_runs_on_the_websocket_client_it_was_verified_against() -> None:
    installed = importlib.metadata.version("websocket-client")

    assert installed == BATCHED_WRITER_VERIFIED_WITH, (
        "actors/hub/frames.py: BatchedFrameWriter writes frames to websocket-client's socket behind its back and was "
        f"verified against websocket-client {BATCHED_WRITER_VERIFIED_WITH}, but {installed} is installed. Check that "
        "WebSocket.sock is still the connected socket and that reads, keepalives and close still work beside it "
        "(pytest tests/hub), that benchmarks/link.py still shows batched_vs_public above 1.1 (else use PublicFrameWriter), "
        "then set BATCHED_WRITER_VERIFIED_WITH to the new release"
    )
