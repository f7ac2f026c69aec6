"""Label selectors (``app=hello,tier in (web,api),!canary``) and field selectors
(``spec.nodeName=edge-node,metadata.name!=x``), as the Kubernetes API reads them."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from kubeedge_cloud.kube.errors import bad_request

Obj = dict[str, Any]
Test = Callable[[Obj], bool]

_SET = re.compile(r"^\s*([^\s!=()]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQUALITY = re.compile(r"^\s*([^\s!=]+)\s*(==|=|!=)\s*([^\s]*)\s*$")


def _split(text: str) -> list[str]:
    """Split on the commas outside parentheses."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p for p in parts if p.strip()]


def label_selector(text: str) -> Test:
    """A test of an object's labels; 400 when ``text`` is not a selector."""
    tests = [_label_requirement(part) for part in _split(text)]
    return lambda obj: all(test(obj.get("metadata", {}).get("labels") or {}) for test in tests)


def _label_requirement(part: str) -> Callable[[dict[str, str]], bool]:
    if match := _SET.match(part):
        key, op, values = match.group(1), match.group(2), {v.strip() for v in match.group(3).split(",")}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if match := _EQUALITY.match(part):
        key, op, value = match.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: key in labels and labels[key] == value
    stripped = part.strip()
    if stripped.startswith("!") and re.match(r"^![^\s!=(),]+$", stripped):
        return lambda labels: stripped[1:] not in labels
    if re.match(r"^[^\s!=(),]+$", stripped):
        return lambda labels: stripped in labels
    raise bad_request(f"unable to parse requirement: found {part!r}, expected a label selector")


def field_selector(text: str) -> Test:
    """A test of an object's fields by dotted path (``spec.nodeName``); 400 when unreadable."""
    tests = []
    for part in _split(text):
        match = _EQUALITY.match(part)
        if match is None:
            raise bad_request(f'invalid field selector: {part!r}: expected "field=value" or "field!=value"')
        path, op, value = match.groups()
        tests.append(_field_test(path.split("."), op == "!=", value))
    return lambda obj: all(test(obj) for test in tests)


def _field_test(path: list[str], negate: bool, value: str) -> Test:
    def test(obj: Obj) -> bool:
        node: Any = obj
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        text = "" if node is None else str(node).lower() if isinstance(node, bool) else str(node)
        return (text == value) != negate

    return test


__all__ = ["field_selector", "label_selector"]
