"""cloudhub: this project's own cloud (docs/protocol.md#9), the embedded default for development,
tests and single-site use. ``python -m kubeedge_actors cloud`` runs it.

Its own runtime of four modules, started in this order::

    controller ─── pods, configmaps, secrets, node and pod status   (SQLite: cloudhub.database)
    devicecontroller ─ devices and their twins
    cloudhub ───── the websocket server the edges connect to
    cloudapi ───── the HTTP control API that ``python -m kubeedge_actors ctl`` talks to
"""

from __future__ import annotations

from actors.cloudhub.api import ApiActor
from actors.cloudhub.controller import ControllerActor
from actors.cloudhub.devicecontroller import DeviceControllerActor
from actors.cloudhub.hub import CloudHubActor
from kubeedge_actors import Config, ModuleSpec, Runtime


def cloud_modules() -> list[ModuleSpec]:
    """The cloud hub's modules in start order."""
    return [ModuleSpec(ControllerActor), ModuleSpec(DeviceControllerActor), ModuleSpec(CloudHubActor), ModuleSpec(ApiActor)]


def cloud_runtime(config: Config) -> Runtime:
    """The cloud hub's runtime, not yet started (the edge's modules.enabled does not apply)."""
    runtime = Runtime(config.with_values({"modules.enabled": []}))
    for spec in cloud_modules():
        runtime.add_module(spec)
    return runtime


__all__ = ["ApiActor", "CloudHubActor", "ControllerActor", "DeviceControllerActor", "cloud_modules", "cloud_runtime"]
