"""Tier 3: meta and twin restarted by the runtime after a crash while the hub stays connected
to a real cloud hub (TLS) know at once that the cloud is there; and a twin restarted while the
uplink flaps loses no report.

Before, a restarted module believed the cloud disconnected until the next reconnect: meta
answered configmap queries from SQLite only, the twin kept its messages for the cloud waiting.
Now both read the hub's word on the connection (docs/architecture.md#4.1).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from actors import builtin_modules
from actors.protocol import Group, Module
from actors.testing import edged_message
from kubeedge_actors import Runtime
from kubeedge_actors.actor import _Deliver
from kubeedge_actors.message import Message
from kubeedge_actors.testing import Probe, start_probe, wait_until
from tests.cloud.running import RunningCloudHub, edge_config
from tests.integration.fault_tools import CloudInbox, Uplink
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
    with running_edge(cloud, tls_files, tmp_path, node) as (runtime, bus):
        yield node, runtime, bus


@contextmanager
def running_edge(cloud: RunningCloudHub, tls_files: TlsFiles, tmp_path: Path, node: str, **values: Any) -> Iterator[tuple[Runtime, Probe]]:
    values = {
        "database.source": str(tmp_path / "edge.db"),
        "modules.enabled": ["metaManager", "twin", "websocket"],
        "modules.restart.interval": 0.1,
        **values,
    }
    runtime = Runtime(edge_config(cloud, tls_files, node, **values), builtin_modules())
    bus = start_probe(runtime.router, Module.BUS, Group.BUS)  # in place of MQTT
    runtime.start()
    wait_until(lambda: node in cloud.actor("cloudhub").connected_nodes().get(), 10, what="the edge connected")
    try:
        yield runtime, bus
    finally:
        runtime.stop()
        runtime.router.close()


def crash_and_wait_for_restart(runtime: Runtime, module: str, restarts: int = 1) -> None:
    def boom() -> None:
        raise RuntimeError(f"{module} crashes on purpose")

    ref = runtime.actor_ref(module)
    assert ref is not None
    ref.tell(_Deliver(boom))
    wait_until(lambda: runtime.restart_count(module) == restarts and runtime.router.is_alive(module), 10, what=f"{module} restarted")


def apply(cloud: RunningCloudHub, tmp_path: Path, text: str) -> None:
    manifest = tmp_path / f"{uuid.uuid4().hex}.yaml"
    manifest.write_text(text)
    code, _, err = cloud.control("apply", "-f", str(manifest))
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


@pytest.mark.crashes_on_purpose
def test_a_twin_restarted_while_the_uplink_flaps_gets_every_report_to_the_cloud_in_order(
    cloud: RunningCloudHub, tls_files: TlsFiles, tmp_path: Path
) -> None:
    node = f"flaps-{uuid.uuid4().hex[:8]}"
    uplink = Uplink(lambda: cloud.port)
    inbox = CloudInbox()
    inbox.attach(cloud)
    url = f"wss://127.0.0.1:{uplink.port}/project-1/{node}/events"
    sent = [f"v{n:02d}" for n in range(12)]
    try:
        with running_edge(cloud, tls_files, tmp_path, node, **{"edgehub.websocket.url": url, "modules.restart.retries": 0}) as (
            runtime,
            bus,
        ):
            apply(cloud, tmp_path, DEVICE.format(node=node))
            bus.wait_for(lambda m: m.resource == f"$hw/events/node/{node}/membership/updated", timeout_s=10)
            report_power(runtime, bus, "warm")  # the cloud confirms it: from then on reports are kept until confirmed
            wait_until(lambda: twin_keeps_reports_until_confirmed(runtime), 10, what="the twin seeing the cloud confirm a report")

            for value, crash in zip(sent, itertools.cycle([True, False, False]), strict=False):
                report_power(runtime, bus, value)
                uplink.drop()
                if crash:
                    crash_and_wait_for_restart(runtime, Module.TWIN, restarts=sent.index(value) // 3 + 1)

            def first_arrivals() -> list[str]:
                return list(dict.fromkeys(reported(m) for m in inbox.matching(is_power_report) if reported(m) != "warm"))

            wait_until(lambda: len(first_arrivals()) == len(sent), 30, what="every report at the cloud")
            assert first_arrivals() == sent
            assert reported_power(cloud) == sent[-1]
    finally:
        uplink.close()


def twin_keeps_reports_until_confirmed(runtime: Runtime) -> bool:
    # Until a cloud has confirmed a report, a report written into a link that breaks is lost with
    # it: the original cloud never confirms, so the twin cannot wait for it (docs/protocol.md#5.8).
    ref = runtime.actor_ref(Module.TWIN)
    assert ref is not None
    return bool(ref.proxy().outbox.get().keep_until_confirmed)


def report_power(runtime: Runtime, bus: Probe, value: str) -> None:
    """The device reports ``value``; the twin answers it once it is stored."""
    update = {"event_id": value, "twin": {"power": {"actual": {"value": value}, "metadata": {"type": "string"}}}}
    runtime.router.send_to_group(Group.TWIN, bus_message("$hw/events/device/lamp/twin/update", update))
    bus.wait_for(lambda m: m.resource.endswith("/twin/update/result") and value.encode() in m.content, timeout_s=10)


def is_power_report(message: Message) -> bool:
    return message.resource.endswith("device/lamp/twin/edge_updated")


def reported(message: Message) -> str:
    return str(message.content["twin"]["power"]["actual"]["value"])


def reported_power(cloud: RunningCloudHub) -> Any:
    status, answer = cloud.api.call("GET", "devices")
    assert status == 200
    [device] = answer["items"]
    return device["twins"][0]["reported"]
