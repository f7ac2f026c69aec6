"""Message factories of the edge's protocol, for tests of the edge's modules and of actors
written to work beside them (the runtime's own helpers are in :mod:`kubeedge_actors.testing`)."""

from __future__ import annotations

from typing import Any

from actors.protocol import (
    CLOUD_CONNECTED,
    CLOUD_DISCONNECTED,
    NODE_CONNECTION_RESOURCE,
    NODE_CONNECTION_SOURCE,
    CloudGroup,
    Group,
    Module,
    Operation,
)
from kubeedge_actors.message import Message
from kubeedge_actors.testing import make_message


def cloud_message(operation: str, resource: str, content: Any = None, *, source: str = "controller") -> Message:
    """A message as the cloud's controller sends it to the edge (group ``resource``, docs/protocol.md#9.2)."""
    return make_message(operation, resource, content, source=source, group=CloudGroup.RESOURCE)


def edged_message(operation: str, resource: str, content: Any = None, *, sync: bool = False) -> Message:
    """A message as edged sends it to meta (source ``edged``, group ``meta``, docs/protocol.md#7.5)."""
    return make_message(operation, resource, content, source=Module.EDGED, group=Group.META, sync=sync)


def connection_event(connected: bool, group: str = Group.META) -> Message:
    """The hub's cloud-connection event (docs/protocol.md#3.9)."""
    return make_message(
        Operation.PUBLISH,
        NODE_CONNECTION_RESOURCE,
        CLOUD_CONNECTED if connected else CLOUD_DISCONNECTED,
        source=NODE_CONNECTION_SOURCE,
        group=group,
    )


__all__ = ["cloud_message", "connection_event", "edged_message"]
