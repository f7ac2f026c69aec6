"""Back-off, the bounded hand-over, the rate-limited warning, the SQLite opener and model binding."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import peewee
import pytest

from kubeedge_actors.backoff import Backoff
from kubeedge_actors.handover import Handover
from kubeedge_actors.logs import RateLimitedWarning
from kubeedge_actors.sqlite import bind_model, open_database


def test_backoff_grows_by_its_factor_up_to_the_cap_and_resets() -> None:
    backoff = Backoff(initial_s=10, max_s=300)

    waits = [backoff.next_delay() for _ in range(7)]
    backoff.reset()

    assert waits == [10, 20, 40, 80, 160, 300, 300]
    assert backoff.next_delay() == 10


def test_jitter_only_shortens_a_wait_by_up_to_its_fraction() -> None:
    waits = [Backoff(initial_s=8, max_s=8, jitter=0.5).next_delay() for _ in range(200)]

    assert all(4 <= w <= 8 for w in waits)
    assert len(set(waits)) > 100


def test_handover_drops_and_counts_beyond_its_limit() -> None:
    delivered: list[int] = []
    handover = Handover(delivered.append, limit=3, name="test")

    results = [handover.offer(i) for i in range(5)]

    assert results == [True, True, True, False, False]
    assert delivered == [0, 1, 2]
    assert handover.dropped == 2


def test_handover_accepts_again_once_the_actor_takes_events() -> None:
    delivered: list[int] = []
    handover = Handover(delivered.append, limit=2, name="test")
    handover.offer(1)
    handover.offer(2)
    handover.offer(3)

    handover.taken()

    assert handover.offer(4) is True
    assert delivered == [1, 2, 4]


def test_a_rate_limited_warning_repeats_at_debug_within_its_interval_and_warns_again_after(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    warnings = RateLimitedWarning(10.0, clock=lambda: now[0])
    log = logging.getLogger("test.ratelimit")

    with caplog.at_level(logging.DEBUG, logger="test.ratelimit"):
        for at in (100.0, 105.0, 109.9, 110.0):
            now[0] = at
            warnings.log(log, "bad-frame", "skipped %d", int(at))

    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "skipped 100"),
        ("DEBUG", "skipped 105"),
        ("DEBUG", "skipped 109"),
        ("WARNING", "skipped 110"),
    ]


def test_a_rate_limited_warning_limits_each_key_on_its_own(caplog: pytest.LogCaptureFixture) -> None:
    warnings = RateLimitedWarning(10.0, clock=lambda: 0.0)
    log = logging.getLogger("test.ratelimit")

    with caplog.at_level(logging.DEBUG, logger="test.ratelimit"):
        for key in ("edge-1", "edge-2", "edge-1"):
            warnings.log(log, key, "from %s", key)

    assert [r.levelname for r in caplog.records] == ["WARNING", "WARNING", "DEBUG"]


def test_a_rate_limited_warning_is_recorded_where_it_was_logged(caplog: pytest.LogCaptureFixture) -> None:
    warnings = RateLimitedWarning(10.0)

    with caplog.at_level(logging.WARNING, logger="test.ratelimit"):
        warnings.log(logging.getLogger("test.ratelimit"), "key", "text")

    assert [r.funcName for r in caplog.records] == ["test_a_rate_limited_warning_is_recorded_where_it_was_logged"]


def test_the_database_file_is_private_and_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "state" / "edge.db"

    database = open_database(path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert database.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    database.close()


class _Row(peewee.Model):
    name = peewee.TextField(primary_key=True)

    class Meta:
        table_name = "row"


def test_a_bound_model_writes_to_its_own_database_and_leaves_the_model_unbound(tmp_path: Path) -> None:
    first, second = open_database(tmp_path / "a.db"), open_database(tmp_path / "b.db")
    in_first, in_second = bind_model(first, _Row), bind_model(second, _Row)
    first.create_tables([in_first])
    second.create_tables([in_second])

    in_first.create(name="only-in-a")

    assert [row.name for row in in_first.select()] == ["only-in-a"]
    assert list(in_second.select()) == []
    assert _Row._meta.database is None
