"""The downward API, projected volumes and the warnings about fields edged ignores, as a user
sees them: ``scripts/edge`` with a local cloud hub, ``ctl apply`` of examples/manifests/
podinfo.yaml, the files and environment read inside the running container on real Docker, and
the pod's status in ``ctl get pod NAME -o json`` and ``ctl describe pod`` (kubectl) at the cloud
(docs/protocol.md#7.10, docs/protocol.md#7.11)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeedge_actors.testing import wait_until
from tests.integration.quickstart_site import (
    QuickstartSite,
    ScriptsEdge,
    node_containers,
    require_quickstart_image,
    scripts_edge_running,
    wait_for_node,
    wait_for_row,
)

UNSUPPORTED = """\
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: default}}
spec:
  nodeName: {node}
  {extra}
  containers:
    - name: main
      image: kubeedge-actors/busybox:quickstart
      command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 30 & wait $!; done"]
"""


@pytest.fixture
def site(tmp_path: Path) -> QuickstartSite:
    return QuickstartSite(tmp_path).write_conf()


@pytest.fixture
def edge(site: QuickstartSite, docker_client: Any) -> Iterator[ScriptsEdge]:
    require_quickstart_image(docker_client)
    with scripts_edge_running(site, docker_client) as running:
        wait_for_node(site, "Ready")
        yield running


def running_container(docker_client: Any, site: QuickstartSite, pod: str) -> Any:
    [container] = [c for c in node_containers(docker_client, site.node_id, pod) if c.status == "running"]
    return container


def read(container: Any, *command: str) -> str:
    result = container.exec_run(list(command))
    assert result.exit_code == 0, result.output
    return str(result.output.decode())


def pod_status(site: QuickstartSite, name: str) -> dict[str, Any]:
    """The ``status`` of the Kubernetes Pod (``kubectl get pod NAME -o json``)."""
    return dict(site.get_json("pod", name).get("status") or {})


def test_a_pod_reads_its_metadata_and_resources_from_files_and_env_and_sees_labels_change_in_place(
    site: QuickstartSite, edge: ScriptsEdge, docker_client: Any
) -> None:
    manifest = site.manifest("podinfo.yaml")
    applied = site.ctl("apply", "-f", str(manifest))
    wait_for_row(site, "pods", ["podinfo", "1/1", "Running"])
    container = running_container(docker_client, site, "podinfo")
    uid = read(container, "cat", "/etc/podinfo/uid")
    files = {name: read(container, "cat", f"/etc/podinfo/{name}") for name in ("name", "namespace", "labels")}
    annotations = read(container, "cat", "/etc/podinfo/annotations")
    resources = [read(container, "cat", f"/etc/podinfo/{name}") for name in ("cpu_limit", "memory_request")]
    bundle = [read(container, "cat", f"/etc/bundle/{name}") for name in ("mode", "secret/token", "labels")]
    env = dict(line.split("=", 1) for line in read(container, "env").splitlines() if "=" in line)
    status = pod_status(site, "podinfo")
    api_annotations = site.get_json("pod", "podinfo")["metadata"]["annotations"]

    # A new label and annotation, a new configmap value: applied again, shown in place.
    manifest.write_text(manifest.read_text().replace("tier: edge", "tier: cloud").replace("mode: edge", "mode: changed"))
    again = site.ctl("apply", "-f", str(manifest))
    wait_until(
        lambda: (
            'tier="cloud"' in read(container, "cat", "/etc/podinfo/labels")
            and 'tier="cloud"' in read(container, "cat", "/etc/bundle/labels")
            and read(container, "cat", "/etc/bundle/mode") == "changed"
        ),
        timeout_s=60,
        interval_s=0.3,
        what="the new labels and configmap in the running container",
    )
    labels_after = read(container, "cat", "/etc/podinfo/labels")

    assert applied.returncode == 0 and again.returncode == 0, applied.stderr + again.stderr
    assert "pod/podinfo configured" in again.stdout
    assert files == {
        "name": "podinfo",
        "namespace": "default",
        "labels": 'app="podinfo"\ntier="edge"',
    }
    # The pod's annotations as the API server has them: podinfo.yaml's and kubectl apply's.
    # The controllers' own mark (HANDED_OVER_ANNOTATION) stays in the cloud side: not the pod's.
    shown = {key: json.loads(quoted) for key, quoted in (line.split("=", 1) for line in annotations.splitlines())}
    assert shown == api_annotations and shown["owner"] == "quickstart"
    assert json.loads(shown["kubectl.kubernetes.io/last-applied-configuration"])["metadata"]["name"] == "podinfo"
    assert len(uid) == 36  # the uid the cloud hub gave the pod
    assert resources == ["250", "16"]
    assert bundle == ["edge", "t0ken", 'app="podinfo"\ntier="edge"']
    assert env["POD_NAME"] == "podinfo" and env["POD_NAMESPACE"] == "default" and env["POD_UID"] == uid
    assert env["POD_TIER"] == "edge" and env["MEMORY_LIMIT_MI"] == "32"
    assert env["NODE_NAME"] == site.node_id
    assert env["HOST_IP"] == status["hostIP"] and env["POD_IP"] == status["podIP"] and status["hostIP"]
    assert labels_after == 'app="podinfo"\ntier="cloud"'
    # podinfo.yaml asks for one thing edged does not do, and only that one is named.
    assert status["message"] == "edged: spec.shareProcessNamespace: ignored (each container has its own process namespace)"
    assert running_container(docker_client, site, "podinfo").id == container.id  # not restarted


def test_fields_edged_does_not_implement_are_named_at_the_cloud(site: QuickstartSite, edge: ScriptsEdge) -> None:
    ignored = site.folder / "ignored.yaml"
    ignored.write_text(
        UNSUPPORTED.format(
            name="ignored",
            node=site.node_id,
            extra="shareProcessNamespace: true\n  hostIPC: true\n  ephemeralContainers: [{name: debug, image: busybox}]",
        )
    )
    rejected = site.folder / "rejected.yaml"
    nfs = "volumes: [{name: data, nfs: {server: nas, path: /x}}]"
    rejected.write_text(UNSUPPORTED.format(name="rejected", node=site.node_id, extra=nfs))

    applied = site.ctl("apply", "-f", str(ignored), "-f", str(rejected))
    wait_for_row(site, "pods", ["ignored", "1/1", "Running"])
    # A spec edged refuses has no container to show: the pod's own reason and message say why.
    wait_until(lambda: pod_status(site, "rejected").get("reason"), timeout_s=60, interval_s=0.5, what="the rejected pod's status")
    message = pod_status(site, "ignored").get("message") or ""
    described = site.ctl("describe", "pod", "ignored").stdout
    refused = site.ctl("describe", "pod", "rejected").stdout

    assert applied.returncode == 0, applied.stderr
    # One message names every ignored field, in the pod's status and in describe's Message line.
    assert message.startswith("edged: ") and "\n" not in message
    for field in ("spec.ephemeralContainers: ignored", "spec.shareProcessNamespace: ignored", "spec.hostIPC: ignored"):
        assert field in message
    assert f"Message:      {message}\n" in described
    assert "Status:       Running" in described
    assert "Reason:       CreateContainerConfigError" in refused and "Status:       Pending" in refused
    assert "spec.volumes[0]: volume 'data' has unsupported type 'nfs'" in refused
