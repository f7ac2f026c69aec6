"""Logging handlers from ``logging.yaml`` (spec §8.2). Only the composition root calls this."""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
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


def log_level(name: str) -> int:
    """The logging level for a ``loggerLevel`` / ``--log-level`` name."""
    upper = name.upper()
    return _LEVELS.get(upper) or logging.getLevelName(upper)


def configure_logging(config: Config, level_override: str | None = None) -> None:
    """Install the handlers ``writers`` asks for on the root logger, replacing earlier ones."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    formatter: logging.Formatter = logging.Formatter(_TEXT_FORMAT) if config["logFormatText"] else JsonFormatter()
    for handler in _handlers(config):
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(log_level(level_override or config["loggerLevel"]))
    # Library chatter is not ours to show, even at DEBUG.
    for noisy in ("urllib3", "docker", "websockets", "amqtt", "transitions", "peewee"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, root.level))


def _handlers(config: Config) -> list[logging.Handler]:
    handlers: list[logging.Handler] = []
    writers = config["writers"]
    if "stdout" in writers or not writers:
        handlers.append(logging.StreamHandler(sys.stdout))
    if "file" in writers:
        path: Path = config.path("loggerFile")
        path.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(path, encoding="utf-8"))
    if config["enableRsyslog"] and Path("/dev/log").exists():
        handlers.append(logging.handlers.SysLogHandler(address="/dev/log"))
    return handlers


__all__ = ["JsonFormatter", "configure_logging", "log_level"]
