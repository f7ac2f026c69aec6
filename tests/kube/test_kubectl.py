"""The real kubectl against the embedded API server: the quickstart's commands and their output."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import kubernetes.client
import yaml

from kubeedge_actors.testing import wait_until
from tests.kube.site import KubeSite

ROOT = Path(__file__).resolve().parents[2]
HELLO = ROOT / "examples" / "manifests" / "hello.yaml"

EDGE_NODE = """
apiVersion: v1
kind: Node
metadata:
  name: edge-node
  labels:
    node-role.kubernetes.io/edge: ""
"""


def table_rows(text: str) -> list[list[str]]:
    """kubectl's table as rows of cells (the header first), split on runs of spaces."""
    return [line.split() for line in text.splitlines() if line.strip()]


def ready_node_status() -> dict[str, object]:
    return {
        "conditions": [{"type": "Ready", "status": "True", "reason": "EdgeReady", "lastHeartbeatTime": "2026-12-06T07:00:00Z"}],
        "addresses": [{"type": "InternalIP", "address": "192.168.1.7"}],
        "nodeInfo": {"kubeletVersion": "v1.10.9-kubeedge-v1.0.0", "osImage": "Debian GNU/Linux 12", "kernelVersion": "6.1.0",
                     "containerRuntimeVersion": "docker://20.10.24"},
    }  # fmt: skip


