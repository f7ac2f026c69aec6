"""Fixtures of the cloud side's actor-level tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kubeedge_actors.testing import ActorHarness
from kubeedge_cloud.controller import ControllerActor
from kubeedge_cloud.keys import cloud_defaults
from kubeedge_cloud.store import CloudStore

Harness = ActorHarness[ControllerActor]


@pytest.fixture
def start_controller(tmp_path: Path) -> Iterator[Callable[[], Harness]]:
    """Starts the controller on ``tmp_path/cloud.db``; each call stops the one before (a restart
    on the same file); the last is stopped at the end."""
    started: list[Harness] = []

    def start() -> Harness:
        for earlier in started:
            earlier.stop()
        harness = ActorHarness(ControllerActor, cloud_defaults(), store=CloudStore(tmp_path / "cloud.db"))
        harness.start()
        started.append(harness)
        return harness

    yield start
    started[-1].stop()
