"""The three patch types: JSON merge (RFC 7386), JSON patch (RFC 6902) and the strategic merge
patch that ``kubectl apply`` sends for built-in kinds (docs/protocol.md#12.4).

The strategic merge here knows the merge keys of the lists an edge's objects carry (containers
by name, ports by containerPort, conditions by type...) and the directives kubectl writes
(``$patch``, ``$setElementOrder/<list>``, ``$retainKeys``, ``$deleteFromPrimitiveList/<list>``).
Any other list is replaced, as Kubernetes does for lists without a merge key.
"""

from __future__ import annotations

import copy
from typing import Any

from kubeedge_cloud.kube.errors import KubeApiError, bad_request

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

#: Lists merged element by element, by this key (the ``patchMergeKey`` of k8s.io/api).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "ports": "containerPort",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "conditions": "type",
    "addresses": "type",
    "ownerReferences": "uid",
    "containerStatuses": "name",
    "initContainerStatuses": "name",
    "podIPs": "ip",
    "readinessGates": "conditionType",
    "topologySpreadConstraints": "topologyKey",
}
#: Lists of scalars merged as sets (``patchStrategy: merge`` without a key).
MERGE_SETS = {"finalizers"}

_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Kubernetes' strategic merge, for the lists and directives listed above."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    result = dict(target) if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list):
            result[key] = _merge_list(key, result.get(key), value, patch.get(f"{_ORDER}{key}"))
        else:
            result[key] = strategic_merge_patch(result.get(key), value)
    for key, value in patch.items():
        if key.startswith(_DELETE_PRIMITIVE):
            name = key[len(_DELETE_PRIMITIVE) :]
            result[name] = [v for v in result.get(name, []) if v not in value]
        elif key.startswith(_ORDER) and key[len(_ORDER) :] not in patch:
            name = key[len(_ORDER) :]
            result[name] = _ordered(name, result.get(name, []), value)
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _merge_list(field: str, current: Any, patch: list[Any], order: list[Any] | None) -> list[Any]:
    if field in MERGE_SETS and isinstance(current, list):
        merged = list(current) + [v for v in patch if v not in current]
        return merged
    key = MERGE_KEYS.get(field)
    if key is None or not isinstance(current, list):
        return [_strip_directives(v) for v in patch if not (isinstance(v, dict) and v.get("$patch") == "delete")]
    result = [copy.deepcopy(item) for item in current]
    for item in patch:
        if not isinstance(item, dict):
            raise bad_request(f"strategic merge patch: the items of {field} must be objects with the key {key!r}")
        at = next((i for i, have in enumerate(result) if isinstance(have, dict) and have.get(key) == item.get(key)), None)
        if item.get("$patch") == "delete":
            if at is not None:
                del result[at]
        elif at is None:
            result.append(_strip_directives(item))
        else:
            result[at] = strategic_merge_patch(result[at], item)
    return _ordered(field, result, order) if order is not None else result


def _ordered(field: str, items: list[Any], order: list[Any]) -> list[Any]:
    """``$setElementOrder``: the items in the order given (by merge key); items it omits follow."""
    key = MERGE_KEYS.get(field)

    def rank(item: Any) -> int:
        probe = {key: item.get(key)} if key is not None and isinstance(item, dict) else item
        return order.index(probe) if probe in order else len(order)

    return sorted(items, key=rank)


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902: add, remove, replace, move, copy, test; a failing operation refuses the whole patch."""
    if not isinstance(operations, list):
        raise bad_request("a JSON patch must be a list of operations")
    document = copy.deepcopy(target)
    for operation in operations:
        if not isinstance(operation, dict) or "op" not in operation or "path" not in operation:
            raise bad_request(f"invalid JSON patch operation: {operation!r}")
        document = _apply_operation(document, operation)
    return document


def _apply_operation(document: Any, operation: dict[str, Any]) -> Any:
    op, path = operation["op"], _pointer(operation["path"])
    if op == "add":
        return _add(document, path, copy.deepcopy(_value(operation)))
    if op == "remove":
        _remove(document, path)
        return document
    if op == "replace":
        _remove(document, path)
        return _add(document, path, copy.deepcopy(_value(operation)))
    if op in ("move", "copy"):
        source = _pointer(operation.get("from", ""))
        value = copy.deepcopy(_get(document, source))
        if op == "move":
            _remove(document, source)
        return _add(document, path, value)
    if op == "test":
        if _get(document, path) != _value(operation):
            raise KubeApiError(422, "Invalid", f"the JSON patch test failed at {operation['path']}")
        return document
    raise bad_request(f"unknown JSON patch operation {op!r}")


def _value(operation: dict[str, Any]) -> Any:
    if "value" not in operation:
        raise bad_request(f"the JSON patch operation {operation['op']} at {operation['path']} has no value")
    return operation["value"]


def _pointer(text: Any) -> list[str]:
    if not isinstance(text, str) or (text and not text.startswith("/")):
        raise bad_request(f"invalid JSON pointer {text!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in text.split("/")[1:]]


def _parent(document: Any, path: list[str]) -> Any:
    return _get(document, path[:-1])


def _get(document: Any, path: list[str]) -> Any:
    node = document
    for part in path:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError, TypeError):
            raise KubeApiError(422, "Invalid", f"the JSON patch path /{'/'.join(path)} does not exist") from None
    return node


def _add(document: Any, path: list[str], value: Any) -> Any:
    if not path:
        return value
    parent, last = _parent(document, path), path[-1]
    if isinstance(parent, list):
        index = len(parent) if last == "-" else _index(last, len(parent) + 1)
        parent.insert(index, value)
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise KubeApiError(422, "Invalid", f"the JSON patch path /{'/'.join(path)} has no parent object")
    return document


def _remove(document: Any, path: list[str]) -> None:
    parent, last = _parent(document, path), path[-1] if path else ""
    _get(document, path)  # 422 when missing
    if isinstance(parent, list):
        del parent[_index(last, len(parent))]
    else:
        del parent[last]


def _index(text: str, size: int) -> int:
    if not text.isdigit() or int(text) >= size:
        raise KubeApiError(422, "Invalid", f"the JSON patch index {text} is out of range")
    return int(text)


__all__ = [
    "APPLY_PATCH",
    "JSON_PATCH",
    "MERGE_PATCH",
    "STRATEGIC_PATCH",
    "json_patch",
    "merge_patch",
    "strategic_merge_patch",
]
