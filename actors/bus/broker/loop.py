"""The broker's event loop: one ``selectors`` selector, a heap of timers, one thread.

Standard library only, and deliberately not asyncio: importing asyncio costs an idle edge
~1.2 MiB of resident memory, and the broker needs only readiness of a few sockets, timers and
a way to be woken from another thread. Everything registered here runs on the loop's thread.

One turn::

    select (until the next timer, or at once when callbacks wait)
      └─► each ready socket's handler ──► due timers ──► callbacks queued by call_soon
"""

from __future__ import annotations

import heapq
import logging
import selectors
import socket
import time
from collections import deque
from collections.abc import Callable

logger = logging.getLogger(__name__)

Handler = Callable[[int], None]  # called with the ready events (selectors.EVENT_READ | EVENT_WRITE)
_COMPACT_AT = 256  # cancelled timers tolerated in the heap before it is rebuilt without them


class Timer:
    """A callback due at a :meth:`SelectorLoop.time`; :meth:`SelectorLoop.cancel` before it runs."""

    __slots__ = ("callback", "deadline")

    def __init__(self, deadline: float, callback: Callable[[], None]) -> None:
        self.deadline = deadline
        self.callback: Callable[[], None] | None = callback

    def __lt__(self, other: Timer) -> bool:
        return self.deadline < other.deadline

    @property
    def cancelled(self) -> bool:
        return self.callback is None


class SelectorLoop:
    """Sockets' readiness, timers and callbacks on the thread that calls :meth:`run`.

    Only :meth:`call_soon_threadsafe` may be called from another thread.
    """

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self._timers: list[Timer] = []
        self._cancelled_timers = 0
        self._ready: deque[Callable[[], None]] = deque()
        self._stopping = False
        # A byte on this pair ends a select() early: how another thread gets the loop's attention.
        self._wake_in, self._wake_out = socket.socketpair()
        self._wake_in.setblocking(False)
        self._wake_out.setblocking(False)
        self.selector.register(self._wake_in, selectors.EVENT_READ, self._drain_wake)

    @staticmethod
    def time() -> float:
        return time.monotonic()

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(self.time() + delay_s, callback)
        heapq.heappush(self._timers, timer)
        return timer

    def cancel(self, timer: Timer) -> None:
        """Cancel ``timer``; a heap mostly of cancelled timers is rebuilt rather than left to
        grow with every connection that came and went before its timers were due."""
        if timer.cancelled:
            return
        timer.callback = None
        self._cancelled_timers += 1
        if self._cancelled_timers > _COMPACT_AT and self._cancelled_timers > len(self._timers) // 2:
            # In place: _run_due_timers may be holding the list when a callback cancels.
            self._timers[:] = [live for live in self._timers if not live.cancelled]
            heapq.heapify(self._timers)
            self._cancelled_timers = 0

    def pending_timers(self) -> int:
        """Timers in the heap, cancelled ones not swept yet included."""
        return len(self._timers)

    def call_soon(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` on the next turn, after what the current one is handling."""
        self._ready.append(callback)

    def call_soon_threadsafe(self, callback: Callable[[], None]) -> None:
        self._ready.append(callback)  # deque.append is atomic; the byte wakes the select
        try:
            self._wake_out.send(b"\0")
        except (BlockingIOError, InterruptedError):
            pass  # the pair is full of wake-ups already: the loop will see the callback
        except OSError:
            logger.debug("bus: broker: the loop is closed; a late callback is dropped")

    def stop(self) -> None:
        """End :meth:`run` once the callbacks already queued have run (on the loop's thread)."""
        self._stopping = True

    def run(self) -> None:
        """Turn until :meth:`stop`; a failing handler or callback is logged and the loop goes on."""
        select, ready = self.selector.select, self._ready
        while not (self._stopping and not ready):
            for key, events in select(0 if ready else self._timeout()):
                try:  # inline rather than _guarded: this is every packet's path
                    key.data(events)
                except Exception:
                    logger.exception("bus: broker: an event handler failed")
            self._run_due_timers()
            for _ in range(len(ready)):  # not those they queue: a turn stays bounded
                _guarded(ready.popleft())

    def close(self) -> None:
        self.selector.close()
        self._wake_in.close()
        self._wake_out.close()

    def _timeout(self) -> float | None:
        timers = self._timers
        while timers and timers[0].cancelled:
            heapq.heappop(timers)
            self._cancelled_timers -= 1
        if not timers:
            return None
        return max(0.0, timers[0].deadline - self.time())

    def _run_due_timers(self) -> None:
        timers, now = self._timers, self.time()
        while timers and timers[0].deadline <= now:
            timer = heapq.heappop(timers)
            callback = timer.callback
            if callback is None:
                self._cancelled_timers -= 1
                continue
            timer.callback = None  # ran: a later cancel() is harmless and not counted
            _guarded(callback)

    def _drain_wake(self, events: int) -> None:
        try:
            while self._wake_in.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass


def _guarded(callback: Callable[[], None]) -> None:
    # One failing callback must not stop the broker for every other client: as asyncio's
    # default exception handler does, log it and go on.
    try:
        callback()
    except Exception:
        logger.exception("bus: broker: an event handler failed")


__all__ = ["Handler", "SelectorLoop", "Timer"]
