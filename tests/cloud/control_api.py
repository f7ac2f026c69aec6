"""The control API's requests to a controller in an :class:`ActorHarness`, as ``cloudapi`` sends them."""

from __future__ import annotations

from typing import Any

from kubeedge_actors import Message
from kubeedge_actors.testing import ActorHarness, make_message


def api(harness: ActorHarness[Any], operation: str, content: Any = None, resource: str = "") -> Message:
    harness.deliver(make_message(operation, resource, content, source="ctl", group="api", sync=True))
    [reply] = harness.router.take("resp")
    return reply


def apply(harness: ActorHarness[Any], *objects: dict[str, Any], node: str | None = None) -> list[tuple[str, str]]:
    reply = api(harness, "apply", {"objects": list(objects), "node": node})
    assert not reply.is_error, reply.content
    return [(r["name"], r["action"]) for r in reply.content["results"]]
