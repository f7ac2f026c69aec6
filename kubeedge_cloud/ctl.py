"""``python -m kubeedge_cloud ctl ARGS``: kubectl, pointed at this cloud side.

It runs ``kubectl ARGS`` with the kubeconfig that ``python -m kubeedge_cloud certs`` wrote
(``certs/kubeconfig`` beside ``conf/``: the embedded API server, the CA, the admin's
certificate), so that ``ctl get pods`` in the cloud side's folder is ``kubectl get pods``
without exporting ``KUBECONFIG``. ``KUBECONFIG`` or ``--kubeconfig`` given: kubectl uses those.
Everything else is kubectl's: its verbs, its output, its exit code.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TextIO

from kubeedge_actors.config import Config

#: Where kubectl is, when it is not on the PATH (Debian's kubernetes-client puts it here).
_KUBECTL_FALLBACK = Path("/usr/bin/kubectl")


def split_ctl_arguments(argv: list[str]) -> tuple[list[str], list[str]]:
    """``[..., "ctl", *kubectl_args]`` → (the arguments up to ``ctl``, kubectl's): everything
    after ``ctl`` is kubectl's, ``-n``, ``-h`` and ``--`` included, untouched by argparse."""
    if "ctl" not in argv:
        return argv, []
    at = argv.index("ctl")
    return argv[: at + 1], argv[at + 1 :]


def kubeconfig_of(config: Config) -> Path:
    """The kubeconfig ``certs`` writes by default: ``certs/kubeconfig`` beside the conf folder."""
    return config.base_dir / "certs" / "kubeconfig"


def kubectl_command(config: Config, args: list[str], environment: dict[str, str]) -> list[str] | str:
    """The command line to run, or a one-line reason why there is none."""
    kubectl = shutil.which("kubectl") or (str(_KUBECTL_FALLBACK) if _KUBECTL_FALLBACK.is_file() else None)
    if kubectl is None:
        return "kubectl is not installed: install it (Debian: apt-get install kubernetes-client), or any kubectl on the PATH"
    if environment.get("KUBECONFIG") or any(arg == "--kubeconfig" or arg.startswith("--kubeconfig=") for arg in args):
        return [kubectl, *args]
    kubeconfig = kubeconfig_of(config)
    if not kubeconfig.is_file():
        return f"no kubeconfig at {kubeconfig}: run `python -m kubeedge_cloud certs` first (it writes it), or set KUBECONFIG"
    return [kubectl, f"--kubeconfig={kubeconfig}", *args]


def run_ctl(config: Config, args: argparse.Namespace, err: TextIO = sys.stderr) -> int:
    """Run kubectl in the foreground (its output is the user's terminal); its exit code.
    ``args.kubectl_args``: what followed ``ctl`` (:func:`split_ctl_arguments`)."""
    command = kubectl_command(config, list(args.kubectl_args), dict(os.environ))
    if isinstance(command, str):
        print(f"ctl: {command}", file=err)
        return 2
    try:
        return subprocess.run(command, check=False).returncode
    except KeyboardInterrupt:
        return 130


__all__ = ["kubeconfig_of", "kubectl_command", "run_ctl", "split_ctl_arguments"]
