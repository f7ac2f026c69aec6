"""kubeedge_cloud: this project's own cloud side (docs/protocol.md#9), the embedded default for
development, tests and single-site use; ``python -m kubeedge_cloud`` runs it. It is a program
of its own, on the same runtime as the edge: it speaks the edge's protocol
(:mod:`actors.protocol`) and loads no module of the edge.

Its own runtime of six modules, started in this order::

    controller ─── pods, configmaps, secrets, node and pod status   (SQLite: cloudhub.database)
    devicecontroller ─ devices and their twins
    cloudstreams ─ log and exec streams of edge pods
    cloudhub ───── the websocket server the edges connect to
    cloudapi ───── the control API for programs (``apiclient.py``), off by default
    kubeapi ────── the Kubernetes API server kubectl talks to (kube/; needs TLS)
"""

from __future__ import annotations

from kubeedge_actors import Config, ModuleSpec, Runtime
from kubeedge_cloud.api import ApiActor
from kubeedge_cloud.controller import ControllerActor
from kubeedge_cloud.devicecontroller import DeviceControllerActor
from kubeedge_cloud.hub import CloudHubActor
from kubeedge_cloud.kube.actor import KubeApiActor
from kubeedge_cloud.streams import StreamsActor


def cloud_modules() -> dict[str, ModuleSpec]:
    """The cloud side's modules by wire name, in start order."""
    specs = [
        ModuleSpec(ControllerActor),
        ModuleSpec(DeviceControllerActor),
        ModuleSpec(StreamsActor),
        ModuleSpec(CloudHubActor),
        ModuleSpec(ApiActor),
        ModuleSpec(KubeApiActor),
    ]
    return {spec.module_name: spec for spec in specs}


def cloud_runtime(config: Config) -> Runtime:
    """The cloud side's runtime (``config`` of :data:`~kubeedge_cloud.keys.CLOUD_KEYS`), not yet started."""
    return Runtime(config, cloud_modules())


__all__ = ["ApiActor", "CloudHubActor", "ControllerActor", "DeviceControllerActor", "StreamsActor", "cloud_modules", "cloud_runtime"]
