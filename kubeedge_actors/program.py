"""What every program built on the runtime does around it: find its configuration, set up
logging, and run until a stop signal. ``python -m kubeedge_actors`` (the edge) and
``python -m kubeedge_cloud`` (the cloud side) are both built from these pieces.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from kubeedge_actors.config import Config, KeyTable, load_config
from kubeedge_actors.config.keys import LOG_LEVELS
from kubeedge_actors.logs import configure_logging
from kubeedge_actors.memory import release_free_memory
from kubeedge_actors.runtime import Runtime

logger = logging.getLogger("kubeedge_actors.main")

DEFAULT_CONFIG_DIR = Path("conf")

#: docs/protocol.md#1.1: the original stops its modules on these (and on SIGILL, SIGTRAP and
#: SIGABRT, which report faults and keep their default here). SIGHUP: the terminal went away.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """``--config-dir``, ``--log-level`` and ``--print-default-config``."""
    parser.add_argument("--config-dir", type=Path, help="folder of the YAML files (default: ./conf, else built-in defaults)")
    parser.add_argument("--log-level", type=str.upper, choices=LOG_LEVELS, help="overrides loggerLevel")
    parser.add_argument("--print-default-config", action="store_true", help="print every default configuration file and exit")


def load_program_config(config_dir: Path | None, table: KeyTable) -> Config:
    """The configuration from ``config_dir``, ``./conf`` or the built-in defaults of ``table``.

    Raises:
        ConfigError: a file or a value is bad (the message names file, key and line).
    """
    if config_dir is not None:
        return load_config(config_dir, table, log_warnings=False)
    if DEFAULT_CONFIG_DIR.is_dir():
        return load_config(DEFAULT_CONFIG_DIR, table, log_warnings=False)
    return Config.defaults(table)


def start_logging(config: Config, args: argparse.Namespace, program: str) -> None:
    """Log as the configuration says; say where the configuration came from and what was odd in it."""
    configure_logging(config, args.log_level)
    if config.sources or args.config_dir is not None:
        logger.info("%s: configuration from %s", program, config.base_dir)
    else:
        logger.info("%s: no ./conf here, using built-in defaults", program)
    for warning in config.warnings:
        logger.warning("config: %s", warning)


def start_tool_logging() -> None:
    """Tools print their own output: warnings only, on stderr."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")


def run_until_signalled(runtime: Runtime, *, all_must_start: bool = False) -> int:
    """Start ``runtime``, wait for a stop signal, stop it; 0 on a clean stop.

    With ``all_must_start``, a module that did not start stops the program with code 1.
    """
    stop_requested = threading.Event()
    _on_stop_signals(stop_requested.set)
    try:
        runtime.start()
        failed = [name for name in runtime.running_modules() if not runtime.router.is_alive(name)]
        if all_must_start and failed:
            logger.error("%s did not start (see above); stopping", ", ".join(failed))
            return 1
        release_free_memory()  # start-up's garbage: compiled modules, the parsed configuration
        # A timeout keeps the main thread responsive to signals on every platform.
        while not stop_requested.wait(1.0):
            pass
        logger.info("stop requested")
    finally:
        runtime.stop()
    return 0


def _on_stop_signals(callback: Callable[[], None]) -> None:
    def handler(signum: int, _frame: FrameType | None) -> None:
        callback()

    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, handler)


__all__ = [
    "DEFAULT_CONFIG_DIR",
    "STOP_SIGNALS",
    "add_common_arguments",
    "load_program_config",
    "run_until_signalled",
    "start_logging",
    "start_tool_logging",
]
