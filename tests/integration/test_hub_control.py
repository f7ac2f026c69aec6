"""The control API's commands (tests/cloud/control_cli.py) against a running cloud hub: apply,
delete and get reach the controllers as they should."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tests.cloud.control_cli import control, control_client
from tests.cloud.running import RunningCloudHub
from tests.services import free_port

REPO = Path(__file__).resolve().parents[2]

MANIFESTS = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
spec:
  nodeName: edge-1
  containers:
  - name: web
    image: nginx:1.25
    envFrom:
    - configMapRef: {name: web-config}
    - secretRef: {name: web-token}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config, namespace: shop}
data: {mode: edge}
---
apiVersion: v1
kind: Secret
metadata: {name: web-token, namespace: shop}
stringData: {token: s3cret}
"""


@pytest.fixture
def manifests(tmp_path: Path) -> Path:
    path = tmp_path / "web.yaml"
    path.write_text(MANIFESTS)
    return path


def test_apply_creates_every_document_and_applying_again_changes_nothing(cloud: RunningCloudHub, manifests: Path) -> None:
    first = cloud.control("apply", "-f", str(manifests))
    again = cloud.control("apply", "-f", str(manifests))

    assert first == (0, "pod/web created\nconfigmap/web-config created\nsecret/web-token created\n", "")
    assert again == (0, "pod/web unchanged\nconfigmap/web-config unchanged\nsecret/web-token unchanged\n", "")


def test_apply_reads_json_and_stdin_and_names_a_node_for_a_pod_without_one(
    cloud: RunningCloudHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "json-pod"}, "spec": {"containers": [{"name": "c", "image": "a:1"}]}}
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps({"kind": "List", "items": [pod]})))

    code, out, _ = cloud.control("apply", "-f", "-", "--node", "edge-7")

    assert (code, out) == (0, "pod/json-pod created\n")
    assert cloud.control("get", "pods")[1].splitlines()[1].split()[:5] == ["json-pod", "0/1", "Pending", "0", "edge-7"]


def test_a_configmap_no_pod_uses_says_so(cloud: RunningCloudHub, tmp_path: Path) -> None:
    path = tmp_path / "cm.yaml"
    path.write_text("kind: ConfigMap\nmetadata: {name: lonely}\ndata: {a: b}\n")

    assert cloud.control("apply", "-f", str(path))[1] == "configmap/lonely created (no node uses it yet)\n"


def test_get_lists_what_was_applied_in_kubectl_tables(cloud: RunningCloudHub, manifests: Path) -> None:
    cloud.control("apply", "-f", str(manifests))

    pods = cloud.control("get", "pods", "-n", "shop")[1].splitlines()
    everywhere = cloud.control("get", "pods", "-A")[1].splitlines()
    configmaps = cloud.control("get", "configmaps", "-n", "shop")[1].splitlines()
    secrets = cloud.control("get", "secrets", "-n", "shop", "-o", "json")[1]
    nodes = cloud.control("get", "nodes")[1].splitlines()

    assert pods[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "NODE", "AGE"]
    assert pods[1].split()[:5] == ["web", "0/1", "Pending", "0", "edge-1"]
    assert everywhere[0].split()[0] == "NAMESPACE" and everywhere[1].split()[:2] == ["shop", "web"]
    assert configmaps[1].split()[:3] == ["web-config", "1", "edge-1"]
    assert json.loads(secrets)[0]["nodes"] == ["edge-1"] and "s3cret" not in secrets
    assert nodes[1].split()[:3] == ["edge-1", "Unknown", "never"]


def test_get_in_an_empty_namespace_says_no_resources(cloud: RunningCloudHub) -> None:
    assert cloud.control("get", "pods", "-n", "empty") == (0, "No resources found in empty namespace.\n", "")


def test_delete_by_file_and_by_name_and_a_second_delete_is_not_found(cloud: RunningCloudHub, manifests: Path) -> None:
    cloud.control("apply", "-f", str(manifests))

    by_file = cloud.control("delete", "-f", str(manifests))
    again = cloud.control("delete", "pod", "web", "-n", "shop", "--node", "edge-1")

    assert by_file == (0, 'pod "web" deleted\nconfigmap "web-config" deleted\nsecret "web-token" deleted\n', "")
    assert again[0] == 1 and 'pods "web" not found' in again[2]


def test_delete_by_name_checks_the_node(cloud: RunningCloudHub, manifests: Path) -> None:
    cloud.control("apply", "-f", str(manifests))

    refused = cloud.control("delete", "pod", "web", "-n", "shop", "--node", "edge-2")
    deleted = cloud.control("delete", "po", "web", "-n", "shop", "--node", "edge-1")

    assert refused[0] == 1 and "runs on node edge-1, not on edge-2" in refused[2]
    assert deleted == (0, 'pod "web" deleted\n', "")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("kind: Pod\nmetadata: {name: x\n", "bad.yaml:3: not valid YAML or JSON"),
        ("kind: Pod\nmetadata: {name: x}\n", "error: pod/x in namespace default: spec is missing"),
        ("kind: Deployment\nmetadata: {name: x}\n", "error: object 1: kind 'Deployment' is not handled"),
        ("# nothing\n", "error: no objects in"),
    ],
    ids=["broken-yaml", "no-spec", "unknown-kind", "empty-file"],
)
def test_a_manifest_that_cannot_be_applied_is_one_clear_error_and_nothing_is_applied(
    cloud: RunningCloudHub, tmp_path: Path, text: str, error: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)

    code, out, err = cloud.control("apply", "-f", str(path))

    assert code == 1 and out == ""
    assert error in err
    assert cloud.control("get", "pods", "-A")[1].startswith("No resources found")


def test_a_control_client_without_a_running_cloud_hub_says_so(cloud: RunningCloudHub) -> None:
    code, _, err = control(control_client(f"https://127.0.0.1:{free_port()}", cloud.tls.ca), "get", "nodes")

    assert code == 2 and "cannot reach the control API" in err


@pytest.mark.parametrize("example", ["hello.yaml", "thermometer.yaml"])
def test_the_example_manifests_apply_cleanly(cloud: RunningCloudHub, example: str) -> None:
    code, out, err = cloud.control("apply", "-f", str(REPO / "examples" / "manifests" / example))

    assert (code, err) == (0, "")
    assert out and all(line.endswith("created") for line in out.splitlines())
