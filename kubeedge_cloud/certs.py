"""``python -m kubeedge_cloud certs``: a CA, the cloud hub's server certificate and an edge
client certificate, written where the shipped conf expects them::

    certs/ca.crt  ca.key           the CA (kept: later runs issue more certificates from it)
    certs/cloudhub.crt  .key       RSA server certificate for 127.0.0.1, localhost (+ --host)
    certs/edge.crt  edge.key       client certificate, CN = the node id: the cloud hub admits it
                                   as that node only (reissued when --node-id changes)
    certs/admin.crt admin.key      kubectl's client certificate (CN admin, O system:masters)
    certs/kubeconfig               for kubectl: the embedded API server (kube.port), the CA, admin

Existing files are kept unless ``--force`` (an edge certificate for another node is replaced);
keys are written readable by their owner only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from kubeedge_actors.config import Config
from kubeedge_cloud.errors import CertificateError

#: The node id of the edge's shipped conf (edgehub.controller.node-id).
DEFAULT_NODE_ID = "edge-node"


def add_certs_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", type=Path, help="where to write (default: certs/ beside conf/)")
    parser.add_argument(
        "--node-id", default=DEFAULT_NODE_ID, help=f"the edge's node id, CN of its certificate (default: {DEFAULT_NODE_ID})"
    )
    parser.add_argument("--host", action="append", default=[], help="another DNS name or IP of the cloud hub (repeatable)")
    parser.add_argument("--force", action="store_true", help="replace existing server and edge certificates")


def run_certs(config: Config, args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    folder = args.dir if args.dir is not None else config.base_dir / "certs"
    node_id = args.node_id
    # cryptography costs every process that imports it ~8 MiB: only this command loads it.
    from kubeedge_cloud.pki import write_certificates, write_kubeconfig  # noqa: PLC0415 - see above

    host = config.text("kube.address")
    server_url = f"https://{'127.0.0.1' if host in ('', '0.0.0.0', '::') else host}:{config.integer('kube.port')}"
    try:
        for line in write_certificates(folder, node_id, args.host, force=args.force):
            print(line, file=out)
        for line in write_kubeconfig(folder, server_url, force=args.force):
            print(line, file=out)
    except CertificateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


__all__ = ["add_certs_arguments", "run_certs"]
