"""One exception root: every error the bus (and its embedded broker) defines or raises derives
from KubeEdgeActorsError."""

from __future__ import annotations

from kubeedge_actors.checks import errors_outside_the_root


def test_every_error_the_bus_defines_or_raises_derives_from_the_root() -> None:
    assert errors_outside_the_root("actors.bus") == []
