"""A module that breaks the error rule on purpose, for the test of the check that finds it."""

from __future__ import annotations

from kubeedge_actors.errors import KubeEdgeActorsError


class StrayError(Exception):
    """Not under the root."""


class GoodError(KubeEdgeActorsError):
    """Under the root."""


def fail(kind: str, error: Exception) -> None:
    if kind == "builtin":
        raise ValueError(kind)
    if kind == "stray":
        raise StrayError(kind)
    if kind == "good":
        raise GoodError(kind)
    raise error  # a caught exception passed on: not a class by name
