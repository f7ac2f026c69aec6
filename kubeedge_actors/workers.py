"""The threads a module's background jobs run on (``ModuleActor.module_run_in_background``)."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

from kubeedge_actors.errors import ShutDownError

T = TypeVar("T")


class DaemonThreadPool(Executor):
    """An executor whose threads are daemons: the interpreter does not wait for them at exit.

    ``concurrent.futures.ThreadPoolExecutor`` joins its workers at interpreter exit, so one
    worker in a long call (an image pull, a 120 s Docker timeout) kept a stopped edge alive.
    Threads start on demand, up to ``size``, and end at :meth:`shutdown`.
    """

    def __init__(self, size: int, name: str) -> None:
        self._size = size
        self._name = name
        self._changed = threading.Condition()
        self._queue: deque[tuple[Future[Any], Callable[[], Any]]] = deque()
        self._threads = 0
        self._idle = 0
        self._shut_down = False

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        with self._changed:
            if self._shut_down:
                raise ShutDownError(f"{self._name}: cannot take jobs after shutdown")
            self._queue.append((future, lambda: fn(*args, **kwargs)))
            if len(self._queue) <= self._idle:
                self._changed.notify()
            elif self._threads < self._size:
                self._threads += 1
                threading.Thread(target=self._serve, name=f"{self._name}-{self._threads}", daemon=True).start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """No new jobs; with ``cancel_futures`` queued ones are cancelled. ``wait`` waits for
        the threads to end."""
        with self._changed:
            self._shut_down = True
            if cancel_futures:
                for future, _ in self._queue:
                    future.cancel()
                self._queue.clear()
            self._changed.notify_all()
            while wait and self._threads:
                self._changed.wait()

    def _serve(self) -> None:
        while (item := self._next()) is not None:
            future, call = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(call())
            except BaseException as error:  # the future carries it to whoever waits
                future.set_exception(error)

    def _next(self) -> tuple[Future[Any], Callable[[], Any]] | None:
        with self._changed:
            self._idle += 1
            while not self._queue and not self._shut_down:
                self._changed.wait()
            self._idle -= 1
            if self._queue:
                return self._queue.popleft()  # queued before shutdown without cancel: still run
            self._threads -= 1
            self._changed.notify_all()
            return None


__all__ = ["DaemonThreadPool"]
