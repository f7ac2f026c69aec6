"""Resource strings in the edge and cloud forms (docs/protocol.md#2.5)."""

from __future__ import annotations

import pytest

from actors.protocol import Resource, add_node_prefix, build_edge_resource, parse_cloud_resource, parse_edge_resource, split_node_prefix
from kubeedge_actors import ResourceError


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("default/pod/nginx", Resource("default", "pod", "nginx")), ("default/podstatus", Resource("default", "podstatus", ""))],
    ids=["with-name", "whole-type"],
)
def test_edge_resources_parse_into_namespace_type_and_name(text: str, parsed: Resource) -> None:
    assert parse_edge_resource(text) == parsed
    assert str(parsed) == text


@pytest.mark.parametrize(
    "text",
    ["", "pod", "a/b/c/d", "default//x", "/pod/x", "default/pod/"],
    ids=["empty", "one", "four", "empty-type", "empty-ns", "empty-name"],
)
def test_a_malformed_edge_resource_is_a_clear_error(text: str) -> None:
    with pytest.raises(ResourceError, match="expected <namespace>/<type>"):
        parse_edge_resource(text)


def test_building_refuses_parts_with_slashes() -> None:
    with pytest.raises(ResourceError, match="name"):
        build_edge_resource("default", "pod", "a/b")


def test_cloud_resources_carry_the_node_prefix() -> None:
    cloud = add_node_prefix("edge-1", "default/pod/nginx")

    assert cloud == "node/edge-1/default/pod/nginx"
    assert parse_cloud_resource(cloud) == ("edge-1", Resource("default", "pod", "nginx"))
    assert split_node_prefix(cloud) == ("edge-1", "default/pod/nginx")


def test_the_prefix_is_stripped_from_non_namespaced_device_resources_too() -> None:
    assert split_node_prefix("node/n1/device/dev1/twin/cloud_updated") == ("n1", "device/dev1/twin/cloud_updated")
    assert split_node_prefix("node/n1/membership") == ("n1", "membership")
    assert split_node_prefix("node/n1") == ("n1", "")


@pytest.mark.parametrize(
    "text", ["default/pod/x", "node", "node//default/pod", "nodes/n1/default/pod"], ids=["no-prefix", "bare", "empty-id", "wrong-word"]
)
def test_a_malformed_cloud_resource_is_a_clear_error(text: str) -> None:
    with pytest.raises(ResourceError, match="node/<node-id>"):
        parse_cloud_resource(text)
