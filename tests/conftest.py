"""Every test: actor crashes that pykka only logs fail it, and no actor outlives it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kubeedge_actors.testing import ActorErrorWatcher, stop_all_actors

pytest_plugins = ["tests.services"]


@pytest.fixture(autouse=True)
def actor_errors_fail_the_test(request: pytest.FixtureRequest) -> Iterator[ActorErrorWatcher]:
    watcher = ActorErrorWatcher().install()
    if request.node.get_closest_marker("crashes_on_purpose"):
        watcher.expect()
    try:
        yield watcher
        stop_all_actors()
        watcher.assert_clean()
    finally:
        stop_all_actors()
        watcher.uninstall()
