"""Module actors that stand in for real modules in the in-process benchmarks."""

from __future__ import annotations

import threading
from typing import Any

from kubeedge_actors import Message, ModuleActor, Router


class Counter(ModuleActor):
    """Counts the envelopes it takes and sets ``done`` at the ``expected``-th.

    Register it under the name of the module it stands in for (``name=``, ``group=``).
    """

    module_name = "counter"
    module_group = "bench"

    def __init__(self, router: Router, config: Any = None, *, expected: int, done: threading.Event, **kwargs: Any) -> None:
        super().__init__(router, config, **kwargs)
        self.expected, self.done, self.count = expected, done, 0

    def handle_message(self, message: Message) -> None:
        self.count += 1
        if self.count == self.expected:
            self.done.set()


class Sink(ModuleActor):
    """Takes every envelope and does nothing with it."""

    module_name = "sink"
    module_group = "bench"

    def handle_message(self, message: Message) -> None:
        pass


__all__ = ["Counter", "Sink"]
