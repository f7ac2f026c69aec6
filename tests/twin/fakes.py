"""A fake twin store: keeps committed batches in memory and raises on surprises."""

from __future__ import annotations

from actors.twin.model import Device
from actors.twin.store import OutboxRecord, StoreBatch, StoreError


class FakeTwinStore:
    """Stands in for SqliteTwinStore. ``fail_next_commits`` commits raise StoreError."""

    def __init__(self, devices: dict[str, Device] | None = None, outbox: list[OutboxRecord] | None = None) -> None:
        self.devices = dict(devices or {})
        self.outbox = list(outbox or [])
        self.batches: list[StoreBatch] = []
        self.fail_next_commits = 0
        self.is_open = False

    def open(self) -> None:
        if self.is_open:
            raise AssertionError("opened twice")
        self.is_open = True

    def close(self) -> None:
        self.is_open = False

    def load_devices(self) -> dict[str, Device]:
        self._check_open()
        return dict(self.devices)

    def load_outbox(self) -> list[OutboxRecord]:
        self._check_open()
        return list(self.outbox)

    def commit(self, batch: StoreBatch) -> None:
        self._check_open()
        if batch.is_empty():
            return  # as the real store: nothing to write
        if self.fail_next_commits:
            self.fail_next_commits -= 1
            raise StoreError("twin: cannot write to edge.db: database is locked")
        self.batches.append(batch)
        self.outbox.extend(batch.outbox_added)
        removed = set(batch.outbox_removed)
        self.outbox = [record for record in self.outbox if record.message.id not in removed]

    def checkpoint_due(self) -> bool:
        return False

    def checkpoint(self) -> None:
        raise AssertionError("the fake store never asks for a checkpoint")

    def _check_open(self) -> None:
        if not self.is_open:
            raise AssertionError("store used while closed")
