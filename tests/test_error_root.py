"""One exception root: every error the edge's modules, the cloud side and the runtime define or
raise derives from KubeEdgeActorsError (docs/architecture.md#1.1)."""

from __future__ import annotations

import pytest

from kubeedge_actors.checks import errors_outside_the_root

PACKAGES = ["actors.meta", "actors.twin", "actors.bus", "actors.edged", "actors.hub", "actors.protocol", "actors.keys", "kubeedge_cloud"]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_error_a_package_defines_or_raises_derives_from_the_root(package: str) -> None:
    assert errors_outside_the_root(package) == []
