"""``python -m kubeedge_actors``: the one composition root.

It reads ``conf/`` under the working directory (the original reads ``conf/`` beside its
binary, docs/protocol.md#13.10), configures logging, builds the runtime with the built-in modules
and runs until SIGINT or SIGTERM. Other commands: ``cloud`` runs this project's cloud hub
(its own runtime), ``ctl`` talks to a running cloud hub, ``certs`` writes TLS files,
``image`` makes the local busybox image the examples run.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

from actors import builtin_modules  # the composition root is the one place that knows both halves
from actors.cloudhub import cloud_runtime
from actors.cloudhub.certs import add_certs_arguments, run_certs
from actors.cloudhub.ctl import add_ctl_arguments, run_ctl
from actors.cloudhub.hub import server_settings
from actors.cloudhub.server import CloudHubError
from actors.edged.localimage import add_image_arguments, run_image
from kubeedge_actors import __version__
from kubeedge_actors.config import Config, load_config, render_default_config
from kubeedge_actors.config.keys import LOG_LEVELS
from kubeedge_actors.errors import ConfigError
from kubeedge_actors.logs import configure_logging
from kubeedge_actors.runtime import Runtime

logger = logging.getLogger("kubeedge_actors.main")

DEFAULT_CONFIG_DIR = Path("conf")

Command = Callable[[Config, argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubeedge-actors", description="The KubeEdge edge core as a Pykka actor runtime.")
    parser.add_argument("--config-dir", type=Path, help="folder of the YAML files (default: ./conf, else built-in defaults)")
    parser.add_argument("--log-level", type=str.upper, choices=LOG_LEVELS, help="overrides loggerLevel of logging.yaml")
    parser.add_argument("--print-default-config", action="store_true", help="print every default configuration file and exit")
    parser.add_argument("--version", action="version", version=f"kubeedge-actors {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("edge", help="run the edge core (the default)")
    commands.add_parser("cloud", help="run this project's cloud hub (conf/cloudhub.yaml)")
    add_ctl_arguments(commands.add_parser("ctl", help="apply, delete and list objects on a running cloud hub"))
    add_certs_arguments(commands.add_parser("certs", help="write a CA, a cloud hub and an edge certificate"))
    add_image_arguments(commands.add_parser("image", help="make the local busybox image the examples run (no registry needed)"))
    return parser


def load(config_dir: Path | None) -> Config:
    """The configuration from ``config_dir``, ``./conf`` or the built-in defaults."""
    if config_dir is not None:
        return load_config(config_dir, log_warnings=False)
    if DEFAULT_CONFIG_DIR.is_dir():
        return load_config(DEFAULT_CONFIG_DIR, log_warnings=False)
    return Config.defaults()


def run_edge(config: Config, args: argparse.Namespace) -> int:
    """Run the edge core until SIGINT or SIGTERM; exit code 0 on a clean stop."""
    return _run_until_signalled(Runtime(config, builtin_modules()))


def run_cloud(config: Config, args: argparse.Namespace) -> int:
    """Run the cloud hub until SIGINT or SIGTERM; exit code 2 when its TLS files are unusable."""
    try:
        server_settings(config)  # fail here, in one line, rather than in a restarting actor
    except CloudHubError as exc:
        print(f"kubeedge-actors: {exc}", file=sys.stderr)
        return 2
    return _run_until_signalled(cloud_runtime(config), all_must_start=True)


def _run_until_signalled(runtime: Runtime, *, all_must_start: bool = False) -> int:
    stop_requested = threading.Event()
    _on_stop_signals(stop_requested.set)
    try:
        runtime.start()
        failed = [name for name in runtime.running_modules() if not runtime.router.is_alive(name)]
        if all_must_start and failed:
            logger.error("kubeedge-actors: %s did not start (see above); stopping", ", ".join(failed))
            return 1
        # A timeout keeps the main thread responsive to signals on every platform.
        while not stop_requested.wait(1.0):
            pass
        logger.info("kubeedge-actors: stop requested")
    finally:
        runtime.stop()
    return 0


def _on_stop_signals(callback: Callable[[], None]) -> None:
    def handler(signum: int, _frame: FrameType | None) -> None:
        callback()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


COMMANDS: dict[str, Command] = {"edge": run_edge, "cloud": run_cloud, "ctl": run_ctl, "certs": run_certs, "image": run_image}
#: Tools print their own output: no log handlers on stdout, no start-up lines.
TOOLS = ("ctl", "certs", "image")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.print_default_config:
        sys.stdout.write(render_default_config())
        return 0
    try:
        config = load(args.config_dir)
    except ConfigError as exc:
        print(f"kubeedge-actors: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command in TOOLS:
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(message)s")
        return COMMANDS[args.command](config, args)
    configure_logging(config, args.log_level)
    if config.sources or args.config_dir is not None:
        logger.info("kubeedge-actors %s: configuration from %s", __version__, config.base_dir)
    else:
        logger.info("kubeedge-actors %s: no ./conf here, using built-in defaults", __version__)
    for warning in config.warnings:
        logger.warning("config: %s", warning)
    return COMMANDS[args.command or "edge"](config, args)


if __name__ == "__main__":
    sys.exit(main())
