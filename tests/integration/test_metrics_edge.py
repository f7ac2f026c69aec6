"""Tier 3: the whole edge (five modules) with metrics on, against a real cloud hub over TLS,
a real Mosquitto and the real Docker Engine: the figures an operator scrapes move when the
cloud link and the broker drop and come back, and when a pod runs."""

from __future__ import annotations

import logging
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from actors import builtin_modules
from actors.edged.model import NODE_ID_LABEL
from kubeedge_actors import Runtime
from kubeedge_actors.testing import make_message, wait_until
from tests.cloud.running import RunningCloudHub, edge_config
from tests.edged.docker_support import remove_all
from tests.services import MosquittoBroker, TlsFiles

pytestmark = [pytest.mark.docker, pytest.mark.mosquitto]


class ScrapedEdge:
    """An edge runtime with its metrics endpoint on a port the system picked."""

    def __init__(self, runtime: Runtime, node_id: str) -> None:
        self.runtime = runtime
        self.node_id = node_id

    def scrape(self) -> str:
        assert self.runtime.metrics is not None
        with urllib.request.urlopen(f"http://127.0.0.1:{self.runtime.metrics.port}/metrics", timeout=5) as response:
            return str(response.read().decode())

    def figures(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(self.scrape())
            for sample in family.samples
        }

    def figure(self, name: str, **labels: str) -> float | None:
        return self.figures().get((name, frozenset(labels.items())))

    def wait_figure(self, name: str, value: float, timeout_s: float = 30.0, **labels: str) -> None:
        wait_until(lambda: self.figure(name, **labels) == value, timeout_s=timeout_s, what=f"{name}{labels} == {value}")


@pytest.fixture
def edge(
    cloud: RunningCloudHub, tls_files: TlsFiles, mosquitto: MosquittoBroker, docker_client: Any, tmp_path: Path
) -> Iterator[ScrapedEdge]:
    node_id = f"it-metrics-{uuid.uuid4().hex[:8]}"
    config = edge_config(
        cloud,
        tls_files,
        node_id,
        **{
            "metrics.enabled": True,
            "metrics.port": 0,
            "mqtt.mode": 2,
            "mqtt.server": mosquitto.url,
            "mqtt.reconnect-max-interval": 0.3,
            "database.source": str(tmp_path / "edge.db"),
            "edged.root-directory": str(tmp_path / "edged"),
            "edged.hostname-override": node_id,
            "edged.server-port": 0,
        },
    )
    runtime = Runtime(config, builtin_modules())
    runtime.start()
    scraped = ScrapedEdge(runtime, node_id)
    try:
        yield scraped
    finally:
        runtime.stop()
        remove_all(lambda: docker_client.containers.list(all=True, filters={"label": f"{NODE_ID_LABEL}={node_id}"}))


def test_the_cloud_link_figures_go_down_and_come_back_with_the_cloud_hub(edge: ScrapedEdge, cloud: RunningCloudHub) -> None:
    edge.wait_figure("kubeedge_cloud_connected", 1, module="websocket")

    cloud.stop()
    edge.wait_figure("kubeedge_cloud_connected", 0, module="websocket")
    edge.runtime.router.send("websocket", make_message("update", "default/benchmark/kept"))
    edge.wait_figure("kubeedge_outbox_depth", 1, module="websocket")
    down = edge.figures()
    cloud.start()
    edge.wait_figure("kubeedge_cloud_connected", 1, module="websocket")
    edge.wait_figure("kubeedge_outbox_depth", 0, module="websocket")
    back = edge.figures()

    assert down[("kubeedge_cloud_link_losses_total", frozenset({("module", "websocket")}))] == 1
    assert down[("kubeedge_cloud_connected", frozenset({("module", "metaManager")}))] == 0  # meta heard it too
    assert back[("kubeedge_cloud_reconnects_total", frozenset({("module", "websocket")}))] == 1
    assert back[("kubeedge_messages_to_cloud_total", frozenset({("module", "websocket")}))] >= 1


