"""Tier 3: meta and twin restarted by the runtime after a crash while the hub stays connected
to a real cloud hub (TLS) know at once that the cloud is there.

Before, a restarted module believed the cloud disconnected until the next reconnect: meta
answered configmap queries from SQLite only, the twin kept its messages for the cloud waiting.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actors import builtin_modules
from actors.protocol import Group, Module
from actors.testing import edged_message
from kubeedge_actors import Runtime
from kubeedge_actors.actor import _Deliver
from kubeedge_actors.testing import Probe, start_probe, wait_until
from tests.cloud.running import RunningCloudHub, edge_config
from tests.services import TlsFiles
from tests.twin.helpers import bus_message

DEVICE = """\
apiVersion: devices.kubeedge.io/v1alpha1
kind: Device
metadata: {{name: lamp}}
spec:
  nodeSelector: {{nodeSelectorTerms: [{{matchExpressions: [{{key: '', operator: In, values: [{node}]}}]}}]}}
status:
  twins:
  - propertyName: power
    desired: {{metadata: {{type: string}}, value: 'on'}}
"""
CONFIGMAP = "kind: ConfigMap\napiVersion: v1\nmetadata: {name: cfg}\ndata: {mode: edge}\n"


@pytest.fixture
def edge(cloud: RunningCloudHub, tls_files: TlsFiles, tmp_path: Path) -> Iterator[tuple[str, Runtime, Probe]]:
    node = f"restart-{uuid.uuid4().hex[:8]}"
    values = {
        "database.source": str(tmp_path / "edge.db"),
        "modules.enabled": ["metaManager", "twin", "websocket"],
        "modules.restart.interval": 0.1,
    }
    runtime = Runtime(edge_config(cloud, tls_files, node, **values), builtin_modules())
    bus = start_probe(runtime.router, Module.BUS, Group.BUS)  # in place of MQTT
    runtime.start()
    wait_until(lambda: node in cloud.actor("cloudhub").connected_nodes().get(), 10, what="the edge connected")
    yield node, runtime, bus
    runtime.stop()
    runtime.router.close()


def crash_and_wait_for_restart(runtime: Runtime, module: str) -> None:
    def boom() -> None:
        raise RuntimeError(f"{module} crashes on purpose")

    ref = runtime.actor_ref(module)
    assert ref is not None
    ref.tell(_Deliver(boom))
    wait_until(lambda: runtime.restart_count(module) == 1 and runtime.router.is_alive(module), 10, what=f"{module} restarted")


def apply(cloud: RunningCloudHub, tmp_path: Path, text: str) -> None:
    manifest = tmp_path / f"{uuid.uuid4().hex}.yaml"
    manifest.write_text(text)
    code, _, err = cloud.ctl("apply", "-f", str(manifest))
    assert code == 0, err


@pytest.mark.crashes_on_purpose
def test_a_restarted_meta_asks_the_cloud_for_a_configmap_it_does_not_have(
    cloud: RunningCloudHub, edge: tuple[str, Runtime, Probe], tmp_path: Path
) -> None:
    _, runtime, _ = edge
    apply(cloud, tmp_path, CONFIGMAP)

    crash_and_wait_for_restart(runtime, Module.META)

    reply = runtime.router.send_sync(Module.META, edged_message("query", "default/configmap/cfg"), 20).result(25)
    [stored] = reply.content
    assert '"mode":"edge"' in stored


@pytest.mark.crashes_on_purpose
def test_a_restarted_twin_sends_a_device_change_to_the_cloud_at_once(
    cloud: RunningCloudHub, edge: tuple[str, Runtime, Probe], tmp_path: Path
) -> None:
    node, runtime, bus = edge
    apply(cloud, tmp_path, DEVICE.format(node=node))
    bus.wait_for(lambda m: m.resource == f"$hw/events/node/{node}/membership/updated", timeout_s=10)

    crash_and_wait_for_restart(runtime, Module.TWIN)
    update = {"event_id": "e", "twin": {"power": {"actual": {"value": "off"}, "metadata": {"type": "string"}}}}
    runtime.router.send_to_group(Group.TWIN, bus_message("$hw/events/device/lamp/twin/update", update))

    wait_until(lambda: reported_power(cloud) == "off", 10, what="the change reported in the cloud")


def reported_power(cloud: RunningCloudHub) -> Any:
    status, answer = cloud.api.call("GET", "devices")
    assert status == 200
    [device] = answer["items"]
    return device["twins"][0]["reported"]
