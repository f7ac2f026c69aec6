"""A fake cloud link for tier-1 tests of the hub actor: scripted dials, recorded frames.

Nothing is answered by default: a dial that was not scripted, or a send to a closed link,
is an error the test sees.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection

from actors.hub.transport import CloudLinkError, FrameCallback, LostCallback, WrittenCallback


class FakeLink:
    """One fake connection generation.

    Frames handed over are written at once (``sent``), as a link with an idle socket does;
    with ``writes_at_once = False`` they wait in ``queued`` until the test calls :meth:`write`.
    """

    def __init__(self, generation: int, on_frames: FrameCallback, on_lost: LostCallback, on_written: WrittenCallback) -> None:
        self.generation = generation
        self._on_frames = on_frames
        self._on_lost = on_lost
        self._on_written = on_written
        self.started = False
        self.closed = False
        self.lost = False
        self.writes_at_once = True
        self.sent: list[str] = []
        self.queued: list[str] = []  # handed over, not written yet (and, once lost, never)
        self.hand_overs = 0  # send_many() calls
        self.reports_asked = 0
        self._report_at = 0
        self._reported = 0

    def start(self) -> None:
        assert not self.started, "started twice"
        self.started = True

    def send_many(self, texts: Collection[str], *, report: bool = False) -> None:
        if self.closed:
            raise AssertionError(f"send on closed generation {self.generation}")
        self.hand_overs += 1
        self.queued.extend(texts)
        if report:
            self.reports_asked += 1
            self._report_at = len(self.sent) + len(self.queued)
        if self.writes_at_once and not self.lost:
            self.write()

    def close(self, wait_s: float = 2.0) -> bool:
        self.closed = True
        return True

    def take_unsent(self) -> list[str]:
        unsent, self.queued = self.queued, []
        return unsent

    # --- what the test does to the link ---------------------------------------------------

    def write(self, count: int | None = None) -> None:
        """The link's thread writes ``count`` queued frames (all by default), and reports them
        written when the hub asked."""
        count = len(self.queued) if count is None else count
        self.sent += self.queued[:count]
        del self.queued[:count]
        if len(self.sent) >= self._report_at > self._reported:
            self._reported = len(self.sent)
            self._on_written(self.generation, len(self.sent))

    def receive(self, *data: str | bytes) -> None:
        """The cloud sends frames, read in one batch (calls the hub's reader callback)."""
        self._on_frames(self.generation, list(data))

    def lose(self, reason: str = "connection reset", unsent: list[str] | None = None) -> None:
        """The link's thread hits an I/O error; ``unsent``, when given, stands for what was
        queued but not written (else: what is in ``queued``)."""
        self.lost = True
        if unsent is not None:
            self.queued = list(unsent)
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

    def dial(self, generation: int, on_frames: FrameCallback, on_lost: LostCallback, on_written: WrittenCallback) -> FakeLink:
        self.dial_count += 1
        if not self._script:
            self.unexpected.append(generation)
            raise AssertionError(f"unexpected dial of generation {generation}: nothing scripted")
        refusal = self._script.popleft()
        if refusal is not None:
            raise CloudLinkError(refusal)
        link = FakeLink(generation, on_frames, on_lost, on_written)
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
