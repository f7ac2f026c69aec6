"""Resource strings in the edge and the cloud form (docs/protocol.md#2.5).

- edge: ``<namespace>/<type>[/<name>]``, e.g. ``default/pod/nginx`` or ``default/podstatus``;
- cloud: ``node/<node-id>/`` + the edge form; the cloud hub adds the prefix to everything
  it reads from an edge and strips it from everything it writes to one.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubeedge_actors.errors import ResourceError

NODE_PREFIX = "node"


@dataclass(frozen=True, slots=True)
class Resource:
    """A parsed edge resource. ``name`` is ``""`` for a whole type (``default/pod``)."""

    namespace: str
    type: str
    name: str = ""

    def __str__(self) -> str:
        return build_edge_resource(self.namespace, self.type, self.name)

    @property
    def key(self) -> str:
        """The storage key of meta: the full edge resource string (docs/protocol.md#6.1)."""
        return str(self)


def build_edge_resource(namespace: str, resource_type: str, name: str = "") -> str:
    """``<namespace>/<type>[/<name>]``; every given part must be non-empty and slash-free."""
    parts = [namespace, resource_type] + ([name] if name else [])
    for label, part in zip(("namespace", "type", "name"), parts, strict=False):
        if not part or "/" in part:
            raise ResourceError(f"cannot build an edge resource: {label} {part!r} is empty or holds '/'")
    return "/".join(parts)


def parse_edge_resource(resource: str) -> Resource:
    """Parse ``<namespace>/<type>[/<name>]``.

    Raises:
        ResourceError: not 2 or 3 non-empty parts.
    """
    parts = resource.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise ResourceError(f"malformed edge resource {resource!r}: expected <namespace>/<type>[/<name>]")
    return Resource(*parts)


def add_node_prefix(node_id: str, resource: str) -> str:
    """The cloud form of an edge resource: ``node/<node-id>/<resource>``."""
    if not node_id or "/" in node_id:
        raise ResourceError(f"node id {node_id!r} is empty or holds '/'")
    return f"{NODE_PREFIX}/{node_id}/{resource}" if resource else f"{NODE_PREFIX}/{node_id}"


def split_node_prefix(resource: str) -> tuple[str, str]:
    """Split a cloud resource into ``(node_id, rest)``; rest may be any edge-side resource.

    Raises:
        ResourceError: it does not start with ``node/<node-id>``.
    """
    parts = resource.split("/", 2)
    if len(parts) < 2 or parts[0] != NODE_PREFIX or not parts[1]:
        raise ResourceError(f"malformed cloud resource {resource!r}: expected node/<node-id>/<resource>")
    return parts[1], parts[2] if len(parts) == 3 else ""


def parse_cloud_resource(resource: str) -> tuple[str, Resource]:
    """Parse ``node/<node-id>/<namespace>/<type>[/<name>]`` into the node id and the edge part.

    Raises:
        ResourceError: not of that form.
    """
    node_id, rest = split_node_prefix(resource)
    try:
        return node_id, parse_edge_resource(rest)
    except ResourceError:
        raise ResourceError(f"malformed cloud resource {resource!r}: expected node/<node-id>/<namespace>/<type>[/<name>]") from None


__all__ = [
    "Resource",
    "add_node_prefix",
    "build_edge_resource",
    "parse_cloud_resource",
    "parse_edge_resource",
    "split_node_prefix",
]
