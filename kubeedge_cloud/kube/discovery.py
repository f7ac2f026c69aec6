"""Discovery (``/version``, ``/api``, ``/apis``, the group versions) and the OpenAPI v3 documents
kubectl reads to learn that the server validates fields itself (docs/protocol.md#12.4).

kubectl asks for aggregated discovery first; answered with plain ``application/json`` it falls
back to these legacy documents. The OpenAPI v3 documents carry paths and operations only, no
schemas: each PATCH operation names its kind (``x-kubernetes-group-version-kind``) and the
``fieldValidation`` parameter, so kubectl leaves validation to the server (``fieldValidation=
Strict``) and computes apply's strategic merge patch from its own types.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from kubeedge_actors import __version__
from kubeedge_cloud.kube.resources import GROUP_VERSIONS, Resource, resources_of

Obj = dict[str, Any]

#: The Kubernetes API version whose subset is served.
KUBE_MAJOR, KUBE_MINOR = "1", "32"

_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def version() -> Obj:
    return {
        "major": KUBE_MAJOR,
        "minor": KUBE_MINOR,
        "gitVersion": f"v{KUBE_MAJOR}.{KUBE_MINOR}.0+kubeedge-actors-{__version__}",
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "",
        "goVersion": "python",
        "compiler": "cpython",
        "platform": "linux/amd64",
    }


def core_versions(server_address: str) -> Obj:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def group_list() -> Obj:
    groups = []
    for group, ver in GROUP_VERSIONS:
        if group:
            gv = {"groupVersion": f"{group}/{ver}", "version": ver}
            groups.append({"name": group, "versions": [gv], "preferredVersion": gv})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def group(name: str) -> Obj | None:
    for group_name, ver in GROUP_VERSIONS:
        if group_name == name and name:
            gv = {"groupVersion": f"{name}/{ver}", "version": ver}
            return {"kind": "APIGroup", "apiVersion": "v1", "name": name, "versions": [gv], "preferredVersion": gv}
    return None


def resource_list(group_name: str, ver: str) -> Obj | None:
    found = resources_of(group_name, ver)
    if not found:
        return None
    entries: list[Obj] = []
    for resource in found:
        entry: Obj = {
            "name": resource.plural,
            "singularName": resource.singular,
            "namespaced": resource.namespaced,
            "kind": resource.kind,
            "verbs": _VERBS,
        }
        if resource.short_names:
            entry["shortNames"] = list(resource.short_names)
        if resource.categories:
            entry["categories"] = list(resource.categories)
        entries.append(entry)
        if resource.has_status:
            entries.append(
                {"name": f"{resource.plural}/status", "singularName": "", "namespaced": resource.namespaced,
                 "kind": resource.kind, "verbs": ["get", "patch", "update"]}
            )  # fmt: skip
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group_name}/{ver}" if group_name else ver,
        "resources": entries,
    }


def _openapi_path(group_name: str, ver: str) -> str:
    return f"apis/{group_name}/{ver}" if group_name else f"api/{ver}"


def openapi_v3_document(group_name: str, ver: str) -> Obj:
    """The paths of one group version, each operation with its kind; PATCH with ``fieldValidation``."""
    paths: Obj = {}
    for resource in resources_of(group_name, ver):
        gvk = {"group": resource.group, "version": resource.version, "kind": resource.kind}
        base = f"/{_openapi_path(group_name, ver)}/" + ("namespaces/{namespace}/" if resource.namespaced else "")
        paths[f"{base}{resource.plural}"] = {"get": _operation(resource, "list", gvk), "post": _operation(resource, "create", gvk)}
        item = {
            "get": _operation(resource, "read", gvk),
            "put": _operation(resource, "replace", gvk),
            "patch": _operation(resource, "patch", gvk),
            "delete": _operation(resource, "delete", gvk),
        }
        paths[f"{base}{resource.plural}/{{name}}"] = item
    return {
        "openapi": "3.0.0",
        "info": {"title": "kubeedge-actors", "version": f"v{KUBE_MAJOR}.{KUBE_MINOR}"},
        "paths": paths,
        "components": {"schemas": {}},
    }


def _operation(resource: Resource, action: str, gvk: Obj) -> Obj:
    operation: Obj = {
        "operationId": f"{action}{resource.kind}",
        "x-kubernetes-action": {"read": "get", "replace": "put", "create": "post"}.get(action, action),
        "x-kubernetes-group-version-kind": gvk,
        "parameters": [],
        "responses": {"200": {"description": "OK"}},
    }
    if action in ("create", "replace", "patch"):
        operation["parameters"] = [
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
            {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
        ]
    if action == "patch":
        # No strategic-merge-patch+json here: kubectl would then look for schemas this document does not carry.
        operation["requestBody"] = {"content": {"application/json-patch+json": {}, "application/merge-patch+json": {}}}
    return operation


def openapi_v3_index() -> Obj:
    return {
        "paths": {
            _openapi_path(g, v): {"serverRelativeURL": f"/openapi/v3/{_openapi_path(g, v)}?hash={openapi_v3_hash(g, v)}"}
            for g, v in GROUP_VERSIONS
        }
    }


def openapi_v3_hash(group_name: str, ver: str) -> str:
    text = json.dumps(openapi_v3_document(group_name, ver), sort_keys=True).encode()
    return hashlib.sha512(text).hexdigest()[:128].upper()


__all__ = [
    "core_versions",
    "group",
    "group_list",
    "openapi_v3_document",
    "openapi_v3_hash",
    "openapi_v3_index",
    "resource_list",
    "version",
]
