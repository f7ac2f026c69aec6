"""``python -m kubeedge_cloud apiserver``: the embedded Kubernetes API server on its own, until
SIGINT or SIGTERM (``kube.*`` keys; ``certs`` writes the kubeconfig kubectl uses)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from kubeedge_actors.config import Config
from kubeedge_cloud.kube.errors import KubeApiServerError
from kubeedge_cloud.kube.server import KubeApiServer, KubeServerSettings


def run_apiserver(config: Config, args: argparse.Namespace) -> int:
    """Serve until signalled; exit code 2 when the server cannot start."""
    try:
        server = KubeApiServer(KubeServerSettings.from_config(config))
        server.start()
    except KubeApiServerError as exc:
        print(f"kubeedge-cloud apiserver: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    print(f"kubeedge-cloud apiserver: serving {server.url} (KUBECONFIG={config.base_dir / 'certs' / 'kubeconfig'})", flush=True)
    stop.wait()
    server.stop()
    return 0


__all__ = ["run_apiserver"]
