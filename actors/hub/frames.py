"""How the link writes its frames to websocket-client's socket: the one adapter over a library's internals.

:class:`PublicFrameWriter` uses websocket-client's public ``WebSocket.send``: one frame, one
TLS record and one socket write per message. :class:`BatchedFrameWriter` builds and masks a
batch of frames itself and writes them with one ``sendall`` to ``WebSocket.sock``, behind
websocket-client's back. ``benchmarks/link.py`` measures both (``batched_vs_public``: the
batched writer is the link's because the public path is measurably slower); it is pinned to the
websocket-client release it was verified against (``BATCHED_WRITER_VERIFIED_WITH``,
tests/hub/test_frames.py).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from typing import Protocol

import websocket

from kubeedge_actors.errors import KubeEdgeActorsError

#: Zeros of the key stream under a frame header and its mask key, by header length.
_UNMASKED = {length: bytes(length + 4) for length in (2, 4, 10)}


class FrameWriter(Protocol):
    """Writes client text frames to a connected websocket: all of them, in order, or raises."""

    def write(self, texts: list[str]) -> None: ...


class PublicFrameWriter:
    """websocket-client's public API: ``WebSocket.send``, one frame and one socket write each."""

    def __init__(self, ws: websocket.WebSocket) -> None:
        self._send = ws.send

    def write(self, texts: list[str]) -> None:
        send = self._send
        for text in texts:
            send(text)


#: The websocket-client release :class:`BatchedFrameWriter` was verified against (its frames
#: byte for byte, and its use of ``WebSocket.sock``): tests/hub/test_frames.py fails on another.
BATCHED_WRITER_VERIFIED_WITH = "1.9.2"


class BatchedFrameWriter:
    """Frames built and masked here and written to the websocket's socket in one write per
    batch, behind websocket-client's back: the one place the edge uses its internals.

    ``benchmarks/link.py`` measures it against :class:`PublicFrameWriter` (``batched_vs_public``):
    a TLS record and a ``send`` per frame, and ``ABNF``'s per-frame masking, cost the public
    path most of the edge→cloud rate. Sending only (``WebSocket.send`` is never called, so
    websocket-client keeps no state about sent frames); reading and closing stay public.
    """

    def __init__(self, ws: websocket.WebSocket) -> None:
        if ws.sock is None:
            raise FrameWriterError("the websocket has no socket: it is not connected")
        self._sendall = ws.sock.sendall
        self._mask_keys = _MaskKeys()

    def write(self, texts: list[str]) -> None:
        self._sendall(masked_text_frames(texts, self._mask_keys))


#: How a connection writes its frames; the dialer's default.
FrameWriterFactory = Callable[[websocket.WebSocket], FrameWriter]


def masked_text_frames(texts: list[str], mask_keys: Callable[[int], bytes]) -> bytes:
    """Client text frames (RFC 6455 §5.2), each with its own mask key, as one buffer to write.

    The same bytes websocket-client's ``ABNF`` makes, built for a whole batch at once:
    ``ABNF`` builds and masks each frame through Python objects (~10 µs a frame, most of the
    edge→cloud cost on the link's thread), while here every header and payload is laid end to
    end and masked with one XOR of two big integers: the key stream is zero under the headers,
    so they come through unchanged.
    """
    keys = mask_keys(4 * len(texts))
    plain: list[bytes] = []
    stream: list[bytes] = []
    for index, text in enumerate(texts):
        payload = text.encode("utf-8")
        length = len(payload)
        key = keys[4 * index : 4 * index + 4]
        if length < 126:
            header = bytes((0x81, 0x80 | length))  # FIN + text; MASK + length
        elif length < 0x10000:
            header = struct.pack("!BBH", 0x81, 0xFE, length)
        else:
            header = struct.pack("!BBQ", 0x81, 0xFF, length)
        plain += (header, key, payload)
        stream += (_UNMASKED[len(header)], (key * (length // 4 + 1))[:length])
    data = b"".join(plain)
    return (int.from_bytes(data, "little") ^ int.from_bytes(b"".join(stream), "little")).to_bytes(len(data), "little")


class _MaskKeys:
    """Frame mask keys from the OS's strong entropy (RFC 6455 §5.3), 4 KiB at a time: one
    ``getrandom`` per 1024 frames instead of one per frame. Used on the I/O thread only."""

    def __init__(self) -> None:
        self._pool = b""
        self._next = 0

    def __call__(self, length: int) -> bytes:
        if self._next + length > len(self._pool):
            self._pool, self._next = os.urandom(max(4096, length)), 0
        key = self._pool[self._next : self._next + length]
        self._next += length
        return key


class FrameWriterError(KubeEdgeActorsError):
    """A frame writer was given a websocket that is not connected."""


__all__ = [
    "BATCHED_WRITER_VERIFIED_WITH",
    "BatchedFrameWriter",
    "FrameWriter",
    "FrameWriterError",
    "FrameWriterFactory",
    "PublicFrameWriter",
    "masked_text_frames",
]
