"""``python -m kubeedge_actors``: the edge's composition root.

It reads ``conf/`` under the working directory (the original reads ``conf/`` beside its
binary, docs/protocol.md#13.10), configures logging, builds the runtime with the edge's
modules (``actors.builtin_modules``) and runs until SIGINT or SIGTERM. It loads nothing of the
cloud side: that is ``python -m kubeedge_cloud``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from actors import builtin_modules  # the composition root is the one place that knows both halves
from actors.keys import EDGE_KEYS
from kubeedge_actors import __version__
from kubeedge_actors.config import render_default_config
from kubeedge_actors.errors import ConfigError
from kubeedge_actors.memory import limit_malloc_arenas
from kubeedge_actors.program import add_common_arguments, load_program_config, run_until_signalled, start_logging
from kubeedge_actors.runtime import Runtime


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubeedge-actors", description="The KubeEdge edge core as a Pykka actor runtime.")
    add_common_arguments(parser)
    parser.add_argument("--version", action="version", version=f"kubeedge-actors {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("edge", help="run the edge core (the default)")
    mapper = commands.add_parser("mapper", help="serve a device profile's devices (Modbus, OPC-UA) on the edge's MQTT broker")
    mapper.add_argument("--profile", required=True, type=Path, help="deviceProfile.json (re-read when it changes)")
    mapper.add_argument("--broker", help="MQTT broker, tcp://host:port (default: the edge's, from conf/edge.yaml)")
    return parser


#: What requests loads to guess the charset of a body that names none (the docker SDK's
#: dependency): ~2.6 MiB of the idle edge, ~5 % of it.
CHARSET_DETECTORS = ("charset_normalizer", "chardet")


#: The main arena and one the threads share: each of the edge's ~15 threads kept an arena of
#: its own, ~1 MiB together, for the little they allocate outside the GIL.
EDGE_MALLOC_ARENAS = 2


def skip_charset_detection() -> None:
    """Keep requests from loading a charset detector in this process.

    Docker's answers are UTF-8 (JSON, or text that says so), and without a detector requests
    decodes a body that names no charset as UTF-8 (``Response.apparent_encoding``), which is
    what Docker sends; the detector would only guess the same. Only the edge's own program
    does this: a program embedding the runtime keeps whatever it imports.
    """
    for name in CHARSET_DETECTORS:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]  # an import of it raises ImportError
    # requests says once, at import, that it found none; that is the point here.
    warnings.filterwarnings("ignore", message="Unable to find acceptable character detection", module="requests")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.print_default_config:
        sys.stdout.write(render_default_config(EDGE_KEYS))
        return 0
    try:
        config = load_program_config(args.config_dir, EDGE_KEYS)
    except ConfigError as exc:
        print(f"kubeedge-actors: configuration error: {exc}", file=sys.stderr)
        return 2
    start_logging(config, args, f"kubeedge-actors {__version__}")
    if args.command == "mapper":
        from actors.mapper.process import run_mapper  # noqa: PLC0415 - only this command loads the mapper

        return run_mapper(config, args.profile, args.broker)
    skip_charset_detection()
    limit_malloc_arenas(EDGE_MALLOC_ARENAS)
    return run_until_signalled(Runtime(config, builtin_modules()))


if __name__ == "__main__":
    sys.exit(main())
