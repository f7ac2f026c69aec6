"""The edge's configuration keys: every key the edge reads, with its file, type, default and meaning.

The runtime's own keys (modules, restarts, metrics, logging) come from
:data:`kubeedge_actors.config.RUNTIME_KEYS`; this table adds the modules' keys in the seed's
key format (docs/protocol.md#8.1). It is the one source of the shipped ``conf/edge.yaml``,
``conf/modules.yaml`` and ``conf/logging.yaml``; a test keeps them equal. Keys that some
version of the original reads but we do not use are accepted silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubeedge_actors.config import Config
from kubeedge_actors.config.keys import (
    RUNTIME_KEYS,
    Key,
    KeyTable,
    not_negative,
    one_of,
    percent,
    port,
    positive,
    url_with_scheme,
)

EDGE_FILE = "edge.yaml"
#: The cloud side's file, when it shares the edge's conf/ folder: the edge never reads it.
CLOUD_FILE = "cloudhub.yaml"
#: The wire names of the edge's modules (docs/protocol.md#1.5), all enabled by default.
EDGE_MODULES = ["eventbus", "websocket", "metaManager", "edged", "twin"]


def node_names_agree(values: Mapping[str, Any], sources: Mapping[str, str]) -> list[str]:
    """The original names the node in node status by ``edged.hostname-override`` and everywhere
    else by ``edgehub.controller.node-id``; we do the same, and say when they differ, because a
    KubeEdge cloud then updates another Node than the one it sends pods to (docs/protocol.md#9.4)."""
    node_id, hostname = values["edgehub.controller.node-id"], values["edged.hostname-override"]
    if node_id == hostname:
        return []
    where = sources.get("edged.hostname-override") or sources.get("edgehub.controller.node-id") or "<defaults>"
    return [
        f"{where}: edged.hostname-override {hostname!r} is not edgehub.controller.node-id {node_id!r}: node status is reported"
        f" for node {hostname!r}, the cloud link and pods are node {node_id!r}; a KubeEdge cloud wants both to be the"
        " Kubernetes node name"
    ]


#: Keys some version of the original reads and we do not use (docs/protocol.md#8): accepted silently.
_UNUSED_KEYS: frozenset[str] = frozenset(
    {
        "edgehub.controller.protocol",
        "edgehub.controller.placement",
        "edgehub.controller.placement-url",
        "edgehub.controller.cloudhub-url",
        "edgehub.controller.refresh-ak-sk-interval",
        "edgehub.controller.auth-info-files-path",
        "edged.device-plugin-enabled",
        "edged.gpu-plugin-enabled",
        "edged.runtime-type",
        "edged.remote-runtime-endpoint",
        "edged.remote-image-endpoint",
        "edged.runtime-request-timeout",
        "edged.podsandbox-image",
        "edged.edged-memory-capacity-bytes",
        "edged.cgroup-driver",
        "edged.image-pull-progress-deadline",
        "edged.node-ip",
        "edged.cluster-dns",
        "edged.cluster-domain",
        "context-receive-module",
        "context-send-module",
        "context-send-group",
        "database.driver",
        "database.name",
        "metamanager.context-send-group",
        "metamanager.context-send-module",
        "controller.kube.master",
        "controller.kube.namespace",
        "controller.kube.content_type",
        "controller.kube.qps",
        "controller.kube.burst",
        "controller.kube.node_update_frequency",
        "controller.kube.kubeconfig",
    }
)
#: Whole sections of the original we do not use (``cloudhub.``, ``controller.``: its cloud's).
_UNUSED_PREFIXES: tuple[str, ...] = ("edgehub.quic.", "mesh.", "systeminfo.", "controller.", "devicecontroller.", "cloudhub.")


# One line per key reads as a table; keep the formatter and the line limit out of it.
# fmt: off
_EDGE_KEYS: tuple[Key, ...] = (
    # --- mqtt (docs/protocol.md#4.1, docs/protocol.md#8.1) ------------------------------------
    Key("mqtt.server", EDGE_FILE, str, "tcp://127.0.0.1:1883", "external MQTT broker (modes 1 and 2)", url_with_scheme("tcp", "ssl", "mqtt", "mqtts")),
    Key("mqtt.internal-server", EDGE_FILE, str, "tcp://127.0.0.1:1884", "listen address of the embedded broker (modes 0 and 1)", url_with_scheme("tcp", "mqtt")),
    Key("mqtt.mode", EDGE_FILE, int, 0, "0: embedded broker only, 1: embedded and external, 2: external only", one_of(0, 1, 2)),
    Key("mqtt.qos", EDGE_FILE, int, 0, "QoS of publishes on the embedded broker", one_of(0, 1, 2)),
    Key("mqtt.retain", EDGE_FILE, bool, False, "retain flag of publishes on the embedded broker"),
    Key("mqtt.session-queue-size", EDGE_FILE, int, 100, "embedded broker: queued messages per session", positive),
    Key("mqtt.max-packet-size", EDGE_FILE, int, 1048576, "(ours) embedded broker: bytes of the largest packet a client may send; a larger one ends its connection", positive),
    Key("mqtt.inbound-queue-size", EDGE_FILE, int, 10000, "(ours) MQTT messages waiting for the bus actor; more are dropped and counted", positive),
    Key("mqtt.reconnect-max-interval", EDGE_FILE, float, 30.0, "(ours) cap in seconds of the back-off between broker reconnects", positive),
    # --- edgehub (docs/protocol.md#3, docs/protocol.md#8.1) -----------------------------------
    Key("edgehub.websocket.url", EDGE_FILE, str, "wss://127.0.0.1:10000/default/edge-node/events", "cloud hub: wss://host:port/<project-id>/<node-id>/events (ws:// for development)", url_with_scheme("ws", "wss")),
    Key("edgehub.websocket.certfile", EDGE_FILE, str, "certs/edge.crt", "client certificate presented to the cloud"),
    Key("edgehub.websocket.keyfile", EDGE_FILE, str, "certs/edge.key", "key of the client certificate"),
    # The original never verifies the cloud (docs/protocol.md#3.2): its files, which have no such key, keep meaning that.
    Key("edgehub.websocket.cafile", EDGE_FILE, str, "certs/ca.crt", "(ours) CA the cloud's certificate is verified against; empty, or absent as in the original's files: not verified (a warning says so)", absent=""),
    Key("edgehub.websocket.handshake-timeout", EDGE_FILE, float, 30.0, "seconds for the TLS and websocket handshake", positive),
    Key("edgehub.websocket.write-deadline", EDGE_FILE, float, 15.0, "seconds a write to the cloud may take", positive),
    Key("edgehub.websocket.read-deadline", EDGE_FILE, float, 15.0, "read by the original but never applied; kept for compatibility", positive),
    Key("edgehub.controller.heartbeat", EDGE_FILE, float, 15.0, "seconds between keepalives to the cloud", positive),
    Key("edgehub.controller.project-id", EDGE_FILE, str, "default", "project id, sent as the project_id handshake header"),
    Key("edgehub.controller.node-id", EDGE_FILE, str, "edge-node", "this node's id: must equal the Kubernetes node name and edged.hostname-override"),
    Key("edgehub.reconnect.initial-interval", EDGE_FILE, float, 1.0, "(ours) first wait in seconds before redialling the cloud", positive),
    Key("edgehub.reconnect.max-interval", EDGE_FILE, float, 30.0, "(ours) cap in seconds of the redial back-off (jittered)", positive),
    Key("edgehub.outbox-size", EDGE_FILE, int, 10000, "(ours) messages for the cloud kept while it is away; overflow is counted and logged", positive),
    # --- edged (docs/protocol.md#7, docs/protocol.md#8.1) -------------------------------------
    Key("edged.register-node-namespace", EDGE_FILE, str, "default", "namespace of node status, pod list and pull-secret lookups"),
    Key("edged.hostname-override", EDGE_FILE, str, "edge-node", "node name in node status: must equal edgehub.controller.node-id"),
    Key("edged.interface-name", EDGE_FILE, str, "eth0", "network interface whose IPv4 address is the host and pod IP"),
    Key("edged.node-status-update-frequency", EDGE_FILE, float, 10.0, "seconds between node status reports", positive),
    Key("edged.image-gc-high-threshold", EDGE_FILE, int, 80, "disk usage percent that starts image garbage collection", percent),
    Key("edged.image-gc-low-threshold", EDGE_FILE, int, 40, "disk usage percent image garbage collection frees down to", percent),
    Key("edged.maximum-dead-containers-per-container", EDGE_FILE, int, 1, "exited containers kept per pod container", not_negative),
    Key("edged.version", EDGE_FILE, str, "v1.10.9-kubeedge-v1.0.0", "kubeletVersion reported in node status"),
    Key("edged.docker-address", EDGE_FILE, str, "unix:///var/run/docker.sock", "Docker Engine endpoint"),
    Key(
        "edged.root-directory",
        EDGE_FILE,
        str,
        "edged",
        "(ours) pod folders (volumes, configmap and secret files) live under <this>/pods; relative: beside conf/ (the original: /var/lib/edged)",
    ),
    Key("edged.server-port", EDGE_FILE, int, 10255, "(ours) read-only HTTP endpoint GET /pods on 127.0.0.1; 0 turns it off", port),
    # --- database and meta (docs/protocol.md#6) -----------------------------------------------
    Key("database.source", EDGE_FILE, str, "edge.db", "SQLite file shared by meta and twin"),
    Key("database.journal-mode", EDGE_FILE, str, "wal", "(ours) wal, or delete: programs that force journal_mode=DELETE (the original's driver) can read the file while the edge runs; commits cost ~10x more", one_of("wal", "delete")),
    Key("meta.sync.podstatus.interval", EDGE_FILE, float, 60.0, "seconds between pod status resyncs to the cloud", positive),
    Key("metamanager.edgesite", EDGE_FILE, bool, False, "start as if the cloud were connected (edge site mode)"),
    # --- mapper (ours; docs/protocol.md#11.3): runs when modules.enabled names "mapper" ------------
    Key("mapper.profile", EDGE_FILE, str, "", "(ours) deviceProfile.json to serve (re-read when it changes); empty: the cloud's configmap device-profile-config-<node-id>, asked of meta"),
    Key("mapper.profile-namespace", EDGE_FILE, str, "default", "(ours) namespace of that configmap"),
    Key("mapper.profile-interval", EDGE_FILE, float, 2.0, "(ours) seconds between looks at the profile for changes", positive),
    Key("mapper.poll-interval", EDGE_FILE, float, 2.0, "(ours) seconds between reads of a property whose visitor has no collectCycle (ms); v1.0 polled every 2 s", positive),
    Key("mapper.timeout", EDGE_FILE, float, 1.0, "(ours) seconds one device read or write may take", positive),
    Key("mapper.retry-max-interval", EDGE_FILE, float, 30.0, "(ours) cap in seconds of the back-off of a device that does not answer", positive),
    Key("mapper.mqtt-server", EDGE_FILE, str, "", "(ours) broker the mapper is a client of; empty: the edge's (mqtt.internal-server, or mqtt.server in mode 2)"),
)
# fmt: on

EDGE_KEYS: KeyTable = RUNTIME_KEYS.extended(
    _EDGE_KEYS,
    files={EDGE_FILE: "Edge core settings, in the key format of KubeEdge's edge.yaml (every default written out)."},
    defaults={"modules.enabled": EDGE_MODULES},
    unused_keys=_UNUSED_KEYS,
    unused_prefixes=_UNUSED_PREFIXES,
    foreign_files=[CLOUD_FILE],
    checks=[node_names_agree],
)


def edge_defaults() -> Config:
    """Every edge key at its shipped default (no conf folder)."""
    return Config.defaults(EDGE_KEYS)


__all__ = ["CLOUD_FILE", "EDGE_FILE", "EDGE_KEYS", "EDGE_MODULES", "edge_defaults", "node_names_agree"]
