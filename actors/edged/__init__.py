"""edged: the mini-kubelet. Pods from meta run as Docker containers (docs/protocol.md#7)."""

from __future__ import annotations

from actors.edged.actor import EdgedActor
from actors.edged.settings import EdgedSettings, EdgedTimings

__all__ = ["EdgedActor", "EdgedSettings", "EdgedTimings"]
