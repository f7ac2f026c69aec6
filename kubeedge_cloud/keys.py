"""The cloud side's configuration keys (``conf/cloudhub.yaml``).

The cloud side reads its own file only: it shares the edge's ``conf/`` folder in a
single-machine set-up, and neither program reads the other's keys. The runtime's keys
(restarts, metrics, logging) are in the same file, so the file says everything the cloud does.
"""

from __future__ import annotations

from dataclasses import replace

from kubeedge_actors.config import RUNTIME_KEYS, Config, Key, KeyTable
from kubeedge_actors.config.keys import port, positive

CLOUD_FILE = "cloudhub.yaml"
#: Wire names of the modules the cloud side runs by default; ``kubeapi`` (kubectl's way in)
#: needs TLS: a plain ``ws://`` cloud hub leaves it out of ``modules.enabled``. ``cloudapi``
#: (the control API for programs, ``apiclient.py``) is there to be added.
CLOUD_MODULES = ["controller", "devicecontroller", "cloudstreams", "cloudhub", "kubeapi"]

# One line per key reads as a table; keep the formatter and the line limit out of it.
# fmt: off
_CLOUD_KEYS: tuple[Key, ...] = (
    Key("cloudhub.address", CLOUD_FILE, str, "127.0.0.1", "websocket listen address (0.0.0.0 for every interface)"),
    Key("cloudhub.port", CLOUD_FILE, int, 10000, "websocket listen port", port),
    Key("cloudhub.ca", CLOUD_FILE, str, "certs/ca.crt", "CA of the edge certificates"),
    Key("cloudhub.cert", CLOUD_FILE, str, "certs/cloudhub.crt", "server certificate; empty with cloudhub.key: no TLS, edges dial ws:// (for development)"),
    Key("cloudhub.key", CLOUD_FILE, str, "certs/cloudhub.key", "server key; empty with cloudhub.cert: no TLS"),
    Key("cloudhub.keepalive-interval", CLOUD_FILE, float, 30.0, "seconds of silence after which an edge is dropped", positive),
    Key("cloudhub.write-timeout", CLOUD_FILE, float, 30.0, "seconds a write to an edge may take", positive),
    Key("cloudhub.node-limit", CLOUD_FILE, int, 1000, "edges connected at once; more get HTTP 429", positive),
    Key("cloudhub.api-address", CLOUD_FILE, str, "127.0.0.1", "(ours) control API listen address (module cloudapi, off by default; TLS and tokens as kube)"),
    Key("cloudhub.api-port", CLOUD_FILE, int, 10080, "(ours) control API listen port", port),
    Key("cloudhub.database", CLOUD_FILE, str, "cloud.db", "(ours) SQLite file of the cloud hub's state"),
    Key("kube.address", CLOUD_FILE, str, "127.0.0.1", "(ours) embedded Kubernetes API server's listen address (TLS files: cloudhub.ca/cert/key)"),
    Key("kube.port", CLOUD_FILE, int, 6443, "(ours) embedded Kubernetes API server's port; certs writes certs/kubeconfig for it", port),
    Key("kube.database", CLOUD_FILE, str, "cloud.db", "(ours) SQLite file of the Kubernetes objects (tables kube_*)"),
    Key("kube.token-file", CLOUD_FILE, str, "", "(ours) static bearer tokens, token,user,uid[,groups] a line; empty: client certificates only"),
    Key("kube.kubeconfig", CLOUD_FILE, str, "", "(ours) kubeconfig of the Kubernetes API server kubeapi's controller uses; empty: the embedded one, started here"),
)
# fmt: on

#: The runtime's keys, written in the cloud's one file, with the cloud's defaults.
_RUNTIME_IN_CLOUD_FILE = KeyTable(
    keys=tuple(replace(key, file=CLOUD_FILE) for key in RUNTIME_KEYS.keys),
    files={CLOUD_FILE: ""},
)

CLOUD_KEYS: KeyTable = _RUNTIME_IN_CLOUD_FILE.extended(
    _CLOUD_KEYS,
    files={CLOUD_FILE: "This project's cloud side (python -m kubeedge_cloud); the edge never reads this file."},
    defaults={"modules.enabled": CLOUD_MODULES, "loggerFile": "cloud.log", "metrics.port": 9465},
    only_own_files=True,
)


def cloud_defaults() -> Config:
    """Every cloud key at its shipped default (no conf folder)."""
    return Config.defaults(CLOUD_KEYS)


__all__ = ["CLOUD_FILE", "CLOUD_KEYS", "CLOUD_MODULES", "cloud_defaults"]
