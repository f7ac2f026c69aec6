"""Checks a test runs over a package's source, for rules no type checker sees.

:func:`errors_outside_the_root` finds every exception class a package defines, and every one
it raises, that does not derive from :class:`~kubeedge_actors.errors.KubeEdgeActorsError`::

    def test_every_error_the_bus_raises_derives_from_the_root() -> None:
        assert errors_outside_the_root("actors.bus") == []
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import pkgutil
from collections.abc import Iterator, Mapping
from types import ModuleType

from kubeedge_actors.errors import KubeEdgeActorsError


def errors_outside_the_root(package: str, *, allow: Mapping[str, tuple[type[BaseException], ...]] | None = None) -> list[str]:
    """``"module:line: raise ValueError"`` or ``"module:line: class CtlError"`` for each exception
    class of ``package`` (and its subpackages) defined, or raised by name, outside the root.

    A ``raise`` of something that is not a class by name (``raise error``: a caught exception
    passed on) is not looked at; ``raise`` alone neither.

    Args:
        package: a package name, e.g. ``"kubeedge_cloud"``; every module in it is imported.
        allow: module name → classes it may raise anyway (a test helper's ``AssertionError``).
    """
    allowed = dict(allow or {})
    found: list[str] = []
    for module in _modules(package):
        tree = ast.parse(inspect.getsource(module))
        for line, name, kind in sorted(_exception_names(tree)):
            candidate = _resolve(module, name)
            if not (isinstance(candidate, type) and issubclass(candidate, BaseException)):
                continue
            if issubclass(candidate, KubeEdgeActorsError) or issubclass(candidate, allowed.get(module.__name__, ())):
                continue
            found.append(f"{module.__name__}:{line}: {kind} {name}")
    return found


def _modules(package: str) -> Iterator[ModuleType]:
    root = importlib.import_module(package)
    yield root
    for info in pkgutil.walk_packages(getattr(root, "__path__", []), f"{package}."):
        yield importlib.import_module(info.name)


def _exception_names(tree: ast.Module) -> Iterator[tuple[int, str, str]]:
    """``(line, dotted name, "raise" | "class")`` of each raise by name and each class defined."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            name = _dotted(target)
            if name:
                yield node.lineno, name, "raise"
        elif isinstance(node, ast.ClassDef):
            yield node.lineno, node.name, "class"


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


def _resolve(module: ModuleType, dotted: str) -> object:
    """What ``dotted`` names at the top level of ``module`` (or among the built-ins), or None
    (a local name)."""
    first, *rest = dotted.split(".")
    value: object = getattr(module, first, None) or getattr(builtins, first, None)
    for part in rest:
        value = getattr(value, part, None)
    return value


__all__ = ["errors_outside_the_root"]
