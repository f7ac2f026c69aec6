"""Every configuration key: its file, type, default and meaning.

This table is the one source of the shipped ``conf/*.yaml`` files (see ``render.py``) and of
the loader's checks. Keys are the seed's dotted keys (docs/protocol.md#8.1); ours are marked "(ours)".
Keys that some version of the original reads but we do not use are listed in
:data:`UNUSED_KEYS` / :data:`UNUSED_PREFIXES` and accepted silently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

EDGE_FILE = "edge.yaml"
MODULES_FILE = "modules.yaml"
LOGGING_FILE = "logging.yaml"
CLOUD_FILE = "cloudhub.yaml"
SHIPPED_FILES = (EDGE_FILE, MODULES_FILE, LOGGING_FILE, CLOUD_FILE)

Check = Callable[[Any], str | None]

#: ``Key.absent`` of a key whose absence means its default.
AS_DEFAULT: Any = object()


@dataclass(frozen=True)
class Key:
    """One known key.

    Attributes:
        name: dotted name, e.g. ``edgehub.controller.heartbeat``.
        file: the shipped file it is written to.
        kind: ``str``, ``int``, ``float``, ``bool`` or ``list`` (of strings).
        default: the value written in the shipped file, and the value without any conf folder.
        doc: one line for the comment in the shipped file.
        check: extra validation; returns the reason a value is bad, or None.
        absent: the value when a conf folder's files leave the key out, where that differs
            from ``default``: what a file written for the original means without the key.
            The doc line says what it means.
    """

    name: str
    file: str
    kind: type
    default: Any
    doc: str
    check: Check | None = None
    absent: Any = AS_DEFAULT

    @property
    def value_when_absent(self) -> Any:
        """What the key is when a conf folder's files do not set it."""
        return self.default if self.absent is AS_DEFAULT else self.absent


def positive(value: Any) -> str | None:
    return None if value > 0 else "must be greater than 0"


def not_negative(value: Any) -> str | None:
    return None if value >= 0 else "must not be negative"


def one_of(*choices: Any) -> Check:
    def check(value: Any) -> str | None:
        return None if value in choices else f"must be one of {', '.join(map(str, choices))}"

    return check


def at_least_one(value: Any) -> str | None:
    return None if value >= 1 else "must be at least 1"


def percent(value: Any) -> str | None:
    return None if 0 <= value <= 100 else "must be a percentage from 0 to 100"


def port(value: Any) -> str | None:
    return None if 0 <= value <= 65535 else "must be a TCP port from 0 to 65535"


def url_with_scheme(*schemes: str) -> Check:
    def check(value: Any) -> str | None:
        return (
            None
            if value.split("://", 1)[0] in schemes and "://" in value
            else f"must be a URL starting with {' or '.join(s + '://' for s in schemes)}"
        )

    return check


LOG_LEVELS = ("DEBUG", "INFO", "WARN", "WARNING", "ERROR", "CRITICAL", "FATAL")

# One line per key reads as a table; keep the formatter and the line limit out of it.
# fmt: off
KEYS: tuple[Key, ...] = (
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
    # --- metrics (ours) -----------------------------------------------------------------------
    Key("metrics.enabled", EDGE_FILE, bool, False, "(ours) serve Prometheus metrics"),
    Key("metrics.address", EDGE_FILE, str, "127.0.0.1", "(ours) metrics listen address"),
    Key("metrics.port", EDGE_FILE, int, 9464, "(ours) metrics listen port", port),
    # --- modules.yaml (docs/protocol.md#1.5) --------------------------------------------------
    Key("modules.enabled", MODULES_FILE, list, ["eventbus", "websocket", "metaManager", "edged", "twin"], "modules to run, by wire name"),
    Key("modules.restart.retries", MODULES_FILE, int, 5, "(ours) restarts of a crashed module before it is given up; 0: no limit", not_negative),
    Key("modules.restart.interval", MODULES_FILE, float, 1.0, "(ours) seconds before the first restart", positive),
    Key("modules.restart.grow-rate", MODULES_FILE, float, 2.0, "(ours) factor applied to the wait after each restart", at_least_one),
    Key("modules.restart.max-interval", MODULES_FILE, float, 30.0, "(ours) cap in seconds of the wait between restarts", positive),
    Key("modules.restart.reset-after", MODULES_FILE, float, 60.0, "(ours) seconds of running that forget earlier crashes", positive),
    Key("modules.stop-timeout", MODULES_FILE, float, 10.0, "(ours) seconds each module gets to stop", positive),
    # --- logging.yaml (docs/protocol.md#8.2) --------------------------------------------------
    Key("loggerLevel", LOGGING_FILE, str, "INFO", "DEBUG, INFO, WARN, ERROR or FATAL", one_of(*LOG_LEVELS)),
    Key("enableRsyslog", LOGGING_FILE, bool, False, "also log to the local syslog socket"),
    Key("logFormatText", LOGGING_FILE, bool, True, "plain text lines; false: one JSON object per line"),
    Key("writers", LOGGING_FILE, list, ["stdout"], "where logs go: stdout and/or file"),
    Key("loggerFile", LOGGING_FILE, str, "edge.log", "log file of the file writer"),
    # --- cloudhub.yaml: this project's cloud hub (docs/protocol.md#9.2) -----------------------
    Key("cloudhub.address", CLOUD_FILE, str, "127.0.0.1", "websocket listen address (0.0.0.0 for every interface)"),
    Key("cloudhub.port", CLOUD_FILE, int, 10000, "websocket listen port", port),
    Key("cloudhub.ca", CLOUD_FILE, str, "certs/ca.crt", "CA of the edge certificates"),
    Key("cloudhub.cert", CLOUD_FILE, str, "certs/cloudhub.crt", "server certificate; empty with cloudhub.key: no TLS, edges dial ws:// (for development)"),
    Key("cloudhub.key", CLOUD_FILE, str, "certs/cloudhub.key", "server key; empty with cloudhub.cert: no TLS"),
    Key("cloudhub.keepalive-interval", CLOUD_FILE, float, 30.0, "seconds of silence after which an edge is dropped", positive),
    Key("cloudhub.write-timeout", CLOUD_FILE, float, 30.0, "seconds a write to an edge may take", positive),
    Key("cloudhub.node-limit", CLOUD_FILE, int, 1000, "edges connected at once; more get HTTP 429", positive),
    Key("cloudhub.api-address", CLOUD_FILE, str, "127.0.0.1", "(ours) control API listen address"),
    Key("cloudhub.api-port", CLOUD_FILE, int, 10080, "(ours) control API listen port", port),
    Key("cloudhub.database", CLOUD_FILE, str, "cloud.db", "(ours) SQLite file of the cloud hub's state"),
)
# fmt: on

#: Keys some version of the original reads and we do not use (docs/protocol.md#8): accepted silently.
UNUSED_KEYS: frozenset[str] = frozenset(
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
        "cloudhub.protocol_websocket",
        "cloudhub.protocol_quic",
        "cloudhub.quic_port",
        "cloudhub.max_incomingstreams",
        "controller.kube.master",
        "controller.kube.namespace",
        "controller.kube.content_type",
        "controller.kube.qps",
        "controller.kube.burst",
        "controller.kube.node_update_frequency",
        "controller.kube.kubeconfig",
    }
)
#: Whole sections of the original we do not use.
UNUSED_PREFIXES: tuple[str, ...] = ("edgehub.quic.", "mesh.", "systeminfo.", "controller.", "devicecontroller.")

KEYS_BY_NAME: dict[str, Key] = {key.name: key for key in KEYS}
