from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kube.site import KubeSite


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[KubeSite]:
    site = KubeSite(tmp_path)
    try:
        yield site
    finally:
        site.stop()
