"""Scenario tests: the whole edge (``python -m kubeedge_actors`` in its own folder) against a
real cloud hub, Mosquitto and Docker, while the things around it fail (issue 7, item 4).

After every fault the edge must still work — a new pod runs, a device twin update is answered,
the cloud sees node and pod status — hold no more threads or file descriptors than before, leave
no extra containers, and have lost no message: every twin report the device made reaches the
cloud once, in order.

How leaks are counted: threads and descriptors of the edge process are read from
``/proc/<pid>`` after a first, warm-up fault (pools of workers are made on first use and
keep their threads), then again after several more faults of the same kind, once the edge
has settled. ``THREAD_SLACK`` and ``FD_SLACK`` absorb what may legitimately come and go
(a background worker still finishing a job, a connection being replaced); a leak of one per
fault exceeds them over the repeated faults. Connections to Docker are counted apart: the
SDK caches them per request URL, bounded (``DOCKER_CONNECTIONS``); a connection whose other
end is gone is a leak whatever the count.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kubeedge_actors.message import Message
from kubeedge_actors.testing import wait_until
from tests.cloud.running import RunningCloudHub
from tests.integration.fault_tools import CloudInbox, PrivateDockerd
from tests.integration.scenario import Scenario
from tests.integration.sites import EdgeProcess, Holdings
from tests.integration.twin_device_app import DeviceApp
from tests.services import BUSYBOX_IMAGE, MosquittoBroker

DEVICE = "counter"
THREAD_SLACK = 2
FD_SLACK = 4
#: The docker SDK keeps one connection pool per request URL, up to 25 (DEFAULT_NUM_POOLS),
#: and edged's event stream holds one more: a bounded cache, not a leak.
DOCKER_CONNECTIONS = 26


# --- the scene --------------------------------------------------------------------------------


@dataclass
class Scene:
    """A scenario (the edge process, an in-process cloud hub, the uplink between them) with a
    record of what the cloud hub received and a device app on the edge's broker."""

    scenario: Scenario
    inbox: CloudInbox
    app: DeviceApp

    @property
    def node_id(self) -> str:
        return self.scenario.node_id

    @property
    def cloud(self) -> RunningCloudHub:
        assert isinstance(self.scenario.cloud, RunningCloudHub)
        return self.scenario.cloud

    @property
    def edge(self) -> EdgeProcess:
        return self.scenario.edge

    # --- the cloud's view ---------------------------------------------------------------------

    def apply(self, *objects: dict[str, Any]) -> None:
        status, answer = self.cloud.api.call("POST", "apply", list(objects))
        assert status == 200, answer

    def wait_pods_running(self, *names: str, timeout_s: float = 60.0) -> None:
        def running() -> bool:
            rows = self.scenario.pods()
            return all(name in rows and rows[name]["phase"] == "Running" and rows[name]["ready"] == "1/1" for name in names)

        wait_until(running, timeout_s, interval_s=0.1, what=f"pods {names} shown Running by the cloud")

    def node_row(self) -> dict[str, Any]:
        row = self.scenario.node()
        assert row is not None, f"node {self.node_id} not in the cloud"
        return row

    def reports(self, prefix: str) -> list[Message]:
        """The twin reports (edge_updated) of values starting with ``prefix`` the cloud got."""
        return self.inbox.matching(lambda m: m.resource.endswith("/twin/edge_updated") and reported_value(m).startswith(prefix))

    def reported_at_the_cloud(self) -> Any:
        """The value of the device's twin the cloud shows as reported."""
        status, answer = self.cloud.api.call("GET", "devices")
        assert status == 200, answer
        [row] = [row for row in answer["items"] if row["name"] == DEVICE]
        return row["twins"][0]["reported"]

    # --- the edge ---------------------------------------------------------------------------

    def wait_connected(self, times: int) -> None:
        self.edge.wait_for_log("hub: connected to the cloud", count=times, timeout_s=30)

    def update_twin(self, value: str) -> None:
        """The device reports ``value``; the edge must answer with update/result."""
        result = self.app.twin_update(DEVICE, {"count": value}, timeout_s=20)
        assert result.get("code") in (None, 200), result

    def containers(self) -> list[Any]:
        return self.scenario.containers()

    def assert_reports_arrived_once_in_order(self, prefix: str, values: list[str]) -> None:
        """Every value reported by one message, and those messages arrived in order.

        A report written into a link that then broke is sent again with its id after the
        reconnect (the twin keeps it until the cloud confirms it): a repeated id is that
        resend, which the cloud recognises; a value under two ids would be a second report.
        """
        with contextlib.suppress(AssertionError):  # the comparison below says what is missing
            wait_until(lambda: set(values) <= {reported_value(m) for m in self.reports(prefix)}, 30, interval_s=0.05)
        first_arrivals: dict[str, Message] = {}
        for report in self.reports(prefix):
            first_arrivals.setdefault(report.id, report)
        arrived = [reported_value(m) for m in first_arrivals.values()]
        missing = [v for v in values if v not in arrived]
        duplicated = sorted({v for v in arrived if arrived.count(v) > 1})
        assert arrived == values, f"missing {missing}, reported twice {duplicated}, arrived {arrived}"

    def assert_still_works(self, tag: str) -> None:
        """A new pod runs, a twin update is answered and reported, the node is Ready."""
        self.apply(pod(f"after-{tag}", self.node_id))
        self.update_twin(f"works-{tag}")
        self.wait_pods_running(f"after-{tag}")
        wait_until(lambda: self.reports(f"works-{tag}"), 30, what=f"the twin report works-{tag} at the cloud")
        wait_until(lambda: self.node_row()["ready"] == "Ready", 30, what="the node Ready at the cloud")
        assert self.node_row()["connection"] == "connected"

    def assert_nothing_leaked(self, before: Holdings) -> None:
        """Threads and descriptors back to where they were (see the module docstring), no
        connection whose other end is gone, and connections to Docker within its SDK's pool."""

        def settled() -> bool:
            now = self.edge.holdings()
            return (
                now.thread_count <= before.thread_count + THREAD_SLACK
                and now.fd_count - now.fds["socket:docker"] <= before.fd_count - before.fds["socket:docker"] + FD_SLACK
                and now.fds["socket:gone"] <= before.fds["socket:gone"]
                and now.fds["socket:docker"] <= DOCKER_CONNECTIONS
            )

        try:
            wait_until(settled, 20, interval_s=0.2, what="the edge's threads and descriptors back to where they were")
        except AssertionError as error:
            raise AssertionError(f"{error}: {self.edge.holdings().growth_since(before)}") from None


