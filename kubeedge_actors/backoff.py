"""Capped exponential back-off with jitter, for every retry loop in the project.

Redialling the cloud, reconnecting to the broker, restarting a crash-looping container and
resending to the cloud all wait ``initial · factor^n`` seconds, capped, with optional jitter so
that many edges do not retry in step.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Successive waits: ``initial_s``, ``initial_s·factor``, ... capped at ``max_s``.

    ``jitter`` spreads each wait uniformly over ``[wait·(1-jitter), wait]``.
    """

    initial_s: float
    max_s: float
    factor: float = 2.0
    jitter: float = 0.0
    attempts: int = field(default=0, init=False)

    def next_delay(self) -> float:
        """The wait before the next attempt; each call counts one attempt."""
        base = self.peek()
        self.attempts += 1
        if self.jitter:
            base *= 1 - random.random() * self.jitter  # spreading retries, not security
        return base

    def peek(self) -> float:
        """The un-jittered wait the next call would give, without counting an attempt."""
        return min(self.initial_s * self.factor**self.attempts, self.max_s)

    def reset(self) -> None:
        """Back to the first wait, after a success."""
        self.attempts = 0


__all__ = ["Backoff"]
