"""Garbage collection rounds (docs/protocol.md#7.4), decided from what the actor gives and
carried out on its workers; the decisions themselves are the pure functions of gc.py."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable

from actors.edged.errors import ContainerNotFoundError
from actors.edged.events import ContainersCollected, Host, ImagesCollected, Tools
from actors.edged.gc import collect_images, dead_containers_to_remove, disk_usage_percent
from actors.edged.model import ContainerInfo, ContainerRuntime
from actors.edged.settings import EdgedSettings, EdgedTimings
from actors.edged.volumes import PodFiles

logger = logging.getLogger(__name__)


def collect_containers(runtime: ContainerRuntime, files: PodFiles, doomed: list[str], keep_dirs: set[str]) -> tuple[list[str], list[str]]:
    """Remove ``doomed`` containers and the pod folders not in ``keep_dirs`` (blocking)."""
    removed = []
    for container_id in doomed:
        with contextlib.suppress(ContainerNotFoundError):
            runtime.remove_container(container_id)
        removed.append(container_id)
    orphans = sorted(files.pod_uids() - keep_dirs)
    for uid in orphans:
        files.remove_pod(uid)
    return removed, orphans


class Collector:
    """Starts container and image GC rounds on the actor's workers and reads their results."""

    def __init__(
        self,
        host: Host,
        *,
        tools: Tools,
        settings: EdgedSettings,
        timings: EdgedTimings,
        clock: Callable[[], float],
        disk_usage: Callable[[], float] | None = None,
    ) -> None:
        runtime = tools.runtime
        self._host = host
        self._runtime = runtime
        self._files = tools.files
        self._pulled = tools.pulled_images
        self._settings = settings
        self._timings = timings
        self._clock = clock
        self._disk_usage = disk_usage or (lambda: disk_usage_percent(runtime.root_dir()))

    def collect_containers(self, containers: Iterable[ContainerInfo], live_pods: set[str], keep_dirs: set[str]) -> None:
        """Dead containers of live pods beyond the configured count, and pod folders of no pod."""
        doomed = dead_containers_to_remove(
            containers, live_pods, self._settings.max_dead_containers, self._timings.container_gc_min_age_s, self._clock()
        )
        runtime, files = self._runtime, self._files
        self._host.module_run_in_background(lambda: collect_containers(runtime, files, doomed, keep_dirs), ContainersCollected)

    def containers_collected(self, event: ContainersCollected) -> list[str]:
        """The containers a round removed (none when it failed)."""
        if not event.outcome.ok or event.outcome.value is None:
            logger.info("edged: container GC incomplete: %s", event.outcome.error)
            return []
        removed, dirs = event.outcome.value
        if removed or dirs:
            logger.info("edged: container GC removed %d dead containers and %d orphaned pod folders", len(removed), len(dirs))
        return removed

    def collect_images(self) -> None:
        runtime, pulled, settings, usage = self._runtime, self._pulled, self._settings, self._disk_usage
        min_age_s = self._timings.image_gc_min_age_s
        self._host.module_run_in_background(
            lambda: collect_images(
                runtime,
                pulled,
                high_percent=settings.image_gc_high_percent,
                low_percent=settings.image_gc_low_percent,
                min_age_s=min_age_s,
                usage=usage,
            ),
            ImagesCollected,
        )

    @staticmethod
    def images_collected(event: ImagesCollected) -> None:
        if not event.outcome.ok or event.outcome.value is None:
            logger.debug("edged: image GC skipped: %s", event.outcome.error)
        elif event.outcome.value.removed:
            result = event.outcome.value
            logger.info("edged: image GC removed %s; disk now %.0f%% full", ", ".join(result.removed), result.usage_percent)


__all__ = ["Collector", "collect_containers"]
