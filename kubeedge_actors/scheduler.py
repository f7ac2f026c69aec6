"""One timer thread for the whole runtime: sync timeouts, actor ticks, restart back-offs.

Callbacks run on the timer thread, so they must be quick and only hand over (``tell``,
``Future.set_exception``); anything slow belongs in an actor or a worker.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

from kubeedge_actors.errors import InvalidArgumentError

logger = logging.getLogger(__name__)


class TimerHandle:
    """A scheduled call; :meth:`cancel` makes sure it will not (again) run."""

    __slots__ = ("_cancelled", "_scheduler")

    def __init__(self, scheduler: Scheduler | None = None) -> None:
        self._cancelled = False
        self._scheduler = scheduler

    def cancel(self) -> None:
        if not self._cancelled:
            self._cancelled = True
            if self._scheduler is not None:
                self._scheduler._note_cancelled()

    @property
    def cancelled(self) -> bool:
        return self._cancelled


class Scheduler:
    """Runs callbacks at a monotonic deadline, once or repeatedly, on one daemon thread.

    The thread starts with the first call and is woken only when a new deadline is earlier
    than the one it sleeps towards, so a steady stream of equal timeouts costs no wake-ups.
    """

    def __init__(self, name: str = "kubeedge-timers") -> None:
        self._name = name
        self._heap: list[tuple[float, int, TimerHandle, Callable[[], None], float]] = []
        self._sequence = itertools.count()
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._cancelled_in_heap = 0

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> TimerHandle:
        """Run ``callback`` once after ``delay_s`` seconds."""
        return self._schedule(delay_s, callback, 0.0)

    def call_every(self, interval_s: float, callback: Callable[[], None]) -> TimerHandle:
        """Run ``callback`` every ``interval_s`` seconds, the first time after one interval."""
        if interval_s <= 0:
            raise InvalidArgumentError(f"interval must be positive, not {interval_s}")
        return self._schedule(interval_s, callback, interval_s)

    def close(self) -> None:
        """Stop the thread; pending calls are dropped."""
        with self._condition:
            self._closed = True
            self._heap.clear()
            self._condition.notify()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _schedule(self, delay_s: float, callback: Callable[[], None], period_s: float) -> TimerHandle:
        handle = TimerHandle(self)
        deadline = time.monotonic() + max(delay_s, 0.0)
        with self._condition:
            if self._closed:
                handle.cancel()
                return handle
            earliest = self._heap[0][0] if self._heap else None
            heapq.heappush(self._heap, (deadline, next(self._sequence), handle, callback, period_s))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            elif earliest is None or deadline < earliest:
                self._condition.notify()
        return handle

    def _note_cancelled(self) -> None:
        # Cancelled entries stay in the heap until due; a sync timeout is cancelled by almost
        # every reply, so compact once they make up most of the heap.
        with self._condition:
            self._cancelled_in_heap += 1
            if self._cancelled_in_heap > 256 and self._cancelled_in_heap * 2 > len(self._heap):
                self._heap = [entry for entry in self._heap if not entry[2].cancelled]
                heapq.heapify(self._heap)
                self._cancelled_in_heap = 0

    def pending_count(self) -> int:
        """Scheduled calls not yet run or cancelled (for tests and metrics)."""
        with self._condition:
            return sum(1 for entry in self._heap if not entry[2].cancelled)

    def _run(self) -> None:
        while True:
            due = self._wait_for_due()
            if due is None:
                return
            for handle, callback in due:
                if handle.cancelled:
                    continue
                try:
                    callback()
                except Exception:
                    logger.exception("scheduler: a timer callback failed")

    def _wait_for_due(self) -> list[tuple[TimerHandle, Callable[[], None]]] | None:
        with self._condition:
            while True:
                if self._closed:
                    return None
                now = time.monotonic()
                if self._heap and self._heap[0][0] <= now:
                    return self._pop_due(now)
                timeout = self._heap[0][0] - now if self._heap else None
                self._condition.wait(timeout)

    def _pop_due(self, now: float) -> list[tuple[TimerHandle, Callable[[], None]]]:
        due = []
        while self._heap and self._heap[0][0] <= now:
            _deadline, _seq, handle, callback, period_s = heapq.heappop(self._heap)
            if handle.cancelled:
                self._cancelled_in_heap = max(0, self._cancelled_in_heap - 1)
                continue
            due.append((handle, callback))
            if period_s:
                heapq.heappush(self._heap, (now + period_s, next(self._sequence), handle, callback, period_s))
            else:
                handle._scheduler = None  # out of the heap: a late cancel() has nothing to count
        return due


__all__ = ["Scheduler", "TimerHandle"]
