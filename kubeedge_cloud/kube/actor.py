"""The module ``kubeapi``: the embedded Kubernetes API server inside the cloud side's runtime,
bridged to the controller (docs/architecture.md#1.5). Opt-in for now: add ``kubeapi`` to
``modules.enabled`` in conf/cloudhub.yaml."""

from __future__ import annotations

import logging

from kubeedge_actors import Config, ModuleActor, Router
from kubeedge_cloud.keys import CLOUD_KEYS
from kubeedge_cloud.kube.bridge import KubeBridge
from kubeedge_cloud.kube.server import KubeApiServer, KubeServerSettings
from kubeedge_cloud.streams import stream_desk

logger = logging.getLogger(__name__)

KUBE_MODULE = "kubeapi"


class KubeApiActor(ModuleActor):
    """Owns the API server and its bridge; both run on threads of their own.

    Consumes:
        nothing: HTTPS requests arrive on the server's threads; the bridge's thread reads the
        API server's changes.
    Produces:
        sync ``apply``/``delete``/``list`` (group ``api``) to module ``controller``, from the
        bridge's thread (kubeedge_cloud/kube/bridge.py).
    """

    module_name = KUBE_MODULE
    module_group = KUBE_MODULE
    module_config_keys = CLOUD_KEYS

    def __init__(self, router: Router, config: Config | None = None, *, name: str | None = None, group: str | None = None) -> None:
        super().__init__(router, config, name=name, group=group)
        self.settings = KubeServerSettings.from_config(self.module_config)
        self.status_interval_s = self.module_config.number("kube.status-interval")
        self.server = KubeApiServer(self.settings, open_stream=stream_desk(router).open)
        self.bridge: KubeBridge | None = None

    def on_start(self) -> None:
        self.server.start()
        assert self.server.api is not None
        self.bridge = KubeBridge(self.server.api, self.module_router, self.status_interval_s)
        self.bridge.start()
        logger.info("kubeapi: Kubernetes API server on %s", self.server.url)

    def on_stop(self) -> None:
        if self.bridge is not None:
            self.bridge.stop()
        self.server.stop()
        super().on_stop()


__all__ = ["KUBE_MODULE", "KubeApiActor"]
