"""edged's side of the contract in docs/architecture.md#4.3: queries to meta and status updates, as messages.

meta answers a query with operation ``response`` and a JSON array of the stored objects,
each as a JSON string (``[]`` when nothing matches), or with operation ``error``.
"""

from __future__ import annotations

import json
from typing import Any

from actors.edged.errors import MetaReplyError
from actors.protocol import Group, Module
from kubeedge_actors.message import Message


def meta_request(operation: str, resource: str, content: Any = None) -> Message:
    """A message from edged to meta (docs/architecture.md#4.3: source ``edged``, group ``meta``)."""
    return Message.new(source=Module.EDGED, group=Group.META, operation=operation, resource=resource, content=content)


def query_objects(reply: Message) -> list[dict[str, Any]]:
    """The objects in meta's answer to a query.

    Raises:
        MetaReplyError: an error reply, or content that is not a list of JSON objects.
    """
    if reply.is_error:
        raise MetaReplyError(f"meta answered {reply.parent_id} with an error: {reply.content}")
    content = reply.content
    if content is None:
        return []
    if isinstance(content, str | bytes):
        content = _json(content)
    if isinstance(content, dict):  # a bare object (docs/protocol.md#6.3 item 4): tolerated
        return [content]
    if not isinstance(content, list):
        raise MetaReplyError(f"meta's answer must be a list, not {type(content).__name__}")
    objects = []
    for item in content:
        value = _json(item) if isinstance(item, str | bytes) else item
        if not isinstance(value, dict):
            raise MetaReplyError(f"meta's answer holds {type(value).__name__}, not an object")
        objects.append(value)
    return objects


def _json(text: str | bytes) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise MetaReplyError(f"meta's answer holds text that is not JSON: {exc}") from exc


__all__ = ["meta_request", "query_objects"]
