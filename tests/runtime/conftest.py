"""Fixtures shared by the runtime tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kubeedge_actors import Router


@pytest.fixture
def router() -> Iterator[Router]:
    """A real router, closed after the test."""
    router = Router()
    yield router
    router.close()
