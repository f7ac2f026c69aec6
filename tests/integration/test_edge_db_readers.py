"""Tier 3 (issue 11): programs written for the original read ``edge.db`` while the edge runs.

The original's SQLite driver forces ``journal_mode=DELETE`` on every connection
(original_reader.py does the same). A cloud hub process and an edge process (real TLS
websocket, Docker, the embedded broker, SQLite files) run pods and devices; while the edge
writes pods (meta) and twins (twin), that reader runs again and again in its own process:

- with ``database.journal-mode: delete`` every run reads, and the rows it reads catch up with
  everything the edge was told;
- with the default ``wal`` every run gets SQLite's busy error ("database is locked"), and the
  file stays whole and in WAL, the edge logs nothing alarming and keeps serving.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from actors.protocol import Group
from kubeedge_actors import Message
from kubeedge_actors.testing import wait_until
from kubeedge_cloud.names import CLOUDHUB_MODULE
from tests.cloud.running import RunningCloudHub
from tests.integration.fault_tools import CloudInbox
from tests.integration.scenario import Scenario
from tests.integration.sites import REPO, api_items
from tests.integration.twin_device_app import DeviceApp

pytestmark = pytest.mark.docker

PODS = """\
apiVersion: v1
kind: ConfigMap
metadata: {{name: web-config}}
data: {{greeting.txt: hello}}
---
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {image}
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
    volumeMounts: [{{name: conf, mountPath: /etc/web}}]
  volumes:
  - {{name: conf, configMap: {{name: web-config}}}}
"""
THERMOMETER = """\
apiVersion: devices.kubeedge.io/v1alpha1
kind: Device
metadata: {{name: {device}}}
spec:
  nodeSelector:
    nodeSelectorTerms:
    - matchExpressions:
      - {{key: '', operator: In, values: [{node}]}}
status:
  twins:
  - propertyName: temperature
    desired: {{metadata: {{type: string}}, value: '25'}}
