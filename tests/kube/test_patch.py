"""The patch types as kubectl and the clients send them."""

from __future__ import annotations

import pytest

from kubeedge_cloud.kube.errors import KubeApiError
from kubeedge_cloud.kube.patch import json_patch, merge_patch, strategic_merge_patch

POD = {
    "metadata": {"name": "p", "labels": {"app": "web", "tier": "front"}, "finalizers": ["a"]},
    "spec": {
        "containers": [
            {"name": "main", "image": "busybox:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
            {"name": "side", "image": "nginx"},
        ],
        "tolerations": [{"key": "x"}],
    },
}


def test_a_strategic_merge_patch_merges_containers_and_env_by_name() -> None:
    patch = {"spec": {"containers": [{"name": "main", "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}]}]}}
    result = strategic_merge_patch(POD, patch)
    main, side = result["spec"]["containers"]
    assert main["image"] == "busybox:1" and side == {"name": "side", "image": "nginx"}
    assert main["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}]


def test_kubectl_applys_directives_delete_an_item_and_set_the_order() -> None:
    patch = {
        "spec": {
            "$setElementOrder/containers": [{"name": "side"}, {"name": "main"}],
            "containers": [{"name": "main", "$patch": "delete"}, {"name": "side", "image": "nginx:2"}],
        },
        "metadata": {"labels": {"tier": None}, "$deleteFromPrimitiveList/finalizers": ["a"]},
    }
    result = strategic_merge_patch(POD, patch)
    assert result["spec"]["containers"] == [{"name": "side", "image": "nginx:2"}]
    assert result["metadata"]["labels"] == {"app": "web"} and result["metadata"]["finalizers"] == []


def test_a_list_without_a_merge_key_is_replaced_and_patch_replace_replaces_the_map() -> None:
    result = strategic_merge_patch(
        POD, {"spec": {"tolerations": [{"key": "y"}]}, "metadata": {"labels": {"$patch": "replace", "new": "1"}}}
    )
    assert result["spec"]["tolerations"] == [{"key": "y"}]
    assert result["metadata"]["labels"] == {"new": "1"}


def test_set_element_order_alone_reorders_the_list() -> None:
    result = strategic_merge_patch(POD, {"spec": {"$setElementOrder/containers": [{"name": "side"}, {"name": "main"}]}})
    assert [c["name"] for c in result["spec"]["containers"]] == ["side", "main"]


def test_a_merge_patch_replaces_lists_and_deletes_with_null() -> None:
    result = merge_patch(POD, {"spec": {"containers": [{"name": "only"}]}, "metadata": {"labels": {"app": None}}})
    assert result["spec"]["containers"] == [{"name": "only"}] and result["metadata"]["labels"] == {"tier": "front"}


def test_a_json_patch_applies_its_operations_in_order_and_a_failed_test_refuses_it_all() -> None:
    result = json_patch(
        POD,
        [
            {"op": "replace", "path": "/spec/containers/0/image", "value": "busybox:2"},
            {"op": "add", "path": "/metadata/labels/a~1b", "value": "slash"},
            {"op": "remove", "path": "/spec/containers/1"},
            {"op": "copy", "from": "/metadata/name", "path": "/metadata/generateName"},
        ],
    )
    assert result["spec"]["containers"][0]["image"] == "busybox:2" and len(result["spec"]["containers"]) == 1
    assert result["metadata"]["labels"]["a/b"] == "slash" and result["metadata"]["generateName"] == "p"
    assert POD["spec"]["containers"][0]["image"] == "busybox:1"  # type: ignore[index]
    with pytest.raises(KubeApiError) as failed:
        json_patch(POD, [{"op": "remove", "path": "/metadata/name"}, {"op": "test", "path": "/spec/tolerations/0/key", "value": "z"}])
    assert failed.value.code == 422 and "/spec/tolerations/0/key" in failed.value.message


def test_a_json_patch_to_a_missing_path_names_it() -> None:
    with pytest.raises(KubeApiError) as failed:
        json_patch(POD, [{"op": "replace", "path": "/spec/nothing/here", "value": 1}])
    assert failed.value.code == 422 and failed.value.message == "the JSON patch path /spec/nothing does not exist"
