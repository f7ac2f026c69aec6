"""The hub's redial schedule as a pure function (docs/protocol.md#3.3, docs/protocol.md#3.5)."""

from __future__ import annotations

import random

import pytest

from actors.hub.actor import REDIAL_JITTER, redial_backoff, redial_cap_s


def nominal_waits(initial_s: float, max_interval_s: float, heartbeat_s: float, count: int) -> list[float]:
    backoff = redial_backoff(initial_s, max_interval_s, heartbeat_s)
    waits = []
    for _ in range(count):
        waits.append(backoff.peek())
        backoff.next_delay()
    return waits


def test_the_cap_is_the_configured_maximum_when_it_is_under_two_heartbeats() -> None:
    assert redial_cap_s(max_interval_s=4.0, heartbeat_s=15.0) == 4.0


def test_the_cap_is_two_heartbeats_when_the_configured_maximum_is_longer() -> None:
    assert redial_cap_s(max_interval_s=30.0, heartbeat_s=5.0) == 10.0


def test_the_waits_double_from_the_initial_interval_up_to_two_heartbeats() -> None:
    assert nominal_waits(1.0, 30.0, 5.0, 6) == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_an_initial_interval_over_the_cap_starts_at_the_cap() -> None:
    assert nominal_waits(60.0, 30.0, 5.0, 2) == [10.0, 10.0]


@pytest.mark.parametrize("heartbeat_s", [1.0, 5.0, 15.0])
def test_every_jittered_wait_lies_between_one_and_two_heartbeats_once_capped(heartbeat_s: float) -> None:
    random.seed(14)
    backoff = redial_backoff(1.0, 3600.0, heartbeat_s)
    waits = [backoff.next_delay() for _ in range(200)][10:]  # 2^10 s is past every cap here

    assert all((1 - REDIAL_JITTER) * 2 * heartbeat_s <= wait <= 2 * heartbeat_s for wait in waits), waits


def test_a_thousand_edges_that_lost_the_same_cloud_spread_their_dials_over_a_heartbeat() -> None:
    random.seed(1000)
    waits = sorted(redial_backoff(1.0, 30.0, 15.0).next_delay() for _ in range(1000))

    assert waits[0] >= 0.5 and waits[-1] <= 1.0
    # No tenth of the spread holds more than a fifth of the edges.
    buckets = [0] * 10
    for wait in waits:
        buckets[min(9, int((wait - 0.5) / 0.05))] += 1
    assert max(buckets) < 200, buckets


def test_a_reset_starts_the_schedule_again_at_the_initial_interval() -> None:
    backoff = redial_backoff(1.0, 30.0, 5.0)
    for _ in range(5):
        backoff.next_delay()
    backoff.reset()

    assert backoff.peek() == 1.0
