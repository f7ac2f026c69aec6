"""The fixture every actor test wants: no actor outlives its test, and crashes fail it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kubeedge_actors.testing import ActorErrorWatcher, stop_all_actors


@pytest.fixture(autouse=True)
def actors_are_stopped_and_crashes_fail() -> Iterator[None]:
    watcher = ActorErrorWatcher().install()
    try:
        yield
        stop_all_actors()
        watcher.assert_clean()
    finally:
        watcher.uninstall()
