"""The README's "Devices with protocols" section, run as a newcomer runs it: ``scripts/edge``
with the mapper added to ``modules.enabled``, ``python examples/modbus_simulator.py``, ``ctl
apply`` of ``examples/manifests/modbus-thermostat.yaml`` and the device's twins in ``kubectl get
device thermostat-1 -o json``."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeedge_actors.testing import wait_until
from tests.integration.quickstart_site import REPO, QuickstartSite, ScriptsEdge, scripts_edge_running, wait_for_node, wait_for_twin
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
    wait_for_node(site, "Ready")

    applied = site.ctl("apply", "-f", str(manifest))

    assert applied.stdout == "devicemodel.devices.kubeedge.io/thermostat created\ndevice.devices.kubeedge.io/thermostat-1 created\n", (
        applied.stderr
    )
    # The mapper wrote the desired target into the holding register and reads it back.
    wait_for_twin(site, "thermostat-1", "target-temperature", desired="225", reported="225")
    heater = wait_for_twin(site, "thermostat-1", "heater", desired=None)
    temperature = wait_for_twin(site, "thermostat-1", "temperature", desired=None)
    wait_until(lambda: "target 22.5" in output.read_text(), timeout_s=30, what="the simulator heating toward 22.5")
    assert heater.reported in ("true", "false") and temperature.reported is not None and 19.0 < float(temperature.reported) < 26.0
