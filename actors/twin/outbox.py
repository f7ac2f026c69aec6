"""Delivery to the cloud that loses nothing (docs/protocol.md#5.8, fixed).

Every message for the cloud is stored in ``twin_outbox`` in the same transaction as the change
it reports, before it is sent. Then:

- while the cloud is away it waits; on ``cloud_connected`` the backlog goes out in order, and
  a new message never overtakes an older one;
- a message the hub has taken while connected is delivered: the hub keeps what it holds, in
  order, across a link loss (the contract in docs/architecture.md#4.2), and neither original cloud ever replies to
  ``edge_updated`` or ``device/<id>/state``, so waiting for a reply would resend them forever
  (the original's bug);
- except that frames already written into a link that then breaks are lost with it: once a
  cloud has been seen to confirm reports (this project's cloud hub does, with a reply naming
  the report), ``keep_until_confirmed`` is set and every sent message stays until its reply
  arrives; after a link loss the unconfirmed ones go out again, in order, with their ids, so
  that cloud can recognise a resend;
- an *awaited* message (the membership-detail request, which a cloud may answer with
  ``parent_msg_id`` = its id) stays until a reply confirms it, is resent with back-off
  meanwhile, and is given up after ``resend_limit`` sends, counted and logged.

Delivered rows are deleted in the next transaction (or by a tidy timer), so a crash in between
at worst sends a message twice, never loses one.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from actors.twin.store import OutboxRecord
from kubeedge_actors.backoff import Backoff
from kubeedge_actors.message import Message

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class _Entry:
    message: Message
    awaited: bool
    sends: int = 0
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
        limit: messages kept at most; beyond it the oldest unawaited one is dropped and counted.
    """

    send: Callable[[Message], bool]
    resend_after: Callable[[float, str], object]
    new_backoff: Callable[[], Backoff]
    resend_limit: int = 5
    limit: int = 100_000
    stats: OutboxStats = field(default_factory=OutboxStats)
    #: Sent messages stay until a reply confirms them, and go out again after a link loss.
    keep_until_confirmed: bool = False

    def __post_init__(self) -> None:
        self._entries: OrderedDict[str, _Entry] = OrderedDict()  # by message id, in send order
        self._delivered: list[str] = []  # rows to delete in the next transaction
        self._overflowing = False

    def __len__(self) -> int:
        return len(self._entries)

    def restore(self, records: list[OutboxRecord]) -> None:
        """What the store kept (after a restart): all of it waits to be sent."""
        for record in records:
            self._entries[record.message.id] = _Entry(record.message, record.awaited)

    def add(self, message: Message, awaited: bool) -> None:
        """Keep ``message`` (already stored by the caller); :meth:`flush` sends it."""
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
        """Send what waits, oldest first; stop at the first the hub refuses. Call only while connected.

        Returns:
            False when the hub refused one (the caller retries later).
        """
        for msg_id, entry in list(self._entries.items()):
            if entry.sends:
                continue  # sent and waiting for its reply (the resend timer, or the next connect)
            if not self.send(entry.message):
                return False
            self.stats.sent += 1
            if entry.awaited:
                self._sent_awaited(entry)
            elif self.keep_until_confirmed:
                entry.sends = 1
            else:
                del self._entries[msg_id]
                self._delivered.append(msg_id)
        if self._overflowing and len(self._entries) <= self.limit // 2:
            self._overflowing = False
            logger.warning("twin: the cloud backlog is down to %d; %d dropped so far", len(self._entries), self.stats.dropped)
        return True

    def reset_sends(self) -> None:
        """The cloud went away: what it has not confirmed is sent again on the next connect."""
        for entry in self._entries.values():
            entry.sends = 0

    def confirm(self, parent_id: str) -> bool:
        """A cloud message answered ``parent_id``: an awaited or kept message is delivered."""
        entry = self._entries.get(parent_id)
        if entry is None or not (entry.awaited or entry.sends):
            return False
        del self._entries[parent_id]
        self._delivered.append(parent_id)
        return True

    def confirm_matching(self, predicate: Callable[[Message], bool]) -> int:
        """Confirm every awaited message ``predicate`` accepts (a reply without parent id)."""
        matching = [msg_id for msg_id, entry in self._entries.items() if entry.awaited and predicate(entry.message)]
        for msg_id in matching:
            self.confirm(msg_id)
        return len(matching)

    def resend_due(self, msg_id: str, connected: bool) -> None:
        """The resend timer of an awaited message fired."""
        entry = self._entries.get(msg_id)
        if entry is None or not connected or not entry.sends:
            return  # confirmed, or waiting for the next connect
        if entry.sends >= self.resend_limit:
            del self._entries[msg_id]
            self._delivered.append(msg_id)
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
        if self.send(entry.message):
            self.stats.resent += 1
            self._sent_awaited(entry)
        else:
            self.resend_after(self._backoff(entry).next_delay(), msg_id)

    def _sent_awaited(self, entry: _Entry) -> None:
        entry.sends += 1
        self.resend_after(self._backoff(entry).next_delay(), entry.message.id)

    def _backoff(self, entry: _Entry) -> Backoff:
        if entry.backoff is None:
            entry.backoff = self.new_backoff()
        return entry.backoff

    def _drop_oldest(self) -> None:
        victim = next((msg_id for msg_id, entry in self._entries.items() if not entry.awaited), None)
        if victim is None:
            return
        del self._entries[victim]
        self._delivered.append(victim)
        self.stats.dropped += 1
        if not self._overflowing:
            logger.warning("twin: %d messages wait for the cloud; dropping the oldest from now on", self.limit)
        self._overflowing = True


__all__ = ["CloudOutbox", "OutboxStats"]
