"""Container and image garbage collection (docs/protocol.md#7.4).

Container GC keeps ``edged.maximum-dead-containers-per-container`` dead containers per pod
container (never the newest one of a live pod: its state is the pod's status) and removes the
others once they are a minute old. Image GC removes, least recently used first, images that
*this edged pulled* and no container uses, when the disk holding Docker's images is above
``edged.image-gc-high-threshold`` percent full, until it is below the low threshold. Only
images edged pulled: like containers (docs/protocol.md#13.9), what other agents put on the daemon is not
ours to delete.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from actors.edged.errors import ContainerRuntimeError
from actors.edged.lifecycle import newest_first
from actors.edged.model import ContainerInfo, ContainerRuntime
from actors.edged.timefmt import parse_docker_time

logger = logging.getLogger(__name__)


def dead_containers_to_remove(
    containers: Iterable[ContainerInfo], live_pods: set[str], keep: int, min_age_s: float, now: float
) -> list[str]:
    """Ids of dead containers to remove (containers of deleted pods are housekeeping's)."""
    groups: dict[tuple[str, str], list[ContainerInfo]] = {}
    for container in containers:
        if container.pod_uid in live_pods:
            groups.setdefault((container.pod_uid, container.container_name), []).append(container)
    doomed = []
    for owned in groups.values():
        newest, *older = newest_first(owned)
        budget = keep - (0 if newest.is_running else 1)  # a dead newest one counts as kept
        for container in [c for c in older if not c.is_running][max(budget, 0) :]:
            finished = parse_docker_time(container.finished_at) or parse_docker_time(container.created_at) or now
            if now - finished >= min_age_s:
                doomed.append(container.id)
    return doomed


def disk_usage_percent(path: str) -> float:
    stats = os.statvfs(path)
    total = stats.f_blocks * stats.f_frsize
    free = stats.f_bavail * stats.f_frsize
    return 100.0 * (total - free) / total if total else 0.0


class PulledImages:
    """The images this edged pulled and when each was last used, kept in a JSON file.

    The file is read once, on first use; every change is written through. Used from worker
    threads only, hence the lock.
    """

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, float]] | None = None

    def record(self, image: str, pulled: bool) -> None:
        with self._lock:
            entries = self._loaded()
            if pulled or image in entries:
                entry = entries.setdefault(image, {"pulled_at": self._clock()})
                entry["last_used"] = self._clock()
                self._save(entries)

    def forget(self, image: str) -> None:
        with self._lock:
            entries = self._loaded()
            if entries.pop(image, None) is not None:
                self._save(entries)

    def least_recently_used(self, min_age_s: float) -> list[str]:
        now = self._clock()
        with self._lock:
            old = [(e.get("last_used", 0.0), image) for image, e in self._loaded().items() if now - e.get("pulled_at", 0.0) >= min_age_s]
        return [image for _, image in sorted(old)]

    def _loaded(self) -> dict[str, dict[str, float]]:
        if self._entries is None:
            try:
                entries = json.loads(self.path.read_text())
            except (OSError, ValueError):
                entries = {}
            self._entries = entries if isinstance(entries, dict) else {}
        return self._entries

    def _save(self, entries: dict[str, dict[str, float]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(entries, indent=1, sort_keys=True))
        temporary.replace(self.path)


@dataclass(frozen=True)
class ImageGcResult:
    usage_percent: float
    removed: tuple[str, ...] = ()


def collect_images(
    runtime: ContainerRuntime,
    pulled: PulledImages,
    *,
    high_percent: float,
    low_percent: float,
    min_age_s: float,
    usage: Callable[[], float],
) -> ImageGcResult:
    """One round of image GC (blocking: run it on a worker)."""
    current = usage()
    if current < high_percent:
        return ImageGcResult(current)
    in_use = runtime.used_image_ids()
    removed: list[str] = []
    for image in pulled.least_recently_used(min_age_s):
        if current <= low_percent:
            break
        image_id = runtime.image_id(image)
        if image_id is None:
            pulled.forget(image)
            continue
        if image_id in in_use:
            continue
        try:
            runtime.remove_image(image)
        except ContainerRuntimeError as exc:
            logger.info("edged: image GC kept %s: %s", image, exc)
            continue
        pulled.forget(image)
        removed.append(image)
        current = usage()
    return ImageGcResult(current, tuple(removed))


__all__ = ["ImageGcResult", "PulledImages", "collect_images", "dead_containers_to_remove", "disk_usage_percent"]