class ReportedHistory:
    """Every reported twin value the cloud hub writes into its SQLite file, in order: a trigger
    on the device controller's table copies each write of ``reported`` into a table of the test's
    own, so a value shown for a moment only is seen too."""

    def __init__(self, database: Path) -> None:
        self._database = database
        with contextlib.closing(sqlite3.connect(database, timeout=30)) as connection, connection:
            connection.executescript(
                """
                CREATE TABLE test_reported_history (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, reported TEXT);
                CREATE TRIGGER test_reported_history AFTER UPDATE OF reported ON cloud_device
                BEGIN INSERT INTO test_reported_history (name, reported) VALUES (new.name, new.reported); END;
                """
            )

    def values(self, device: str, property_name: str) -> list[str]:
        """The values of one property the cloud showed, in order (each once until it changed)."""
        with contextlib.closing(sqlite3.connect(f"file:{self._database}?mode=ro", uri=True, timeout=30)) as connection:
            rows = connection.execute("SELECT reported FROM test_reported_history WHERE name = ? ORDER BY id", [device]).fetchall()
        shown = [json.loads(reported).get(property_name, {}).get("value") for (reported,) in rows]
        return [value for index, value in enumerate(shown) if index == 0 or value != shown[index - 1]]


def pod(name: str, node_id: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "nodeName": node_id,
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": BUSYBOX_IMAGE, "command": ["sleep", "3600"]}],
        },
    }


