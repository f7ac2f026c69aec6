"""Back-off, the bounded hand-over and the SQLite opener."""

from __future__ import annotations

import stat
from pathlib import Path

from kubeedge_actors.backoff import Backoff
from kubeedge_actors.handover import Handover
from kubeedge_actors.sqlite import open_database


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


def test_the_database_file_is_private_and_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "state" / "edge.db"

    database = open_database(path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert database.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    database.close()
