"""meta (wire name ``metaManager``, group ``meta``): the edge's metadata in SQLite (docs/protocol.md#6)."""

from __future__ import annotations

from actors.meta.actor import MetaActor
from actors.meta.store import MetaStorage, MetaStore

__all__ = ["MetaActor", "MetaStorage", "MetaStore"]
