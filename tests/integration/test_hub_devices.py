"""Tier 3: a Device applied with ``ctl`` reaches the edge's twin over TLS, and what the twin
reports shows in ``ctl get devices`` (docs/protocol.md#5.4, docs/protocol.md#5.7)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeedge_actors.testing import make_message, wait_until
from tests.cloud.running import RunningCloudHub, edge_config
from tests.hub.edge import RunningEdge, start_edge
from tests.services import TlsFiles

THERMOMETER = """\
apiVersion: devices.kubeedge.io/v1alpha1
kind: Device
metadata:
  name: thermometer
spec:
  deviceModelRef: {name: thermometer-model}
  nodeSelector:
    nodeSelectorTerms:
    - matchExpressions:
      - {key: '', operator: In, values: [edge-1]}
status:
  twins:
  - propertyName: temperature
    desired:
      metadata: {type: string}
      value: '25'
"""


@pytest.fixture
def edge(cloud: RunningCloudHub, tls_files: TlsFiles) -> Iterator[RunningEdge]:
    running = start_edge(edge_config(cloud, tls_files, "edge-1"))
    running.wait_connected()
    yield running
    running.stop()
    running.router.close()


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "thermometer.yaml"
    path.write_text(THERMOMETER)
    return path


def test_an_applied_device_reaches_the_edge_twin_as_membership_and_desired_values(
    cloud: RunningCloudHub, edge: RunningEdge, manifest: Path
) -> None:
    code, out, _ = cloud.control("apply", "-f", str(manifest))

    membership = edge.twin.wait_for(lambda m: m.resource == "membership")
    desired = edge.twin.wait_for(lambda m: m.resource == "device/thermometer/twin/cloud_updated")
    assert (code, out) == (0, "device/thermometer created\n")
    assert (membership.source, membership.group, membership.operation) == ("devicecontroller", "twin", "update")
    assert membership.content["added_devices"] == [{"id": "thermometer", "name": "thermometer"}]
    assert desired.content["twin"]["temperature"]["expected"]["value"] == "25"
    assert edge.twin.messages.index(membership) < edge.twin.messages.index(desired)


def test_what_the_twin_reports_shows_in_ctl_get_devices_and_is_acknowledged(
    cloud: RunningCloudHub, edge: RunningEdge, manifest: Path
) -> None:
    cloud.control("apply", "-f", str(manifest))
    edge.twin.wait_for(lambda m: m.resource == "device/thermometer/twin/cloud_updated")
    twin = {
        "temperature": {
            "actual": {"value": "24.5", "metadata": {"timestamp": 1700000000000}},
            "metadata": {"type": "string"},
            "actual_version": {"cloud": 0, "edge": 1},
        }
    }
    edge_updated = make_message(
        "update", "device/thermometer/twin/edge_updated", {"event_id": "e1", "timestamp": 1, "twin": twin}, source="twin", group="resource"
    )

    edge.router.send("websocket", edge_updated)

    ack = edge.twin.wait_for(lambda m: m.parent_id == edge_updated.id)
    wait_until(lambda: "24.5" in cloud.control("get", "devices")[1], what="the reported value shown")
    table = cloud.control("get", "devices")[1].splitlines()
    assert (ack.operation, ack.content) == ("response", "OK")
    assert table[0].split() == ["NAME", "NODE", "PROPERTY", "DESIRED", "REPORTED", "PROTOCOL", "STATE"]
    assert table[1].split() == ["thermometer", "edge-1", "temperature", "25", "24.5", "<none>", "<none>"]


def test_the_twins_membership_detail_request_is_answered_with_the_nodes_devices(
    cloud: RunningCloudHub, edge: RunningEdge, manifest: Path
) -> None:
    cloud.control("apply", "-f", str(manifest))
    edge.twin.wait_for(lambda m: m.resource == "device/thermometer/twin/cloud_updated")
    request = make_message(
        "get",
        "membership/detail",
        json.dumps({"event_type": "group_membership_event", "event_id": "123", "group_id": "edge-1", "operation": "detail"}),
        source="twin",
        group="resource",
    )

    edge.router.send("websocket", request)

    detail = edge.twin.wait_for(lambda m: m.parent_id == request.id)
    assert detail.resource == "membership/detail"
    [thermometer] = detail.content["devices"]
    assert thermometer["twin"]["temperature"]["expected"]["value"] == "25"
