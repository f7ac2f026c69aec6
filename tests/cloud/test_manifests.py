"""Manifests: checked, defaulted like the API server does, and related to each other."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from kubeedge_cloud.manifests import (
    ManifestError,
    ObjectKey,
    canonical_kind,
    flatten_lists,
    object_key,
    pod_references,
    prepare,
    same_content,
    with_server_fields,
)


def pod(name: str = "nginx", node: str | None = "edge-1", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"containers": [{"name": "web", "image": "nginx:1.25"}], **spec}
    if node:
        body["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": body}


@pytest.mark.parametrize(
    ("manifest", "error"),
    [
        ("a string", "a manifest must be an object"),
        ({"metadata": {"name": "x"}}, "kind is missing"),
        ({"kind": "Deployment", "metadata": {"name": "x"}}, "kind 'Deployment' is not handled"),
        ({"kind": "Pod"}, "metadata is missing"),
        ({"kind": "Pod", "metadata": {"name": "Big_Name"}}, "metadata.name 'Big_Name' must be a lowercase DNS name"),
        ({"kind": "Pod", "metadata": {"name": "x", "namespace": 7}}, "metadata.namespace 7 must be"),
    ],
    ids=["not-object", "no-kind", "unknown-kind", "no-metadata", "bad-name", "bad-namespace"],
)
def test_a_manifest_without_a_usable_kind_or_name_is_refused_naming_the_problem(manifest: Any, error: str) -> None:
    with pytest.raises(ManifestError, match="object 3: " + error.replace("(", r"\(").replace(")", r"\)")):
        object_key(manifest, "object 3")


def test_the_namespace_defaults_to_default() -> None:
    assert object_key(pod()) == ObjectKey("Pod", "default", "nginx")


def test_a_pod_gets_the_api_server_defaults_the_original_edge_relies_on() -> None:
    manifest = pod(volumes=[{"name": "cfg", "configMap": {"name": "app"}}, {"name": "s", "secret": {"secretName": "token"}}])

    prepared = prepare(manifest, object_key(manifest), None)

    spec = prepared["spec"]
    assert (spec["restartPolicy"], spec["terminationGracePeriodSeconds"], spec["dnsPolicy"]) == ("Always", 30, "ClusterFirst")
    assert [v[k]["defaultMode"] for v, k in zip(spec["volumes"], ("configMap", "secret"), strict=True)] == [420, 420]
    assert spec["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert prepared["metadata"]["namespace"] == "default"
    assert "restartPolicy" not in manifest["spec"]  # the caller's manifest is not changed


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("registry:5000/nginx", "Always"),
        ("nginx:1.25", "IfNotPresent"),
        ("a/b@sha256:00", "IfNotPresent"),
    ],
    ids=["untagged", "latest", "registry-port-untagged", "tagged", "digest"],
)
def test_the_image_pull_policy_defaults_as_in_kubernetes(image: str, policy: str) -> None:
    manifest = pod()
    manifest["spec"]["containers"][0]["image"] = image

    assert prepare(manifest, object_key(manifest), None)["spec"]["containers"][0]["imagePullPolicy"] == policy


def test_a_pod_takes_its_node_from_the_node_option_when_it_names_none() -> None:
    manifest = pod(node=None)

    assert prepare(manifest, object_key(manifest), "edge-2")["spec"]["nodeName"] == "edge-2"


@pytest.mark.parametrize(
    ("manifest", "node", "error"),
    [
        (pod(node=None), None, "spec.nodeName is missing"),
        (pod(node="edge-1"), "edge-2", "spec.nodeName is 'edge-1' but --node says 'edge-2'"),
        ({"kind": "Pod", "metadata": {"name": "x"}, "spec": {"nodeName": "n", "containers": []}}, None, "spec.containers must be"),
        ({"kind": "Pod", "metadata": {"name": "x"}, "spec": {"nodeName": "n", "containers": [{"name": "c"}]}}, None, "needs a name and an"),
    ],
    ids=["no-node", "two-nodes", "no-containers", "no-image"],
)
def test_a_pod_that_cannot_run_is_refused(manifest: dict[str, Any], node: str | None, error: str) -> None:
    with pytest.raises(ManifestError, match=error):
        prepare(manifest, object_key(manifest), node)


def test_secret_string_data_is_written_into_data_base64_encoded() -> None:
    secret = {"kind": "Secret", "metadata": {"name": "token"}, "data": {"a": "YQ=="}, "stringData": {"b": "bé"}}

    prepared = prepare(secret, object_key(secret), None)

    assert prepared["data"] == {"a": "YQ==", "b": base64.b64encode("bé".encode()).decode()}
    assert "stringData" not in prepared and prepared["type"] == "Opaque"


def test_secret_data_that_is_not_base64_is_refused() -> None:
    secret = {"kind": "Secret", "metadata": {"name": "token"}, "data": {"a": "not base64!"}}

    with pytest.raises(ManifestError, match=r"data\.a is not base64"):
        prepare(secret, object_key(secret), None)


def test_configmap_data_must_map_names_to_strings() -> None:
    configmap = {"kind": "ConfigMap", "metadata": {"name": "app"}, "data": {"port": 80}}

    with pytest.raises(ManifestError, match="data must map names to strings"):
        prepare(configmap, object_key(configmap), None)


def test_a_pod_uses_the_configmaps_and_secrets_it_names_anywhere() -> None:
    manifest = pod(
        volumes=[
            {"name": "a", "configMap": {"name": "vol-cm"}},
            {"name": "b", "secret": {"secretName": "vol-secret"}},
            {"name": "c", "projected": {"sources": [{"configMap": {"name": "proj-cm"}}, {"secret": {"name": "proj-secret"}}]}},
        ],
        imagePullSecrets=[{"name": "pull"}],
    )
    manifest["spec"]["containers"][0]["envFrom"] = [{"configMapRef": {"name": "env-cm"}}, {"secretRef": {"name": "env-secret"}}]
    manifest["spec"]["containers"][0]["env"] = [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "key-secret", "key": "k"}}}]

    assert pod_references(manifest) == {
        ("ConfigMap", "vol-cm"),
        ("ConfigMap", "proj-cm"),
        ("ConfigMap", "env-cm"),
        ("Secret", "vol-secret"),
        ("Secret", "proj-secret"),
        ("Secret", "env-secret"),
        ("Secret", "key-secret"),
        ("Secret", "pull"),
    }


def test_server_fields_are_kept_across_updates_and_ignored_when_comparing() -> None:
    first = with_server_fields(prepare(pod(), object_key(pod()), None), None, 1)
    again = with_server_fields(prepare(pod(), object_key(pod()), None), first, 2)

    assert again["metadata"]["uid"] == first["metadata"]["uid"]
    assert again["metadata"]["resourceVersion"] == "2"
    assert same_content(prepare(pod(), object_key(pod()), None), first)
    assert not same_content(prepare(pod(name="nginx", node="edge-9"), object_key(pod()), None), first)


def test_lists_are_flattened_and_empty_documents_dropped() -> None:
    documents = [None, {"kind": "List", "items": [pod("a"), {"kind": "PodList", "items": [pod("b")]}]}, pod("c")]

    assert [d["metadata"]["name"] for d in flatten_lists(documents)] == ["a", "b", "c"]


@pytest.mark.parametrize(("alias", "kind"), [("po", "Pod"), ("pods", "Pod"), ("CM", "ConfigMap"), ("secret", "Secret")])
def test_kinds_have_the_kubectl_short_names(alias: str, kind: str) -> None:
    assert canonical_kind(alias) == kind
