"""A fake cloud link for tier-1 tests of the hub actor: scripted dials, recorded frames.

Nothing is answered by default: a dial that was not scripted, or a send to a closed link,
is an error the test sees.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from actors.hub.transport import CloudLinkError, FrameCallback, LostCallback


class FakeLink:
    """One fake connection generation."""

    def __init__(self, generation: int, on_frames: FrameCallback, on_lost: LostCallback) -> None:
        self.generation = generation
        self._on_frames = on_frames
        self._on_lost = on_lost
        self.started = False
        self.closed = False
        self.lost = False
        self.sent: list[str] = []
        self.unsent: list[str] = []
        self.hand_overs = 0  # send_many() calls

    def start(self) -> None:
        assert not self.started, "started twice"
        self.started = True

    def _append(self, text: str) -> None:
        if self.closed:
            raise AssertionError(f"send on closed generation {self.generation}")
        if self.lost:
            self.unsent.append(text)  # the thread is gone: kept for take_unsent()
        else:
            self.sent.append(text)

    def send_many(self, texts: Iterable[str]) -> None:
        for text in list(texts):
            self._append(text)
        self.hand_overs += 1

    def close(self, wait_s: float = 2.0) -> None:
        self.closed = True

    def take_unsent(self) -> list[str]:
        unsent, self.unsent = self.unsent, []
        return unsent

    # --- what the test does to the link ---------------------------------------------------

    def receive(self, *data: str | bytes) -> None:
        """The cloud sends frames, read in one batch (calls the hub's reader callback)."""
        self._on_frames(self.generation, list(data))

    def lose(self, reason: str = "connection reset", unsent: list[str] | None = None) -> None:
        """The link's thread hits an I/O error; ``unsent`` were queued but not written."""
        self.lost = True
        self.unsent = list(unsent or [])
        self._on_lost(self.generation, reason)


class FakeDialer:
    """Dials as scripted: ``accept()`` lets the next dial succeed, ``refuse(reason)`` fails it."""

    url = "wss://cloud.test:10000/project/node-1/events"

    def __init__(self) -> None:
        self._script: deque[str | None] = deque()
        self.links: list[FakeLink] = []
        self.dial_count = 0
        self.unexpected: list[int] = []  # generations dialled with nothing scripted

    def accept(self, times: int = 1) -> FakeDialer:
        self._script.extend([None] * times)
        return self

    def refuse(self, reason: str = "connection refused", times: int = 1) -> FakeDialer:
        self._script.extend([reason] * times)
        return self

    def dial(self, generation: int, on_frames: FrameCallback, on_lost: LostCallback) -> FakeLink:
        self.dial_count += 1
        if not self._script:
            self.unexpected.append(generation)
            raise AssertionError(f"unexpected dial of generation {generation}: nothing scripted")
        refusal = self._script.popleft()
        if refusal is not None:
            raise CloudLinkError(refusal)
        link = FakeLink(generation, on_frames, on_lost)
        self.links.append(link)
        return link

    @property
    def link(self) -> FakeLink:
        """The newest link."""
        assert self.links, "no dial succeeded yet"
        return self.links[-1]

    @property
    def unused_script(self) -> int:
        return len(self._script)