def test_apply_creates_the_quickstart_objects_and_get_lists_them_with_kubectls_columns(kube: KubeSite) -> None:
    applied = kube.kubectl("apply", "-f", str(HELLO))
    assert applied.stdout.splitlines() == ["pod/hello created", "configmap/greeting created", "secret/credentials created"]

    pods = table_rows(kube.kubectl("get", "pods").stdout)
    assert pods[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert pods[1][:4] == ["hello", "0/1", "Pending", "0"]
    wide = table_rows(kube.kubectl("get", "pods", "-o", "wide").stdout)
    assert wide[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED", "NODE", "READINESS", "GATES"]
    assert wide[1][5:7] == ["<none>", "edge-node"]
    assert table_rows(kube.kubectl("get", "configmaps").stdout)[1][:2] == ["greeting", "1"]
    assert table_rows(kube.kubectl("get", "secrets").stdout)[1][:3] == ["credentials", "Opaque", "1"]


def test_get_o_yaml_shows_the_object_with_what_the_server_set(kube: KubeSite) -> None:
    kube.kubectl("apply", "-f", str(HELLO))
    pod = yaml.safe_load(kube.kubectl("get", "pod", "hello", "-o", "yaml").stdout)
    assert pod["kind"] == "Pod" and pod["apiVersion"] == "v1"
    assert pod["spec"]["nodeName"] == "edge-node"
    meta = pod["metadata"]
    assert meta["uid"] and meta["creationTimestamp"].endswith("Z") and meta["generation"] == 1
    assert int(meta["resourceVersion"]) > 0
    assert "kubectl.kubernetes.io/last-applied-configuration" in meta["annotations"]


def test_apply_again_patches_what_changed_and_leaves_the_rest_unchanged(kube: KubeSite, tmp_path: Path) -> None:
    kube.kubectl("apply", "-f", str(HELLO))
    before = yaml.safe_load(kube.kubectl("get", "pod", "hello", "-o", "yaml").stdout)
    changed = tmp_path / "hello.yaml"
    changed.write_text(HELLO.read_text().replace("name: hello\n", "name: hello\n  labels:\n    app: hello\n", 1))

    applied = kube.kubectl("apply", "-f", str(changed))

    assert applied.stdout.splitlines() == ["pod/hello configured", "configmap/greeting unchanged", "secret/credentials unchanged"]
    after = yaml.safe_load(kube.kubectl("get", "pod", "hello", "-o", "yaml").stdout)
    assert after["metadata"]["labels"] == {"app": "hello"}
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert after["spec"] == before["spec"]
    assert int(after["metadata"]["resourceVersion"]) > int(before["metadata"]["resourceVersion"])


def test_label_and_field_selectors_choose_the_pods(kube: KubeSite) -> None:
    for name, app, node in (("a", "web", "edge-node"), ("b", "web", "other"), ("c", "db", "edge-node")):
        kube.kubectl("run", name, "--image=busybox", f"--labels=app={app}", f'--overrides={{"spec":{{"nodeName":"{node}"}}}}')

    def names(*args: str) -> list[str]:
        return kube.kubectl("get", "pods", "-o", "name", *args).stdout.split()

    assert names("-l", "app=web") == ["pod/a", "pod/b"]
    assert names("-l", "app!=web") == ["pod/c"]
    assert names("-l", "app in (db,cache)") == ["pod/c"]
    assert names("--field-selector", "spec.nodeName=edge-node") == ["pod/a", "pod/c"]
    assert names("--field-selector", "metadata.name=b") == ["pod/b"]
    assert names("-l", "app=web", "--field-selector", "spec.nodeName=edge-node") == ["pod/a"]


def test_get_nodes_prints_status_roles_and_version_from_the_nodes_status(kube: KubeSite) -> None:
    kube.kubectl("apply", "-f", "-", stdin=EDGE_NODE)
    assert table_rows(kube.kubectl("get", "nodes").stdout)[1][:3] == ["edge-node", "Unknown", "edge"]

    with kube.client() as api_client:
        kubernetes.client.CoreV1Api(api_client).patch_node_status("edge-node", {"status": ready_node_status()})

    nodes = table_rows(kube.kubectl("get", "nodes").stdout)
    assert nodes[0] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert nodes[1][:3] == ["edge-node", "Ready", "edge"] and nodes[1][4] == "v1.10.9-kubeedge-v1.0.0"
    wide = table_rows(kube.kubectl("get", "nodes", "-o", "wide").stdout)
    assert wide[1][5:7] == ["192.168.1.7", "<none>"]


def test_describe_pod_shows_its_node_containers_and_volumes(kube: KubeSite) -> None:
    kube.kubectl("apply", "-f", str(HELLO))
    described = kube.kubectl("describe", "pod", "hello").stdout
    assert "Name:         hello" in described
    assert "Node:         edge-node" in described
    assert "Image:      kubeedge-actors/busybox:quickstart" in described
    assert "PASSWORD:  <set to the key 'password' in secret 'credentials'>" in described
    assert "ConfigMap (a volume populated by a ConfigMap)" in described


def test_delete_removes_a_pod_no_node_runs_at_once(kube: KubeSite) -> None:
    kube.kubectl("apply", "-f", str(HELLO))
    deleted = kube.kubectl("delete", "-f", str(HELLO))
    assert deleted.stdout.splitlines() == ['pod "hello" deleted', 'configmap "greeting" deleted', 'secret "credentials" deleted']
    assert kube.kubectl("get", "pods").stderr.strip() == "No resources found in default namespace."


def test_a_pod_on_a_node_is_terminating_until_the_node_reports_it_stopped(kube: KubeSite) -> None:
    kube.kubectl("apply", "-f", "-", stdin=EDGE_NODE)
    kube.kubectl("apply", "-f", str(HELLO))

    kube.kubectl("delete", "pod", "hello", "--wait=false")

    assert table_rows(kube.kubectl("get", "pods").stdout)[1][:3] == ["hello", "0/1", "Terminating"]
    stopped = {
        "phase": "Succeeded",
        "containerStatuses": [{"name": "hello", "ready": False, "restartCount": 0, "image": "busybox",
                               "imageID": "", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}],
    }  # fmt: skip
    with kube.client() as api_client:
        kubernetes.client.CoreV1Api(api_client).patch_namespaced_pod_status("hello", "default", {"status": stopped})
    assert kube.kubectl("get", "pods").stderr.strip() == "No resources found in default namespace."


def test_delete_with_grace_period_zero_removes_a_pod_on_a_node_at_once(kube: KubeSite) -> None:
    kube.kubectl("apply", "-f", "-", stdin=EDGE_NODE)
    kube.kubectl("apply", "-f", str(HELLO))
    kube.kubectl("delete", "pod", "hello", "--grace-period=0", "--force")
    assert kube.kubectl("get", "pod", "hello", check=False).stderr.strip() == 'Error from server (NotFound): pods "hello" not found'


def test_get_w_prints_each_change_as_a_row(kube: KubeSite) -> None:
    watcher = subprocess.Popen(
        [kube.kubectl_path, "get", "pods", "-w", "--request-timeout=60s"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=kube.kubectl_env(),
    )  # fmt: skip
    lines: list[list[str]] = []
    reader = threading.Thread(target=lambda: lines.extend(line.split() for line in watcher.stdout or ()), daemon=True)
    reader.start()
    try:
        kube.kubectl("apply", "-f", "-", stdin=EDGE_NODE)
        kube.kubectl("apply", "-f", str(HELLO))
        kube.kubectl("label", "pod", "hello", "app=hello")
        kube.kubectl("delete", "pod", "hello", "--wait=false")
        wait_until(lambda: len(lines) >= 4, 30, 0.05, "four lines from kubectl get -w")
    finally:
        watcher.terminate()
        watcher.wait(10)
    assert lines[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert [line[:3] for line in lines[1:]] == [["hello", "0/1", "Pending"], ["hello", "0/1", "Pending"], ["hello", "0/1", "Terminating"]]


def test_a_manifest_with_an_unknown_field_is_rejected_with_kubectls_strict_decoding_error(kube: KubeSite) -> None:
    manifest = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\nspec:\n  contaners:\n  - name: x\n    image: busybox\n"
    done = kube.kubectl("apply", "-f", "-", stdin=manifest, check=False)
    assert done.returncode == 1
    if kube.debian_kubectl:  # 1.20 asks for no strict decoding: the pod without containers is refused
        assert done.stderr.strip() == 'The Pod "bad" is invalid: spec.containers: Required value'
    else:
        assert done.stderr.strip() == (
            'Error from server (BadRequest): error when creating "STDIN": Pod in version "v1" cannot be handled as a Pod: '
            'strict decoding error: unknown field "spec.contaners"'
        )
    assert kube.kubectl("get", "pods").stderr.strip() == "No resources found in default namespace."


def test_a_manifest_breaking_the_rules_is_rejected_with_each_field_named(kube: KubeSite) -> None:
    manifest = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: Bad_Name\nspec:\n  containers:\n  - name: x\n"
    done = kube.kubectl("apply", "-f", "-", stdin=manifest, check=False)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[0] == 'The Pod "Bad_Name" is invalid: '
    assert lines[1].startswith('* metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of')
    assert lines[2] == "* spec.containers[0].image: Required value"


def test_an_object_in_a_namespace_that_does_not_exist_is_refused(kube: KubeSite) -> None:
    done = kube.kubectl("create", "configmap", "x", "-n", "nowhere", "--from-literal=a=b", check=False)
    expected = 'namespaces "nowhere" not found'
    prefix = "Error from server (NotFound)" if kube.debian_kubectl else "error: failed to create configmap"
    assert done.stderr.strip() == f"{prefix}: {expected}"
    kube.kubectl("create", "namespace", "nowhere")
    kube.kubectl("create", "configmap", "x", "-n", "nowhere", "--from-literal=a=b")
    kube.kubectl("delete", "namespace", "nowhere")
    assert kube.kubectl("get", "configmaps", "-A", "-o", "name").stdout.split() == []
    refused = kube.kubectl("delete", "namespace", "default", check=False)
    assert refused.stderr.strip() == 'Error from server (Forbidden): namespaces "default" is forbidden: this namespace may not be deleted'


def test_kubectl_with_an_unknown_token_is_refused_with_unauthorized(kube: KubeSite, tmp_path: Path) -> None:
    config = yaml.safe_load(kube.kubeconfig.read_text())
    config["users"][0]["user"] = {"token": "not-in-the-token-file"}
    anonymous = tmp_path / "anonymous"
    anonymous.write_text(yaml.safe_dump(config))
    done = subprocess.run(
        [kube.kubectl_path, "get", "pods", f"--kubeconfig={anonymous}"], capture_output=True, text=True, timeout=60, env=kube.kubectl_env()
    )
    assert done.returncode == 1
    reason = "Unauthorized" if kube.debian_kubectl else "the server has asked for the client to provide credentials"
    assert done.stderr.strip().endswith(f"error: You must be logged in to the server ({reason})")


def test_kubectl_with_a_bearer_token_from_the_token_file_is_let_in(kube: KubeSite, tmp_path: Path) -> None:
    config = yaml.safe_load(kube.kubeconfig.read_text())
    config["users"][0]["user"] = {"token": "s3cr3t-token-for-tests"}
    with_token = tmp_path / "token"
    with_token.write_text(yaml.safe_dump(config))
    done = subprocess.run(
        [kube.kubectl_path, "get", "ns", "-o", "name", f"--kubeconfig={with_token}"],
        capture_output=True,
        text=True,
        timeout=60,
        env=kube.kubectl_env(),
    )
    assert done.stdout.split() == ["namespace/default", "namespace/kube-node-lease", "namespace/kube-public", "namespace/kube-system"]


def test_kubectl_create_sends_protobuf_and_the_objects_arrive_whole(kube: KubeSite) -> None:
    kube.kubectl("create", "namespace", "team")
    kube.kubectl("create", "secret", "generic", "s", "-n", "team", "--from-literal=password=s3cr3t", "--type=Opaque")
    kube.kubectl("create", "configmap", "c", "-n", "team", "--from-literal=greeting=hello", "--from-literal=other=x")
    secret = yaml.safe_load(kube.kubectl("get", "secret", "s", "-n", "team", "-o", "yaml").stdout)
    config_map = yaml.safe_load(kube.kubectl("get", "configmap", "c", "-n", "team", "-o", "yaml").stdout)
    assert secret["data"] == {"password": "czNjcjN0"} and secret["type"] == "Opaque"
    assert config_map["data"] == {"greeting": "hello", "other": "x"}
    assert config_map["metadata"]["namespace"] == "team"


def test_a_server_dry_run_checks_everything_and_writes_nothing(kube: KubeSite) -> None:
    if kube.debian_kubectl:  # 1.20 looks for dryRun in OpenAPI v2's paths, which we do not serve
        refused = kube.kubectl("apply", "-f", str(HELLO), "--dry-run=server", check=False)
        assert refused.stderr.splitlines() == [f"/v1, Kind={kind} doesn't support dry-run" for kind in ("Pod", "ConfigMap", "Secret")]
        assert kube.kubectl("get", "pods,configmaps,secrets", "-o", "name").stdout.split() == []
        return
    applied = kube.kubectl("apply", "-f", str(HELLO), "--dry-run=server")
    assert applied.stdout.splitlines() == [
        "pod/hello created (server dry run)", "configmap/greeting created (server dry run)", "secret/credentials created (server dry run)"
    ]  # fmt: skip
    assert kube.kubectl("get", "pods,configmaps,secrets", "-o", "name").stdout.split() == []
    bad = kube.kubectl("run", "Bad_Name", "--image=busybox", "--dry-run=server", check=False)
    assert 'The Pod "Bad_Name" is invalid' in bad.stderr
    kube.kubectl("apply", "-f", str(HELLO))
    kube.kubectl("delete", "pod", "hello", "--dry-run=server")
    assert kube.kubectl("get", "pods", "-o", "name").stdout.split() == ["pod/hello"]


def test_an_edges_certificate_of_the_same_ca_is_forbidden(kube: KubeSite, tmp_path: Path) -> None:
    config = yaml.safe_load(kube.kubeconfig.read_text())
    config["users"][0]["user"] = {
        "client-certificate": str(kube.certs / "edge.crt"),
        "client-key": str(kube.certs / "edge.key"),
    }
    as_edge = tmp_path / "edge-kubeconfig"
    as_edge.write_text(yaml.safe_dump(config))
    done = subprocess.run(
        [kube.kubectl_path, "get", "secrets", f"--kubeconfig={as_edge}"], capture_output=True, text=True, timeout=60, env=kube.kubectl_env()
    )
    assert done.returncode == 1
    # kubectl's discovery does not print the Status' message (tests/kube/test_http.py reads it).
    last = done.stderr.strip().splitlines()[-1]
    no_discovery = 'error: the server doesn\'t have a resource type "secrets"'  # 1.20 hides the 403 of discovery
    assert last == (no_discovery if kube.debian_kubectl else "Error from server (Forbidden): unknown")
