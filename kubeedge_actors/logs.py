"""Logging handlers from ``logging.yaml`` (docs/protocol.md#8.2), which only the composition root installs,
and :class:`RateLimitedWarning` for modules that must not let a noisy peer flood the log."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kubeedge_actors.config import Config

_LEVELS = {"WARN": logging.WARNING, "FATAL": logging.CRITICAL}
_TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(message)s"  # messages name their module


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for ``logFormatText: false``."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class RateLimitedWarning:
    """A warning at most once per key every ``interval_s``; the repeats in between at DEBUG.

    For what a remote peer can trigger at will (garbage frames, unknown groups): the first of
    a burst is seen, the rest cannot flood the log. Use it on one thread (an actor's).

    Args:
        interval_s: the least time between two warnings for the same key.
        clock: seconds, monotonic; for tests.
    """

    def __init__(self, interval_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._last_warned: dict[str, float] = {}

    def log(self, logger: logging.Logger, key: str, text: str, *args: object) -> None:
        """Log ``text % args`` on ``logger``: WARNING if ``key`` was not warned about lately, else DEBUG."""
        now = self._clock()
        last = self._last_warned.get(key)
        if last is None or now - last >= self.interval_s:
            self._last_warned[key] = now
            logger.warning(text, *args, stacklevel=2)
        else:
            logger.debug(text, *args, stacklevel=2)


def log_level(name: str) -> int:
    """The logging level for a ``loggerLevel`` / ``--log-level`` name."""
    upper = name.upper()
    return _LEVELS.get(upper) or logging.getLevelName(upper)


@dataclass(frozen=True)
class LogSettings:
    """The keys of ``logging.yaml``, read once.

    Attributes:
        level: ``loggerLevel``, e.g. ``INFO`` (see :func:`log_level`).
        text: ``logFormatText``: plain lines; False: one JSON object per line.
        writers: ``writers``: ``stdout`` and/or ``file`` (none: stdout).
        file: ``loggerFile``, resolved beside the conf folder.
        rsyslog: ``enableRsyslog``: also the local syslog socket.
    """

    level: str
    text: bool
    writers: tuple[str, ...]
    file: Path
    rsyslog: bool

    @classmethod
    def from_config(cls, config: Config) -> LogSettings:
        return cls(
            level=config.text("loggerLevel"),
            text=config.flag("logFormatText"),
            writers=config.strings("writers"),
            file=config.path("loggerFile"),
            rsyslog=config.flag("enableRsyslog"),
        )


def configure_logging(config: Config, level_override: str | None = None) -> None:
    """Install the handlers ``writers`` asks for on the root logger, replacing earlier ones."""
    settings = LogSettings.from_config(config)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    formatter: logging.Formatter = logging.Formatter(_TEXT_FORMAT) if settings.text else JsonFormatter()
    for handler in _handlers(settings):
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(log_level(level_override or settings.level))
    # Library chatter is not ours to show, even at DEBUG.
    for noisy in ("urllib3", "docker", "websockets", "peewee"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, root.level))


class ConsoleHandler(logging.StreamHandler):
    """Standard output that goes quiet once its reader is gone.

    Ctrl-C on ``scripts/edge | tee edge.log`` ends ``tee`` first: the lines the edge logs while
    it stops would each print a traceback of the broken pipe. The stop matters, not them.
    """

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802  # logging's name
        if isinstance(sys.exc_info()[1], BrokenPipeError):
            self.setStream(open(os.devnull, "w"))  # noqa: SIM115  # lives as long as the handler
            return
        super().handleError(record)


def _handlers(settings: LogSettings) -> list[logging.Handler]:
    handlers: list[logging.Handler] = []
    writers = settings.writers
    if "stdout" in writers or not writers:
        handlers.append(ConsoleHandler(sys.stdout))
    if "file" in writers:
        settings.file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(settings.file, encoding="utf-8"))
    if settings.rsyslog and Path("/dev/log").exists():
        from logging.handlers import SysLogHandler  # noqa: PLC0415 - with pickle, only for syslog

        handlers.append(SysLogHandler(address="/dev/log"))
    return handlers


__all__ = ["JsonFormatter", "LogSettings", "RateLimitedWarning", "configure_logging", "log_level"]