def device(node_id: str) -> dict[str, Any]:
    selector = {"nodeSelectorTerms": [{"matchExpressions": [{"key": "", "operator": "In", "values": [node_id]}]}]}
    return {
        "apiVersion": "devices.kubeedge.io/v1alpha1",
        "kind": "Device",
        "metadata": {"name": DEVICE, "namespace": "default"},
        "spec": {"deviceModelRef": {"name": "counter-model"}, "nodeSelector": selector},
        "status": {"twins": [{"propertyName": "count", "desired": {"metadata": {"type": "string"}, "value": "0"}}]},
    }


def reported_value(message: Message) -> str:
    content = message.content if isinstance(message.content, dict) else {}
    actual = ((content.get("twin") or {}).get("count") or {}).get("actual") or {}
    return str(actual.get("value", ""))


# --- fixtures ---------------------------------------------------------------------------------


def fault_values(broker: MosquittoBroker, docker_url: str) -> dict[str, Any]:
    """The edge's conf beyond the scenario's own: fast redials, the test's broker and Docker."""
    return {
        # Redial fast: the cycles test drops the link a hundred times.
        "edgehub.reconnect.initial-interval": 0.05,
        "edgehub.reconnect.max-interval": 0.3,
        "mqtt.mode": 2,  # the test's Mosquitto only: the embedded broker's port may be taken
        "mqtt.server": broker.url,
        "mqtt.reconnect-max-interval": 0.5,
        "edged.docker-address": docker_url,
        "edged.node-status-update-frequency": 2,
    }


@pytest.fixture
def scene_factory(tmp_path: Path, mosquitto: MosquittoBroker) -> Iterator[Callable[[Any, str], Scene]]:
    """Builds the scene once the test says which Docker daemon the edge uses; stops the edge
    (cleanly: exit code 0) and removes the node's containers afterwards."""
    made: list[Scene] = []
    with contextlib.ExitStack() as stack:

        def make(docker: Any, docker_url: str) -> Scene:
            scenario = Scenario(tmp_path, docker, edge_values=fault_values(mosquitto, docker_url), in_process_cloud=True)
            stack.enter_context(scenario)
            scene = Scene(scenario, CloudInbox(), scenario.device_app())  # the app talks to Mosquitto
            scene.cloud.start(before_serving=scene.inbox.attach)
            made.append(scene)
            scene.edge.start()
            scene.wait_connected(1)
            scene.apply(device(scene.node_id), pod("first", scene.node_id))
            wait_until(lambda: _is_member(scene.app), 30, interval_s=0.1, what=f"{DEVICE} a member of the node")
            scene.wait_pods_running("first")
            return scene

        yield make
        for scene in made:
            code = scene.edge.stop()
            assert code == 0, scene.edge.tail()


def _is_member(app: DeviceApp) -> bool:
    result = app.twin_get(DEVICE)
    return isinstance(result, dict) and result.get("code") in (None, 200)


@pytest.fixture
def private_dockerd() -> Iterator[PrivateDockerd]:
    daemon = PrivateDockerd()
    try:
        daemon.start()
        daemon.import_busybox(BUSYBOX_IMAGE)
        yield daemon
    finally:
        daemon.remove()


# --- the scenarios ----------------------------------------------------------------------------


def test_after_broker_restarts_twin_traffic_works_again_and_nothing_leaked(
    scene_factory: Any, docker_client: Any, busybox_image: str, mosquitto: MosquittoBroker
) -> None:
    scene: Scene = scene_factory(docker_client, "unix:///var/run/docker.sock")
    mosquitto.restart()  # warm-up: the first loss makes what every later one reuses
    scene.edge.wait_for_log("bus: connected to the external broker", count=2)
    scene.update_twin("broker-0")
    before = scene.edge.holdings()
    containers = len(scene.containers())

    for restart in range(1, 4):
        mosquitto.restart()
        scene.edge.wait_for_log("bus: connected to the external broker", count=restart + 2)
        scene.update_twin(f"broker-{restart}")  # subscriptions restored: the twin answers

    scene.assert_reports_arrived_once_in_order("broker-", [f"broker-{n}" for n in range(4)])
    scene.assert_nothing_leaked(before)
    assert len(scene.containers()) == containers
    scene.assert_still_works("broker")


