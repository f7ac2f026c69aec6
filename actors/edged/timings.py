"""Every duration edged waits, in one place: the defaults are the kubelet's, tests shorten them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EdgedTimings:
    """Every duration edged waits; the defaults are the kubelet's, tests shorten them."""

    restart_backoff_initial_s: float = 10.0
    restart_backoff_max_s: float = 300.0
    restart_backoff_reset_s: float = 600.0
    poll_interval_s: float = 10.0  # the safety net under Docker's events
    container_gc_interval_s: float = 60.0
    container_gc_min_age_s: float = 60.0
    image_gc_interval_s: float = 30.0
    image_gc_min_age_s: float = 60.0
    events_reconnect_initial_s: float = 0.5
    events_reconnect_max_s: float = 30.0
    pod_query_retry_initial_s: float = 1.0
    pod_query_retry_max_s: float = 30.0
    meta_timeout_s: float = 60.0
    pull_backoff_flip_s: float = 2.0  # ErrImagePull shows this long before ImagePullBackOff


__all__ = ["EdgedTimings"]
