"""kubectl drives a real edge through the embedded API server (module ``kubeapi``): a cloud side
process and an edge process (real TLS websocket, real dockerd, real SQLite), as a user runs them."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from kubeedge_actors.testing import wait_until
from kubeedge_cloud.keys import CLOUD_MODULES
from kubeedge_cloud.pki import write_kubeconfig
from tests.integration.scenario import Scenario
from tests.kube.site import KUBECTL
from tests.services import free_port

pytestmark = pytest.mark.docker

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: hello
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
  - name: hello
    image: {image}
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do cat /etc/greeting/message.txt; echo; sleep 1; done"]
    volumeMounts: [{{name: greeting, mountPath: /etc/greeting}}]
  volumes:
  - {{name: greeting, configMap: {{name: greeting}}}}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: greeting
data:
  message.txt: hello through kubectl
"""


class KubectlScenario:
    """A Scenario whose cloud side runs its default modules (``kubeapi`` among them) and the
    control API the Scenario drives it through, and kubectl with its kubeconfig."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        site = scenario.folder / "cloud"
        port = free_port()
        yaml = YAML()
        conf = site / "conf" / "cloudhub.yaml"
        document = yaml.load(conf.read_text())
        document["modules"]["enabled"] = [*CLOUD_MODULES, "cloudapi"]
        document["kube"]["port"] = port
        with conf.open("w") as stream:
            yaml.dump(document, stream)
        write_kubeconfig(site / "certs", f"https://127.0.0.1:{port}")
        self.env = {**os.environ, "KUBECONFIG": str(site / "certs" / "kubeconfig"), "HOME": str(scenario.folder)}

    def kubectl(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([KUBECTL, *args], input=stdin, capture_output=True, text=True, timeout=60, env=self.env, check=False)
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
        return done

    def row(self, kind: str, name: str) -> list[str]:
        """The row of ``name`` in ``kubectl get <kind>`` (empty when not listed)."""
        return self.find(kind, name) or []

    def find(self, kind: str, name: str) -> list[str] | None:
        rows = [line.split() for line in self.kubectl("get", kind).stdout.splitlines()[1:]]
        return next((row for row in rows if row[0] == name), None)


@pytest.fixture
def kubectl_scenario(tmp_path: Path, docker_client: Any) -> Iterator[KubectlScenario]:
    with Scenario(tmp_path, docker_client) as scenario:
        running = KubectlScenario(scenario)
        scenario.cloud.start()
        scenario.edge.start()
        yield running


def test_kubectl_sees_the_edge_ready_runs_a_pod_on_it_reads_its_log_runs_commands_in_it_sees_the_edge_away_and_deletes_the_pod(
    kubectl_scenario: KubectlScenario, busybox_image: str
) -> None:
    scenario, node = kubectl_scenario.scenario, kubectl_scenario.scenario.node_id
    node_row = wait_until(lambda: (row := kubectl_scenario.row("nodes", node)) and row[1] == "Ready" and row, 60, 0.2, "the node Ready")
    assert node_row[2] == "edge"

    applied = kubectl_scenario.kubectl("apply", "-f", "-", stdin=POD.format(node=node, image=busybox_image))
    assert applied.stdout.splitlines() == ["pod/hello created", "configmap/greeting created"]

    pod_row = wait_until(lambda: (row := kubectl_scenario.row("pods", "hello")) and row[2] == "Running" and row, 60, 0.2, "hello Running")
    assert pod_row[1] == "1/1"
    waited = kubectl_scenario.kubectl("wait", "--for=condition=Ready", "pod/hello", "--timeout=60s")
    assert waited.stdout.strip() == "pod/hello condition met"
    assert len(scenario.running_containers("hello")) == 1
    wide = kubectl_scenario.kubectl("get", "pod", "hello", "-o", "wide").stdout.splitlines()[1].split()
    assert wide[6] == node

    logs = wait_until(lambda: kubectl_scenario.kubectl("logs", "hello", "--tail=2").stdout, 30, 0.2, "a log line")
    assert logs.splitlines()[-1] == "hello through kubectl"
    follower = subprocess.Popen([KUBECTL, "logs", "-f", "hello", "--tail=0"], stdout=subprocess.PIPE, text=True, env=kubectl_scenario.env)
    followed: list[str] = []
    threading.Thread(target=lambda: followed.extend(follower.stdout or ()), daemon=True).start()
    try:
        wait_until(lambda: followed, 30, 0.1, "a new line: the log is followed")  # the pod writes one a second
    finally:
        follower.terminate()
        follower.wait(10)
    assert followed[0] == "hello through kubectl\n"

    executed = kubectl_scenario.kubectl("exec", "hello", "--", "cat", "/etc/greeting/message.txt")
    assert executed.stdout == "hello through kubectl"
    failed = subprocess.run([KUBECTL, "exec", "hello", "--", "sh", "-c", "echo oops >&2; exit 3"], capture_output=True, text=True,
                            env=kubectl_scenario.env, timeout=60, check=False)  # fmt: skip
    assert (failed.returncode, failed.stderr) == (3, "oops\ncommand terminated with exit code 3\n")

    scenario.uplink.cut()
    wait_until(lambda: kubectl_scenario.row("nodes", node)[1:2] == ["NotReady"], 60, 0.2, "the node NotReady while the edge is away")
    scenario.uplink.restore()
    wait_until(lambda: kubectl_scenario.row("nodes", node)[1:2] == ["Ready"], 60, 0.2, "the node Ready again")

    deleted = kubectl_scenario.kubectl("delete", "pod", "hello", "--timeout=60s")
    assert deleted.stdout.strip() == 'pod "hello" deleted'
    assert kubectl_scenario.find("pods", "hello") is None
    wait_until(lambda: not scenario.running_containers("hello"), 60, 0.2, "the container stopped")
