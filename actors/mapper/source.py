"""Where the profile comes from: a file (a mapper pod's mounted configmap, ``--profile``,
``mapper.profile``), looked at on a thread of its own; or the configmap in meta (the actor)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from actors.mapper.errors import ProfileError
from actors.mapper.profile import Profile, read_profile

logger = logging.getLogger(__name__)

PROFILE_KEY = "deviceProfile.json"


def profile_from_configmaps(values: object, namespace: str, name: str) -> str:
    """The profile text in meta's answer to a query of every configmap (a list of stored JSON
    texts); "" when the configmap ``namespace/name`` is not among them."""
    for value in values if isinstance(values, list) else []:
        try:
            configmap = json.loads(value) if isinstance(value, str) else value
        except ValueError as exc:
            raise ProfileError(f"a stored configmap is not JSON: {exc}") from exc
        metadata = configmap.get("metadata") if isinstance(configmap, dict) else None
        if not isinstance(metadata, dict) or (metadata.get("namespace"), metadata.get("name")) != (namespace, name):
            continue
        data = configmap.get("data")
        text = data.get(PROFILE_KEY, "") if isinstance(data, dict) else ""
        return text if isinstance(text, str) else ""
    return ""


class ProfileTracker:
    """Turns profile texts into :class:`Profile` s, only when the text changed."""

    def __init__(self, apply: Callable[[Profile], None], where: str) -> None:
        self._apply, self.where = apply, where
        self._last: str | None = None

    def offer(self, text: str) -> None:
        if text == self._last:
            return
        self._last = text
        try:
            profile = read_profile(text)
        except ProfileError as error:
            logger.error("mapper: %s: %s; keeping the devices served so far", self.where, error)
            return
        logger.info("mapper: %s: %d device(s)", self.where, len(profile.devices))
        self._apply(profile)


class ProfileFile:
    """Re-reads a file every ``interval_s`` (a configmap volume is replaced, not appended to:
    comparing the text sees every kind of update)."""

    def __init__(self, path: Path, interval_s: float, apply: Callable[[Profile], None]) -> None:
        self.path, self.interval_s = path, interval_s
        self._tracker = ProfileTracker(apply, str(path))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mapper-profile", daemon=True)
        self._missing_logged = False

    def start(self) -> None:
        self.look()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def look(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError as exc:
            if not self._missing_logged:
                logger.warning("mapper: cannot read %s (%s); serving no device until it can", self.path, exc.strerror or exc)
                self._missing_logged = True
            text = ""
        else:
            self._missing_logged = False
        self._tracker.offer(text)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.look()


__all__ = ["PROFILE_KEY", "ProfileFile", "ProfileTracker", "profile_from_configmaps"]
