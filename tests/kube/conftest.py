from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kube.controller_site import ControllerSite
from tests.kube.site import KUBECTL, KubeSite, kubectl_binaries


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The kubectl tests run with every kubectl present: the newest and Debian's."""
    if metafunc.module.__name__.rsplit(".", 1)[-1] == "test_kubectl" and "kube" in metafunc.fixturenames:
        binaries = kubectl_binaries()
        metafunc.parametrize("kube", list(binaries.values()), ids=list(binaries), indirect=True)


@pytest.fixture
def kube(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[KubeSite]:
    site = KubeSite(tmp_path, kubectl_path=getattr(request, "param", KUBECTL))
    try:
        yield site
    finally:
        site.stop()


@pytest.fixture
def site(kube: KubeSite) -> Iterator[ControllerSite]:
    """The cloud side's runtime with kubeapi's controller on ``kube``'s API server (the controller
    and scheduler tests)."""
    running = ControllerSite(kube)
    try:
        yield running
    finally:
        running.stop()
