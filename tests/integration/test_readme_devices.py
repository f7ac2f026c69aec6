"""The README's "Devices with protocols" section, run as a newcomer runs it: ``scripts/edge``
with the mapper added to ``modules.enabled``, ``python examples/modbus_simulator.py``, ``ctl
apply`` of ``examples/manifests/modbus-thermostat.yaml`` and ``ctl get devices``."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeedge_actors.testing import wait_until
from tests.integration.quickstart_site import REPO, QuickstartSite, ScriptsEdge, scripts_edge_running, wait_for_row
from tests.services import free_port

pytestmark = [pytest.mark.docker]


@pytest.fixture
def site(tmp_path: Path) -> QuickstartSite:
    site = QuickstartSite(tmp_path).write_conf()
    modules = site.conf / "modules.yaml"
    shipped = "enabled: [eventbus, websocket, metaManager, edged, twin]"
    assert shipped in modules.read_text()
    modules.write_text(modules.read_text().replace(shipped, "enabled: [eventbus, websocket, metaManager, edged, twin, mapper]"))
    return site


@pytest.fixture
def edge(site: QuickstartSite, docker_client: Any) -> Iterator[ScriptsEdge]:
    with scripts_edge_running(site, docker_client) as running:
        yield running


@pytest.fixture
def simulator(site: QuickstartSite) -> Iterator[tuple[int, Path]]:
    port, output = free_port(), site.folder / "simulator.out"
    with output.open("wb") as out:
        command = [sys.executable, str(REPO / "examples" / "modbus_simulator.py"), "--port", str(port)]
        process = subprocess.Popen(command, cwd=site.folder, env=site.environment(), stdout=out, stderr=subprocess.STDOUT)
    yield port, output
    process.send_signal(signal.SIGINT)
    process.wait(10)


def test_the_modbus_thermostat_of_the_readme_reports_and_heats_to_its_desired_target(
    site: QuickstartSite, edge: ScriptsEdge, simulator: tuple[int, Path]
) -> None:
    port, output = simulator
    manifest = site.manifest("modbus-thermostat.yaml")
    manifest.write_text(manifest.read_text().replace("port: 5020", f"port: {port}"))
    wait_until(lambda: " connected" in site.ctl("get", "nodes").stdout, timeout_s=120, interval_s=0.5, what="the edge connected")

    applied = site.ctl("apply", "-f", str(manifest))

    assert applied.stdout == "devicemodel/thermostat created\ndevice/thermostat-1 created\n", applied.stderr
    target = wait_for_row(site, "devices", ["thermostat-1", site.node_id, "target-temperature", "225", "225"])
    heater = wait_for_row(site, "devices", ["thermostat-1", site.node_id, "heater", "<none>"])
    temperature = wait_for_row(site, "devices", ["thermostat-1", site.node_id, "temperature", "<none>"])
    wait_until(lambda: "target 22.5" in output.read_text(), timeout_s=30, what="the simulator heating toward 22.5")
    assert target[5:] == heater[5:] == temperature[5:] == ["modbus-tcp", "online"]
    assert heater[4] in ("true", "false") and 19.0 < float(temperature[4]) < 26.0
