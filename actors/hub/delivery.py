"""What became of the durable senders' messages the hub took (docs/architecture.md#5.2).

A durable sender (the twin, ``actors.protocol.DURABLE_SENDERS``) keeps its messages for the
cloud until the hub says they were written to the link's socket; the hub never keeps them.
:class:`SenderReports` follows each such message the hub handed to the current link::

    handed to the link (seq = its place among the link's frames)
        ├─ the link wrote the first n frames, seq < n ──────► written
        └─ the link died; unsent = its last frames ─────────► seq < handed - len(unsent): written
                                                              else: returned
    taken while no link was up ─────────────────────────────► returned

and gathers, per sender, the :class:`~actors.protocol.DeliveryReport` the hub sends it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from actors.protocol import DeliveryReport


@dataclass(frozen=True, slots=True)
class _Handed:
    seq: int  # its place among the frames handed to the current link
    sender: str
    msg_id: str


class SenderReports:
    """The durable senders' messages with the current link, and the reports due to their senders."""

    def __init__(self) -> None:
        self._with_link: deque[_Handed] = deque()
        self._handed = 0  # frames handed to the current link
        self._connection = 0  # the hub's CloudState.change of the current (or last) link
        self._written: dict[str, list[str]] = {}
        self._returned: dict[str, list[str]] = {}
        self.returned_count = 0

    def new_link(self, connection: int) -> None:
        """A link came up, as the hub's state change ``connection``: its frames count from zero."""
        self._forget_link()
        self._connection = connection

    def _forget_link(self) -> None:
        self._with_link.clear()
        self._handed = 0

    def handed(self, count: int, owned: Sequence[tuple[int, str, str]] = ()) -> None:
        """``count`` frames were handed to the link; ``owned`` are (index among them, sender, id)."""
        for index, sender, msg_id in owned:
            self._with_link.append(_Handed(self._handed + index, sender, msg_id))
        self._handed += count

    def returned(self, sender: str, msg_id: str) -> None:
        """Taken while no link was up: it goes back to its sender."""
        self._returned.setdefault(sender, []).append(msg_id)
        self.returned_count += 1

    def written_up_to(self, written: int) -> None:
        """The link wrote its first ``written`` frames."""
        with_link = self._with_link
        while with_link and with_link[0].seq < written:
            done = with_link.popleft()
            self._written.setdefault(done.sender, []).append(done.msg_id)

    def settle(self, unsent: list[str]) -> list[str]:
        """The link is gone and ``unsent`` are its last frames, never written: report the
        durable senders' written or returned; the rest of ``unsent``, in order, is returned
        for the hub to keep."""
        first_unsent = self._handed - len(unsent)
        owned_unsent: set[int] = set()
        for done in self._with_link:
            if done.seq < first_unsent:
                self._written.setdefault(done.sender, []).append(done.msg_id)
            else:
                owned_unsent.add(done.seq - first_unsent)
                self.returned(done.sender, done.msg_id)
        self._forget_link()
        return [text for index, text in enumerate(unsent) if index not in owned_unsent]

    def settle_unknown(self) -> None:
        """The link's thread did not end in time: what may not be written goes back (its
        sender may send it twice; it never loses it)."""
        for done in self._with_link:
            self.returned(done.sender, done.msg_id)
        self._forget_link()

    def take(self) -> dict[str, DeliveryReport]:
        """The reports due, by sender (each sender's ids in the order they were handed)."""
        senders = self._written.keys() | self._returned.keys()
        reports = {
            s: DeliveryReport(tuple(self._written.get(s, ())), self._connection, tuple(self._returned.get(s, ()))) for s in sorted(senders)
        }
        self._written, self._returned = {}, {}
        return reports


__all__ = ["SenderReports"]
