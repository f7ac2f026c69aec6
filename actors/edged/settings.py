"""What edged reads from the configuration, once, and every duration it waits."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kubeedge_actors.config import Config


@dataclass(frozen=True)
class EdgedSettings:
    """The ``edged.*`` keys (and the node id), typed, read once at construction."""

    node_id: str  # edgehub.controller.node-id: names pods, containers (their label) and the URL
    node_name: str  # edged.hostname-override: names the node in node status
    node_namespace: str
    root_directory: Path
    docker_address: str
    interface_name: str
    server_port: int  # 0: no GET /pods
    node_status_interval_s: float
    max_dead_containers: int
    image_gc_high_percent: int
    image_gc_low_percent: int
    kubelet_version: str

    @classmethod
    def from_config(cls, config: Config) -> EdgedSettings:
        return cls(
            node_id=config["edgehub.controller.node-id"],
            node_name=config["edged.hostname-override"],
            node_namespace=config["edged.register-node-namespace"],
            root_directory=config.path("edged.root-directory"),
            docker_address=config["edged.docker-address"],
            interface_name=config["edged.interface-name"],
            server_port=config["edged.server-port"],
            node_status_interval_s=config["edged.node-status-update-frequency"],
            max_dead_containers=config["edged.maximum-dead-containers-per-container"],
            image_gc_high_percent=config["edged.image-gc-high-threshold"],
            image_gc_low_percent=config["edged.image-gc-low-threshold"],
            kubelet_version=config["edged.version"],
        )


@dataclass(frozen=True)
class EdgedTimings:
    """Every duration edged waits; the defaults are the kubelet's, tests shorten them."""

    restart_backoff_initial_s: float = 10.0
    restart_backoff_max_s: float = 300.0
    restart_backoff_reset_s: float = 600.0
    poll_interval_s: float = 10.0  # the safety net under Docker's events
    container_gc_interval_s: float = 60.0
    container_gc_min_age_s: float = 60.0
    image_gc_interval_s: float = 30.0
    image_gc_min_age_s: float = 60.0
    events_reconnect_initial_s: float = 0.5
    events_reconnect_max_s: float = 30.0
    pod_query_retry_initial_s: float = 1.0
    pod_query_retry_max_s: float = 30.0
    meta_timeout_s: float = 60.0
    pull_backoff_flip_s: float = 2.0  # ErrImagePull shows this long before ImagePullBackOff


__all__ = ["EdgedSettings", "EdgedTimings"]
