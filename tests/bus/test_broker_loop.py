"""The broker's selector loop on its own: timers, wake-ups from another thread, failures."""

from __future__ import annotations

import logging
import threading

import pytest

from actors.bus.broker.loop import SelectorLoop


def test_timers_run_in_deadline_order_and_a_cancelled_one_never_runs() -> None:
    loop, ran = SelectorLoop(), []
    loop.call_later(0.03, lambda: ran.append("third"))
    loop.call_later(0.01, lambda: ran.append("second"))
    loop.call_later(0.0, lambda: ran.append("first"))
    loop.cancel(loop.call_later(0.02, lambda: ran.append("cancelled")))
    loop.call_later(0.04, loop.stop)

    loop.run()

    assert ran == ["first", "second", "third"]
    loop.close()


def test_a_callback_from_another_thread_wakes_a_loop_with_nothing_to_wait_for() -> None:
    loop, ran = SelectorLoop(), threading.Event()
    thread = threading.Thread(target=loop.run)
    thread.start()

    loop.call_soon_threadsafe(ran.set)
    loop.call_soon_threadsafe(loop.stop)

    thread.join(timeout=5)
    assert ran.is_set() and not thread.is_alive()
    loop.close()


def test_callbacks_queued_before_stop_still_run() -> None:
    loop, ran = SelectorLoop(), []

    loop.call_soon(loop.stop)
    loop.call_soon(lambda: loop.call_soon(lambda: ran.append("queued by a queued one")))
    loop.run()

    assert ran == ["queued by a queued one"]
    loop.close()


@pytest.mark.crashes_on_purpose
def test_a_failing_callback_is_logged_and_the_loop_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    loop, ran = SelectorLoop(), []

    def fail() -> None:
        raise RuntimeError("a bug")

    loop.call_later(0.0, fail)
    loop.call_later(0.01, lambda: ran.append("after"))
    loop.call_later(0.02, loop.stop)
    loop.run()

    assert ran == ["after"]
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "event handler failed" in record.getMessage() and "a bug" in str(record.exc_info)
    loop.close()


def test_many_cancelled_timers_do_not_pile_up() -> None:
    loop = SelectorLoop()
    for _ in range(10_000):
        loop.cancel(loop.call_later(3600, lambda: None))

    assert loop.pending_timers() < 1000
    loop.close()