def test_the_mqtt_figures_go_down_and_come_back_with_the_broker(edge: ScrapedEdge, mosquitto: MosquittoBroker) -> None:
    edge.wait_figure("kubeedge_mqtt_connected", 1, module="eventbus", broker="external")

    mosquitto.stop()
    edge.wait_figure("kubeedge_mqtt_connected", 0, module="eventbus", broker="external")
    mosquitto.start()
    edge.wait_figure("kubeedge_mqtt_connected", 1, module="eventbus", broker="external")

    assert edge.figure("kubeedge_mqtt_connection_losses_total", module="eventbus", broker="external") == 1
    assert edge.figure("kubeedge_mqtt_reconnects_total", module="eventbus", broker="external") == 1


def test_a_pod_deployed_by_the_cloud_shows_as_running_with_its_container_and_rows(
    edge: ScrapedEdge, cloud: RunningCloudHub, busybox_image: str
) -> None:
    edge.wait_figure("kubeedge_cloud_connected", 1, module="websocket")
    pods_before = edge.figure("kubeedge_pods", module="edged", phase="Running")
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "nodeName": edge.node_id,
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "main", "image": busybox_image, "command": ["sleep", "3600"]}],
        },
    }

    status, answer = cloud.api.call("POST", "apply", [pod])
    assert status == 200, answer
    edge.wait_figure("kubeedge_pods", 1, timeout_s=60, module="edged", phase="Running")
    figures = edge.figures()

    assert pods_before == 0
    assert figures[("kubeedge_containers", frozenset({("module", "edged"), ("state", "running")}))] == 1
    assert figures[("kubeedge_docker_connected", frozenset({("module", "edged")}))] == 1
    assert figures[("kubeedge_rows", frozenset({("module", "metaManager"), ("type", "pod")}))] == 1
    assert figures[("kubeedge_messages_received_total", frozenset({("module", "edged")}))] >= 1
    assert figures[("kubeedge_module_up", frozenset({("module", "twin")}))] == 1


def test_an_outage_of_the_cloud_and_of_the_broker_logs_a_line_per_state_change_not_per_retry(
    edge: ScrapedEdge, cloud: RunningCloudHub, mosquitto: MosquittoBroker, caplog: pytest.LogCaptureFixture
) -> None:
    edge.wait_figure("kubeedge_cloud_connected", 1, module="websocket")
    edge.wait_figure("kubeedge_mqtt_connected", 1, module="eventbus", broker="external")
    edge.wait_figure("kubeedge_docker_connected", 1, module="edged")  # edged's start-up lines are behind us

    with caplog.at_level(logging.INFO):
        caplog.clear()  # the lines of the start-up, when the logging set up before let INFO through
        cloud.stop()
        mosquitto.stop()
        # Redials back off to at most 0.3 s here: wait for many of them.
        wait_until(lambda: (edge.figure("kubeedge_cloud_dial_failures_total", module="websocket") or 0) >= 8, timeout_s=30)
        cloud.start()
        mosquitto.start()
        edge.wait_figure("kubeedge_cloud_connected", 1, module="websocket")
        edge.wait_figure("kubeedge_mqtt_connected", 1, module="eventbus", broker="external")

    edge_loggers = ("actors.hub", "actors.bus", "actors.meta", "actors.twin", "actors.edged")  # not the cloud hub's
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO and r.name.startswith(edge_loggers)]
    per_module = {module: [line for line in lines if line.startswith(f"{module}: ")] for module in ("hub", "bus", "meta", "twin")}
    assert len(per_module["hub"]) <= 4, per_module["hub"]  # lost, cannot connect (the first failure only), connected, sent what was kept
    assert [len(per_module[module]) for module in ("bus", "meta", "twin")] == [2, 2, 2], per_module  # lost/disconnected, connected
    assert len(lines) == sum(len(module_lines) for module_lines in per_module.values()), lines  # edged had nothing to say
