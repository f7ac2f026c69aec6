"""Fixtures shared by the tier-3 tests in this folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pykka
import pytest

from tests.cloud.running import RunningCloudHub
from tests.services import TlsFiles


@pytest.fixture
def cloud(tmp_path: Path, tls_files: TlsFiles) -> Iterator[RunningCloudHub]:
    """A cloud hub running in this process, on ports the system picked."""
    hub = RunningCloudHub(tmp_path, tls_files).start()
    yield hub
    pykka.ActorRegistry.stop_all()  # the edges first, so they do not redial a stopping hub
    hub.stop()
