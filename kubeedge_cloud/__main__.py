"""``python -m kubeedge_cloud``: this project's cloud side, and its tools.

::

    python -m kubeedge_cloud [run]        the cloud hub, controllers and Kubernetes API (conf/cloudhub.yaml)
    python -m kubeedge_cloud ctl ARGS     kubectl ARGS with the kubeconfig certs wrote (certs/kubeconfig)
    python -m kubeedge_cloud certs        a CA, the cloud hub's and an edge's certificates, a kubeconfig
    python -m kubeedge_cloud apiserver    the embedded Kubernetes API server that kubectl talks to

It reads only ``conf/cloudhub.yaml`` (of ``--config-dir``, else ``./conf``), so it can share
the edge's ``conf/`` folder on one machine.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from kubeedge_actors import __version__
from kubeedge_actors.config import Config, render_default_config
from kubeedge_actors.errors import ConfigError
from kubeedge_actors.program import (
    add_common_arguments,
    load_program_config,
    run_until_signalled,
    start_logging,
    start_tool_logging,
)
from kubeedge_cloud import cloud_runtime
from kubeedge_cloud.certs import add_certs_arguments, run_certs
from kubeedge_cloud.ctl import run_ctl, split_ctl_arguments
from kubeedge_cloud.errors import ApiServerError, CloudHubError
from kubeedge_cloud.keys import CLOUD_KEYS
from kubeedge_cloud.kube.actor import KUBE_MODULE
from kubeedge_cloud.kube.command import run_apiserver
from kubeedge_cloud.kube.errors import KubeApiServerError
from kubeedge_cloud.kube.server import KubeServerSettings
from kubeedge_cloud.names import API_MODULE
from kubeedge_cloud.settings import ApiSettings, HubSettings, kube_api_enabled

Command = Callable[[Config, argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubeedge-cloud", description="This project's cloud side for kubeedge-actors edges.")
    add_common_arguments(parser)
    parser.add_argument("--version", action="version", version=f"kubeedge-cloud {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("run", help="run the cloud hub (the default)")
    commands.add_parser("ctl", help="kubectl with this cloud side's kubeconfig: ctl get pods, ctl apply -f FILE, ...", add_help=False)
    add_certs_arguments(commands.add_parser("certs", help="write a CA, a cloud hub and an edge certificate"))
    commands.add_parser("apiserver", help="run the embedded Kubernetes API server (kubectl: KUBECONFIG=certs/kubeconfig)")
    return parser


def run_cloud(config: Config, args: argparse.Namespace) -> int:
    """Run the cloud side until SIGINT or SIGTERM; exit code 2 when its TLS files are unusable."""
    try:
        HubSettings.from_config(config).server_settings()  # fail here, in one line, rather than in a restarting actor
        if API_MODULE in config.strings("modules.enabled"):
            ApiSettings.from_config(config).authentication()
        if kube_api_enabled(config):
            KubeServerSettings.from_config(config)
    except KubeApiServerError as exc:
        print(f"kubeedge-cloud: {exc}, or leave {KUBE_MODULE} out of modules.enabled (no kubectl then)", file=sys.stderr)
        return 2
    except (CloudHubError, ApiServerError) as exc:
        print(f"kubeedge-cloud: {exc}", file=sys.stderr)
        return 2
    return run_until_signalled(cloud_runtime(config), all_must_start=True)


TOOLS: dict[str, Command] = {"ctl": run_ctl, "certs": run_certs, "apiserver": run_apiserver}


def main(argv: Sequence[str] | None = None) -> int:
    own, kubectl_args = split_ctl_arguments(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(own)
    args.kubectl_args = kubectl_args
    if args.print_default_config:
        sys.stdout.write(render_default_config(CLOUD_KEYS))
        return 0
    try:
        config = load_program_config(args.config_dir, CLOUD_KEYS)
    except ConfigError as exc:
        print(f"kubeedge-cloud: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command in TOOLS:
        start_tool_logging()
        return TOOLS[args.command](config, args)
    start_logging(config, args, f"kubeedge-cloud {__version__}")
    return run_cloud(config, args)


if __name__ == "__main__":
    sys.exit(main())
