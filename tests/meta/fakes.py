"""A fake ``meta`` table for tier-1 tests: a dict with batches, strict about how it is used."""

from __future__ import annotations

from collections.abc import Iterable


class FakeMetaStore:
    """Implements :class:`actors.meta.store.MetaStorage` in memory.

    It raises on anything the actor must never do: touching it while closed, nesting or
    ending batches that do not exist, or a write the test armed to fail (:attr:`fail_writes`).
    :attr:`commits` counts committed transactions (batches and single writes).
    """

    def __init__(self, rows: dict[str, tuple[str, str]] | None = None) -> None:
        self.rows: dict[str, tuple[str, str]] = dict(rows or {})  # key -> (type, value)
        self.is_open = False
        self.was_opened = False
        self.commits = 0
        self.rollbacks = 0
        self.fail_writes: Exception | None = None
        self._snapshot: dict[str, tuple[str, str]] | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def open(self) -> None:
        if self.is_open:
            raise AssertionError("fake store opened twice")
        self.is_open = self.was_opened = True

    def close(self) -> None:
        self._check_open()
        if self._snapshot is not None:
            self.rollback()
        self.is_open = False

    def _check_open(self) -> None:
        if not self.is_open:
            raise AssertionError("fake store used while closed")

    # --- batches -----------------------------------------------------------------------------

    @property
    def in_batch(self) -> bool:
        return self._snapshot is not None

    def begin(self) -> None:
        self._check_open()
        if self._snapshot is not None:
            raise AssertionError("fake store: batch begun twice")
        self._snapshot = dict(self.rows)

    def commit(self) -> None:
        if self._snapshot is None:
            raise AssertionError("fake store: commit without a batch")
        self._snapshot = None
        self.commits += 1

    def rollback(self) -> None:
        if self._snapshot is None:
            raise AssertionError("fake store: rollback without a batch")
        self.rows, self._snapshot = self._snapshot, None
        self.rollbacks += 1

    def _write(self) -> None:
        self._check_open()
        if self.fail_writes is not None:
            raise self.fail_writes
        if self._snapshot is None:
            self.commits += 1  # a single write is its own transaction

    # --- writes and reads ---------------------------------------------------------------------

    def save(self, key: str, resource_type: str, value: str) -> bool:
        self._write()
        if key in self.rows:
            return False
        self.rows[key] = (resource_type, value)
        return True

    def upsert(self, key: str, resource_type: str, value: str) -> None:
        self._write()
        self.rows[key] = (resource_type, value)

    def delete(self, key: str) -> bool:
        self._write()
        return self.rows.pop(key, None) is not None

    def delete_many(self, keys: Iterable[str]) -> int:
        self._write()
        return sum(self.rows.pop(key, None) is not None for key in list(keys))

    def get(self, key: str) -> str | None:
        self._check_open()
        row = self.rows.get(key)
        return None if row is None else row[1]

    def values_of_type(self, resource_type: str) -> list[str]:
        return [value for _key, value in self.items_of_type(resource_type)]

    def items_of_type(self, resource_type: str) -> list[tuple[str, str]]:
        self._check_open()
        return sorted((key, value) for key, (kind, value) in self.rows.items() if kind == resource_type)

    def keys_of_type(self, resource_type: str) -> set[str]:
        self._check_open()
        return {key for key, (kind, _value) in self.rows.items() if kind == resource_type}

    def count_by_type(self) -> dict[str, int]:
        self._check_open()
        counts: dict[str, int] = {}
        for kind, _value in self.rows.values():
            counts[kind] = counts.get(kind, 0) + 1
        return counts

    def value_of(self, key: str) -> str | None:
        """For assertions: the committed-or-pending value, without the open check."""
        row = self.rows.get(key)
        return None if row is None else row[1]