def test_after_dockerd_restarts_pods_run_again_without_duplicate_containers(private_dockerd: PrivateDockerd, scene_factory: Any) -> None:
    scene: Scene = scene_factory(private_dockerd.client(), private_dockerd.url)
    scene.apply(pod("second", scene.node_id))
    scene.wait_pods_running("first", "second")

    def restart_dockerd() -> None:
        restarts = {name: row["restarts"] for name, row in scene.scenario.pods().items()}
        private_dockerd.restart()  # SIGKILL, then the same command line again
        wait_until(lambda: not _running(scene), 30, what="dockerd's restart to stop the pods' containers")
        wait_until(lambda: len(_running(scene)) == 2, 90, interval_s=0.2, what="both pods' containers running again")
        wait_until(
            lambda: all(row["restarts"] > restarts[name] for name, row in scene.scenario.pods().items() if name in restarts),
            60,
            interval_s=0.2,
            what="the restarts reported to the cloud",
        )
        scene.wait_pods_running("first", "second")

    restart_dockerd()  # warm-up
    before = scene.edge.holdings()
    for _ in range(2):
        restart_dockerd()

    assert sorted(c.labels["io.kubernetes.pod.name"] for c in _running(scene)) == ["first", "second"]
    names = [c.name for c in scene.containers()]  # k8s_<container>_<pod>_<ns>_<uid>_<restart>
    assert len(names) == len(set(names))
    scene.assert_nothing_leaked(before)
    scene.assert_still_works("dockerd")


def _running(scene: Scene) -> list[Any]:
    return scene.scenario.containers(status="running")


def test_after_cloud_hub_restarts_the_edge_reconnects_and_what_it_sent_meanwhile_arrives_once(
    scene_factory: Any, docker_client: Any, busybox_image: str
) -> None:
    scene: Scene = scene_factory(docker_client, "unix:///var/run/docker.sock")
    sent: list[str] = []

    def restart_cloud(restart: int) -> None:
        scene.cloud.stop()
        for n in range(3):  # while the cloud is away: answered by the edge, kept for the cloud
            sent.append(f"away-{restart}-{n}")
            scene.update_twin(sent[-1])
        scene.cloud.start(before_serving=scene.inbox.attach)  # the edge may redial before start() returns
        scene.wait_connected(restart + 2)

    restart_cloud(0)  # warm-up
    before = scene.edge.holdings()
    containers = len(scene.containers())

    for restart in range(1, 4):
        restart_cloud(restart)

    scene.assert_reports_arrived_once_in_order("away-", sent)
    scene.assert_nothing_leaked(before)
    assert len(scene.containers()) == containers
    scene.assert_still_works("cloud")


def test_after_100_link_drops_in_a_row_the_edge_works_holds_nothing_more_and_lost_no_report(
    scene_factory: Any, docker_client: Any, busybox_image: str
) -> None:
    scene: Scene = scene_factory(docker_client, "unix:///var/run/docker.sock")
    link = scene.scenario.uplink
    link.drop()  # warm-up
    scene.wait_connected(2)
    scene.update_twin("warm")
    before = scene.edge.holdings()
    containers = len(scene.containers())
    sent = [f"cycle-{n:03d}" for n in range(100)]
    history = ReportedHistory(scene.scenario.cloud_database)

    for n, value in enumerate(sent):
        assert link.drop() == 1
        scene.update_twin(value)  # made while the link is down or coming back
        scene.wait_connected(n + 3)

    # A report lost in a breaking link is resent by the twin after the reconnect, before anything
    # newer (the hub keeps none of the twin's reports: docs/architecture.md#5.2), so first arrivals
    # are in order; and the cloud applies a report only when it is newer than the one it shows:
    # what it shows never goes back, and once the twin has nothing left to resend it is the latest.
    scene.assert_reports_arrived_once_in_order("cycle-", sent)
    wait_until(lambda: scene.edge.waiting_for_the_cloud() == 0, 30, interval_s=0.1, what="every report confirmed by the cloud")
    shown = [value for value in history.values(DEVICE, "count") if value.startswith("cycle-")]
    assert shown == sorted(shown), f"the cloud showed an older report after a newer one: {shown}"
    assert scene.reported_at_the_cloud() == sent[-1]
    scene.assert_nothing_leaked(before)
    assert len(scene.containers()) == containers
    scene.assert_still_works("cycles")
