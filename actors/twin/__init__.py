"""The twin module: device twins in SQLite, in sync with device apps and the cloud (docs/protocol.md#5)."""

from __future__ import annotations

from actors.twin.actor import TwinActor

__all__ = ["TwinActor"]
