"""Delivery to the cloud that loses nothing (docs/protocol.md#5.8, fixed; docs/architecture.md#5.2).

The twin is the one owner of its messages for the cloud until they are written to the cloud
link's socket: every one is stored in ``twin_outbox`` in the same transaction as the change it
reports, before it is handed to the hub, and its row stays until the hub reports it written.
The hub never keeps them: it writes them or gives them back. So::

    WAITING ──hand over (cloud connected)──► WITH_HUB ──hub: written──► delivered (row deleted)
       ▲                                        │                       or SENT (see below)
       └────────hub: returned (cloud away, ─────┘
                link broke before writing)

- one batch is with the hub at a time: the next is handed over only once the hub has reported
  on every message of the last, so a message it returns goes out again before anything newer;
- while the cloud is away messages wait here, in order (``limit`` at most: beyond it the
  oldest that waits is dropped and counted);
- frames a link wrote and then lost with it are lost with it: once a cloud has been seen to
  confirm reports (this project's cloud hub does, with a reply naming the report),
  ``keep_until_confirmed`` is set and a written message stays (SENT) until its reply arrives;
  after a link loss the unconfirmed ones wait again and go out in order, with their ids, so
  that cloud can recognise a resend. Neither original cloud replies to ``edge_updated`` or
  ``device/<id>/state``: for them a written message is delivered;
- an *awaited* message (the membership-detail request, which a cloud may answer with
  ``parent_msg_id`` = its id) stays SENT until a reply confirms it, is resent with back-off
  meanwhile, and is given up after ``resend_limit`` sends, counted and logged.

Delivered rows are deleted in the next transaction (or by a tidy timer), so a crash in between
at worst sends a message twice, never loses one.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from actors.protocol import DeliveryReport
from actors.twin.store import OutboxRecord
from kubeedge_actors.backoff import Backoff
from kubeedge_actors.message import Message

logger = logging.getLogger(__name__)


class _State(Enum):
    WAITING = "waiting"  # to be handed to the hub
    WITH_HUB = "with the hub"  # handed over; the hub has not reported yet
    SENT = "sent"  # written, and kept until the cloud confirms it (awaited, or keep_until_confirmed)


@dataclass(eq=False)
class _Entry:
    message: Message
    awaited: bool
    state: _State = _State.WAITING
    sends: int = 0  # times written to the link
    written_in: int = 0  # the connection (the hub's CloudState.change) that last wrote it
    backoff: Backoff | None = None


@dataclass
class OutboxStats:
    sent: int = 0
    resent: int = 0
    given_up: int = 0
    dropped: int = 0


@dataclass(eq=False)
class CloudOutbox:
    """The twin's messages for the cloud, in order, until delivered.

    Args:
        send: hands one message to the hub; False when the hub did not take it.
        resend_after: calls back ``due(msg_id)`` after a delay, for awaited messages.
        new_backoff: the resend back-off of one awaited message.
        resend_limit: sends of an awaited message before it is given up.
        limit: messages kept at most; beyond it the oldest waiting unawaited one is dropped and counted.
        batch: messages handed to the hub at once.
    """

    send: Callable[[Message], bool]
    resend_after: Callable[[float, str], object]
    new_backoff: Callable[[], Backoff]
    resend_limit: int = 5
    limit: int = 100_000
    batch: int = 1_000
    stats: OutboxStats = field(default_factory=OutboxStats)
    #: Sent messages stay until a reply confirms them, and go out again after a link loss.
    keep_until_confirmed: bool = False

    def __post_init__(self) -> None:
        self._entries: OrderedDict[str, _Entry] = OrderedDict()  # by message id, in send order
        self._delivered: list[str] = []  # rows to delete in the next transaction
        self._with_hub = 0
        self._overflowing = False

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def with_hub(self) -> int:
        """Messages handed to the hub that it has not reported on yet."""
        return self._with_hub

    def restore(self, records: list[OutboxRecord]) -> None:
        """What the store kept (after a restart): all of it waits to be sent."""
        for record in records:
            self._entries[record.message.id] = _Entry(record.message, record.awaited)

    def add(self, message: Message, awaited: bool) -> None:
        """Keep ``message`` (already stored by the caller); :meth:`flush` hands it over."""
        self._entries[message.id] = _Entry(message, awaited)
        if len(self._entries) > self.limit:
            self._drop_oldest()

    def take_delivered(self) -> list[str]:
        """Ids of rows to delete in the next transaction (give them back if it fails)."""
        delivered, self._delivered = self._delivered, []
        return delivered

    def give_back(self, delivered: list[str]) -> None:
        """The transaction that should have deleted these rows failed: delete them next time."""
        self._delivered[:0] = delivered

    @property
    def has_delivered(self) -> bool:
        return bool(self._delivered)

    def flush(self) -> bool:
        """Hand what waits to the hub, oldest first, unless a batch is with it already; stop at
        the first the hub refuses. Call only while the cloud is connected.

        Returns:
            False when the hub refused one (the caller retries later).
        """
        if self._with_hub:
            return True  # the hub's report on that batch calls for the next
        handed = 0
        for entry in self._entries.values():
            if handed == self.batch:
                break
            if entry.state is not _State.WAITING:
                continue  # with the hub, or sent and waiting for its reply
            if not self.send(entry.message):
                return False
            entry.state = _State.WITH_HUB
            self._with_hub += 1
            handed += 1
        if self._overflowing and len(self._entries) <= self.limit // 2:
            self._overflowing = False
            logger.warning("twin: the cloud backlog is down to %d; %d dropped so far", len(self._entries), self.stats.dropped)
        return True

    def reported(self, report: DeliveryReport) -> None:
        """The hub says which messages it wrote to the link and which it gave back; or, as it
        starts, that an earlier hub will never report on what it took."""
        if report.hub_started and self._with_hub:
            logger.info("twin: %d messages were with a hub that stopped without a word on them; they go out again", self._with_hub)
            for entry in self._entries.values():
                if entry.state is _State.WITH_HUB:
                    entry.state = _State.WAITING
            self._with_hub = 0
        for msg_id in report.written:
            self._written(msg_id, report.connection)
        for msg_id in report.returned:
            returned = self._entries.get(msg_id)
            if returned is not None and returned.state is _State.WITH_HUB:
                returned.state = _State.WAITING
                self._with_hub -= 1

    def _written(self, msg_id: str, connection: int) -> None:
        entry = self._entries.get(msg_id)
        if entry is None or entry.state is _State.SENT:
            return  # confirmed meanwhile, or known written
        if entry.state is _State.WITH_HUB:
            self._with_hub -= 1
        # (WAITING: handed over before a restart of this actor, and written since.)
        if entry.sends:
            self.stats.resent += 1
        else:
            self.stats.sent += 1
        entry.sends += 1
        entry.written_in = connection
        if entry.awaited:
            entry.state = _State.SENT
            self.resend_after(self._backoff(entry).next_delay(), msg_id)
        elif self.keep_until_confirmed:
            entry.state = _State.SENT
        else:
            self._deliver(msg_id)

    def reset_unconfirmed(self, written_before: int | None = None) -> None:
        """The link that wrote them is gone: written reports the cloud has not confirmed go out
        again; those written before connection ``written_before`` when given, else all."""
        for entry in self._entries.values():
            if entry.state is _State.SENT and not entry.awaited and (written_before is None or entry.written_in < written_before):
                entry.state = _State.WAITING

    def confirm(self, parent_id: str) -> bool:
        """A cloud message answered ``parent_id``: an awaited or written message is delivered."""
        entry = self._entries.get(parent_id)
        if entry is None or not (entry.awaited or entry.sends or entry.state is _State.WITH_HUB):
            return False
        if entry.state is _State.WITH_HUB:
            self._with_hub -= 1  # the cloud answered before the hub's report came: it was written
        self._deliver(parent_id)
        return True

    def confirm_matching(self, predicate: Callable[[Message], bool]) -> int:
        """Confirm every awaited message ``predicate`` accepts (a reply without parent id)."""
        matching = [msg_id for msg_id, entry in self._entries.items() if entry.awaited and predicate(entry.message)]
        for msg_id in matching:
            entry = self._entries[msg_id]
            if entry.state is _State.WITH_HUB:
                self._with_hub -= 1
            self._deliver(msg_id)
        return len(matching)

    def resend_due(self, msg_id: str, connected: bool) -> None:
        """The resend timer of an awaited message fired: it waits to be handed over again
        (the caller flushes), or is given up."""
        entry = self._entries.get(msg_id)
        if entry is None or not connected or entry.state is not _State.SENT:
            return  # confirmed, or superseded by the next connect's request
        if entry.sends >= self.resend_limit:
            self._deliver(msg_id)
            self.stats.given_up += 1
            logger.warning(
                "twin: no reply from the cloud to %s (%s %s) after %d sends; given up [%d so far]",
                msg_id,
                entry.message.operation,
                entry.message.resource,
                entry.sends,
                self.stats.given_up,
            )
            return
        entry.state = _State.WAITING

    def _deliver(self, msg_id: str) -> None:
        del self._entries[msg_id]
        self._delivered.append(msg_id)

    def _backoff(self, entry: _Entry) -> Backoff:
        if entry.backoff is None:
            entry.backoff = self.new_backoff()
        return entry.backoff

    def _drop_oldest(self) -> None:
        victim = next((i for i, e in self._entries.items() if not e.awaited and e.state is not _State.WITH_HUB), None)
        if victim is None:
            return
        self._deliver(victim)
        self.stats.dropped += 1
        if not self._overflowing:
            logger.warning("twin: %d messages wait for the cloud; dropping the oldest from now on", self.limit)
        self._overflowing = True


__all__ = ["CloudOutbox", "OutboxStats"]
