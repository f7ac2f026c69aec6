"""hub: the edge end of the cloud link (edgehub, docs/protocol.md#3); wire name ``websocket``."""

from __future__ import annotations

from actors.hub.actor import HubActor

__all__ = ["HubActor"]
