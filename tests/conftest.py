"""Every test: actor crashes that pykka only logs fail it, no actor outlives it, and the root
logger is left as the test found it."""

from __future__ import annotations

import logging
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


@pytest.fixture(autouse=True)
def root_logger_left_as_found() -> Iterator[None]:
    """A test that runs a program's ``main`` in this process (the cloud side's) points the root
    logger at that test's captured output; a later test's threads would log into it once it is
    closed ("--- Logging error --- I/O operation on closed file"). What a test added goes with it
    (pytest's own capture handlers are pytest's to remove)."""
    root = logging.getLogger()
    handlers, level = set(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers and not type(handler).__module__.startswith("_pytest"):
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)
