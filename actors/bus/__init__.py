"""The eventbus module: the MQTT bridge between device apps and the twin and cloud (docs/protocol.md#4)."""

from __future__ import annotations

from actors.bus.actor import BusActor

__all__ = ["BusActor"]