"""
UPDATES = 40  # twin updates the device app makes while the reader runs
ALARMING = re.compile(r" (WARNING|ERROR|CRITICAL) |Traceback|locked", re.IGNORECASE)


@dataclass
class ReaderRuns:
    """original_reader.py run again and again on ``database`` from a thread, until stopped."""

    database: Path
    results: list[subprocess.CompletedProcess[str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> ReaderRuns:
        self._thread = threading.Thread(target=self._loop, name="original-reader", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        command = [sys.executable, "-m", "tests.integration.original_reader", str(self.database)]
        while not self._stop.is_set():
            self.results.append(subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False))

    def stop(self) -> list[subprocess.CompletedProcess[str]]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(90)
        return self.results

    def last_tables(self) -> dict[str, list[dict[str, Any]]]:
        """What the latest successful run read (empty before one succeeded)."""
        for result in reversed(list(self.results)):
            if result.returncode == 0:
                return dict(json.loads(result.stdout))
        return {}


@dataclass
class Workload:
    """What the edge is told while the reader runs: pods through the cloud, a device with a
    twin through the cloud and attributes for it (as a cloud of the original's sends them),
    twin reports from the device app."""

    scenario: Scenario
    inbox: CloudInbox
    image: str
    app: DeviceApp
    device: str = field(default_factory=lambda: f"thermo-{uuid.uuid4().hex[:6]}")
    pods: list[str] = field(default_factory=list)

    @property
    def cloud(self) -> RunningCloudHub:
        assert isinstance(self.scenario.cloud, RunningCloudHub)
        return self.scenario.cloud

    def apply(self, text: str) -> None:
        manifest = self.scenario.folder / f"{uuid.uuid4().hex}.yaml"
        manifest.write_text(text)
        code, _, err = self.cloud.control("apply", "-f", str(manifest))
        assert code == 0, err

    def deploy_pod(self, name: str) -> None:
        self.apply(PODS.format(name=name, node=self.scenario.node_id, image=self.image))
        self.pods.append(name)

    def deploy_device(self) -> None:
        """The device (the cloud hub sends its twin), then its attributes: this project's cloud
        hub has none to send, so the test sends them through it as the cloud does (docs/protocol.md#5.4)."""
        # The membership detail the twin asks for on connecting lists every device without
        # attributes, and a member's attributes follow the list (docs/protocol.md#5.6): the
        # cloud must have taken that request before the device exists, so its answer is empty.
        self.inbox.wait_for_count(lambda message: message.resource.endswith("/membership/detail"), 1)
        self.apply(THERMOMETER.format(device=self.device, node=self.scenario.node_id))
        self.app.wait_for(f"$hw/events/node/{self.scenario.node_id}/membership/updated", timeout_s=30)
        attributes = {
            "event_id": "attrs",
            "timestamp": 0,
            "attributes": {
                "model": {"value": "TH-1", "optional": False, "metadata": {"type": "string"}},
                "channels": {"value": "2", "optional": True, "metadata": {"type": "int"}},
            },
        }
        update = Message.new(
            source="devicecontroller",
            group=Group.TWIN,
            operation="updated",
            resource=f"node/{self.scenario.node_id}/device/{self.device}",
            content=attributes,
        )
        assert self.cloud.runtime is not None
        self.cloud.runtime.router.send(CLOUDHUB_MODULE, update)
        self.app.wait_for(f"$hw/events/device/{self.device}/updated", timeout_s=30)

    def report(self, count: int) -> None:
        """``count`` temperatures reported one after another, each answered."""
        for value in range(1, count + 1):
            result = self.app.twin_update(self.device, {"temperature": str(value)}, timeout_s=30)
            assert "code" not in result, result

    def missing(self, tables: dict[str, list[dict[str, Any]]], last_temperature: str) -> list[str]:
        """What ``tables`` (as the reader read them) lack of the rows the edge was told to keep."""
        if not tables:
            return ["a successful read"]
        meta = {row["key"]: row for row in tables["meta"]}
        statuses = {pod: json.loads(meta[f"default/podstatus/{pod}"]["value"]) for pod in self.pods if f"default/podstatus/{pod}" in meta}
        attributes = {(row["deviceid"], row["name"]): (row["value"], row["optional"], row["attr_type"]) for row in tables["device_attr"]}
        checks = {
            "pods": {key: json.loads(meta[key]["value"])["metadata"]["name"] for key in meta if key.startswith("default/pod/")}
            == {f"default/pod/{pod}": pod for pod in self.pods},
            "the configmap": meta.get("default/configmap/web-config", {}).get("type") == "configmap",
            "pods running": {pod: status["Status"]["phase"] for pod, status in statuses.items()} == dict.fromkeys(self.pods, "Running"),
            "devices": {row["id"]: row["name"] for row in tables["device"]} == {self.device: self.device},
            "attributes": attributes == {(self.device, "model"): ("TH-1", 0, "string"), (self.device, "channels"): ("2", 1, "int")},
            "twins": {(row["deviceid"], row["name"]): (row["expected"], row["actual"]) for row in tables["device_twin"]}
            == {(self.device, "temperature"): ("25", last_temperature)},
        }
        return [what for what, present in checks.items() if not present]


@pytest.fixture
def journal_mode() -> str:
    return "wal"


@pytest.fixture
def inbox() -> CloudInbox:
    return CloudInbox()


@pytest.fixture
def scenario(tmp_path: Path, docker_client: Any, busybox_image: str, journal_mode: str, inbox: CloudInbox) -> Iterator[Scenario]:
    values = {"database.journal-mode": journal_mode}
    with Scenario(tmp_path, docker_client, edge_values=values, in_process_cloud=True) as running:
        running.cloud.start()
        assert isinstance(running.cloud, RunningCloudHub)
        inbox.attach(running.cloud)
        running.edge.start()
        running.wait_node("connected")
        yield running


@pytest.fixture
def workload(scenario: Scenario, inbox: CloudInbox, busybox_image: str) -> Workload:
    workload = Workload(scenario, inbox, busybox_image, scenario.device_app())
    workload.deploy_pod("web")
    workload.deploy_device()
    return workload


@contextlib.contextmanager
def reader_running(scenario: Scenario) -> Iterator[ReaderRuns]:
    runs = ReaderRuns(scenario.edge.database).start()
    try:
        wait_until(lambda: len(runs.results) >= 2, 60, 0.05, "the reader's first runs")
        yield runs
    finally:
        runs.stop()


def log_during(scenario: Scenario, start: int) -> str:
    return scenario.edge.log()[start:]


@pytest.mark.parametrize("journal_mode", ["delete"])
def test_with_journal_mode_delete_a_reader_that_forces_it_reads_every_row_while_the_edge_writes(
    scenario: Scenario, workload: Workload
) -> None:
    log_start = len(scenario.edge.log())

    with reader_running(scenario) as runs:
        workload.deploy_pod("worker")  # the edge writes pods and twins while the reader reads
        workload.report(UPDATES)
        try:
            wait_until(lambda: not workload.missing(runs.last_tables(), str(UPDATES)), 60, 0.1, "every row read by the reader")
        except AssertionError:
            tables = runs.last_tables()
            raise AssertionError(
                f"the reader lacks {workload.missing(tables, str(UPDATES))}: { {k: v for k, v in tables.items() if k != 'meta'} }"
            ) from None
    results = runs.results

    failures = [result.stderr for result in results if result.returncode != 0]
    assert failures == [], f"{len(failures)} of {len(results)} reads failed"
    assert len(results) >= 5
    assert scenario.edge.running
    assert [line for line in log_during(scenario, log_start).splitlines() if ALARMING.search(line)] == []
    with contextlib.closing(sqlite3.connect(scenario.edge.database)) as database:
        assert database.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        assert database.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def test_with_the_default_wal_such_a_reader_gets_the_busy_error_and_the_edge_goes_on_unharmed(
    scenario: Scenario, workload: Workload
) -> None:
    log_start = len(scenario.edge.log())

    with reader_running(scenario) as runs:
        workload.deploy_pod("worker")
        workload.report(UPDATES)
        wait_until(lambda: len(runs.results) >= 5, 60, 0.05, "five runs of the reader")
    results = runs.results

    # Refused every time, with SQLite's own error: no run changed or read anything.
    assert {(result.returncode, result.stderr.strip()) for result in results} == {(1, "OperationalError: database is locked")}
    with contextlib.closing(sqlite3.connect(f"file:{scenario.edge.database}?mode=ro", uri=True)) as database:
        assert database.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert database.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        temperature = database.execute(
            "SELECT actual FROM device_twin WHERE deviceid = ? AND name = 'temperature'", (workload.device,)
        ).fetchone()
    assert temperature == (str(UPDATES),)
    # The edge serves on: both pods run, a further twin update is answered and reaches the cloud.
    scenario.wait_pod("web", "Running")
    scenario.wait_pod("worker", "Running")
    workload.report(1)
    wait_until(lambda: reported_temperature(scenario, workload.device) == "1", 30, 0.1, "the last report in the cloud")
    assert scenario.edge.running
    assert [line for line in log_during(scenario, log_start).splitlines() if ALARMING.search(line)] == []


def reported_temperature(scenario: Scenario, device: str) -> Any:
    [row] = [row for row in api_items(scenario.cloud.api, "devices") if row["name"] == device]
    return {twin["name"]: twin["reported"] for twin in row["twins"]}.get("temperature")
