"""Docker's RFC 3339 nanosecond times and Kubernetes' RFC 3339 second times."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

_DOCKER_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$")


def parse_docker_time(text: str) -> float | None:
    """Epoch seconds of ``2026-11-27T14:07:12.123456789Z``; None for Docker's zero time or junk."""
    match = _DOCKER_TIME.match(text or "")
    if match is None or match[1].startswith("0001-"):
        return None
    zone = "+00:00" if match[3] == "Z" else match[3]
    moment = datetime.fromisoformat(match[1] + zone)
    return moment.timestamp() + (float("0." + match[2]) if match[2] else 0.0)


def k8s_time(epoch_s: float | None) -> str | None:
    """``2026-11-27T14:07:12Z`` as Kubernetes writes times; None stays None."""
    if epoch_s is None:
        return None
    return datetime.fromtimestamp(int(epoch_s), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def docker_to_k8s(text: str) -> str | None:
    return k8s_time(parse_docker_time(text))


def now_k8s() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


__all__ = ["docker_to_k8s", "k8s_time", "now_k8s", "parse_docker_time"]
