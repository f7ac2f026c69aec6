"""What edged knows of its containers, kept in order although observations arrive out of order.

Inspections run on several workers, so an older answer can arrive after a newer one. Every
observation takes a sequence number (from any thread) right *before* it is made; an answer is
applied only if its number is higher than the last one applied to that container. An answer
numbered n saw at least the state of the moment n was taken, and every later change brings a
Docker event and so a later observation; the highest number therefore carries news that no
later answer lacks. "Gone" is final: a removal is numbered after it happened.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterable

from actors.edged.model import ContainerInfo

#: What one look at a container saw: (observation number, id, state or None when gone).
Observation = tuple[int, str, ContainerInfo | None]

#: How long the record of a removed container is kept: longer than any request can be in flight.
TOMBSTONE_TTL_S = 900.0


class ContainerInventory:
    """This node's containers by id, and by pod uid."""

    def __init__(self) -> None:
        self._containers: dict[str, ContainerInfo] = {}
        self._applied: dict[str, int] = {}
        self._counter = itertools.count(1)
        self._counter_lock = threading.Lock()
        self._gone_at: dict[str, float] = {}  # removed containers whose record is still kept

    def next_seq(self) -> int:
        """A number for an observation about to be made; safe from any thread."""
        with self._counter_lock:
            return next(self._counter)

    def apply(self, seq: int, container_id: str, info: ContainerInfo | None) -> str | None:
        """Record what an observation numbered ``seq`` saw (None: the container is gone).

        Returns:
            the pod uid whose containers changed, or None (stale answer, or nothing new).
        """
        if seq <= self._applied.get(container_id, 0):
            return None
        self._applied[container_id] = seq
        before = self._containers.get(container_id)
        if info is None:
            if before is None:
                return None
            del self._containers[container_id]
            self._gone_at[container_id] = time.monotonic()
            return before.pod_uid
        self._containers[container_id] = info
        return None if before == info else info.pod_uid

    def apply_listing(self, seq: int, present: Iterable[str], inspected: Iterable[tuple[int, ContainerInfo]]) -> set[str]:
        """Apply a full listing numbered ``seq``: ``inspected`` are the containers that changed
        (each with its own number), anything known and not ``present`` is gone. Returns the pod
        uids that changed."""
        present = set(present)
        changed = {uid for number, info in inspected if (uid := self.apply(number, info.id, info))}
        for container_id in [c for c in self._containers if c not in present]:
            if uid := self.apply(seq, container_id, None):
                changed.add(uid)
        self._forget_old_tombstones()
        return changed

    def _forget_old_tombstones(self) -> None:
        horizon = time.monotonic() - TOMBSTONE_TTL_S
        for container_id in [cid for cid, gone in self._gone_at.items() if gone < horizon]:
            del self._gone_at[container_id]
            if container_id not in self._containers:
                self._applied.pop(container_id, None)

    def statuses(self) -> dict[str, str]:
        """Container id → Docker state, to tell which containers a listing must inspect."""
        return {cid: info.status for cid, info in self._containers.items()}

    def of_pod(self, uid: str) -> list[ContainerInfo]:
        return [c for c in self._containers.values() if c.pod_uid == uid]

    def pod_uids(self) -> set[str]:
        return {c.pod_uid for c in self._containers.values()}

    def all(self) -> list[ContainerInfo]:
        return list(self._containers.values())

    def __len__(self) -> int:
        return len(self._containers)


__all__ = ["ContainerInventory", "Observation"]
