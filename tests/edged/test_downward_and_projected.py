"""Tier 1: downwardAPI and projected volumes, written, rewritten in place, and refused with the
field named (docs/protocol.md#7.10)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from actors.edged.downward import format_map, go_quote
from actors.edged.pods import parse_pod
from tests.edged.builders import make_configmap, make_pod, make_secret
from tests.edged.conftest import Edge

DOWNWARD_ITEMS = [
    {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
    {"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}},
    {"path": "uid", "fieldRef": {"fieldPath": "metadata.uid"}},
    {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
    {"path": "annotations", "fieldRef": {"fieldPath": "metadata.annotations"}, "mode": 0o600},
    {"path": "tier", "fieldRef": {"fieldPath": "metadata.labels['tier']"}},
    {"path": "cpu-limit-millis", "resourceFieldRef": {"containerName": "main", "resource": "limits.cpu", "divisor": "1m"}},
    {"path": "memory-request-mi", "resourceFieldRef": {"containerName": "main", "resource": "requests.memory", "divisor": "1Mi"}},
]
RESOURCES = {"requests": {"cpu": "100m", "memory": "32Mi"}, "limits": {"cpu": "250m", "memory": "64Mi"}}
PROJECTED = [
    {
        "name": "all",
        "projected": {
            "defaultMode": 0o640,
            "sources": [
                {"configMap": {"name": "app-config", "items": [{"key": "app.conf", "path": "conf/app.conf"}]}},
                {"secret": {"name": "creds"}},
                {"downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
                {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
            ],
        },
    }
]


def labelled(pod: dict[str, Any], labels: dict[str, str], annotations: dict[str, str] | None = None) -> dict[str, Any]:
    metadata = {**pod["metadata"], "labels": labels, "annotations": annotations or {}}
    return {**pod, "metadata": metadata}


def volume_dir(edge: Edge, pod: dict[str, Any], plugin: str, volume: str) -> Path:
    return edge.root / "pods" / pod["metadata"]["uid"] / "volumes" / plugin / volume


def test_a_downward_api_volume_shows_the_pods_metadata_and_resources_as_the_kubelet_writes_them(edge: Edge) -> None:
    edge.start()
    volumes = [{"name": "info", "downwardAPI": {"items": DOWNWARD_ITEMS}}]
    pod = labelled(
        make_pod(volumes=volumes, volumeMounts=[{"name": "info", "mountPath": "/etc/podinfo"}], resources=RESOURCES),
        {"tier": "edge", "app": "web"},
        {"note": 'say "hi"\n'},
    )

    edge.deliver("insert", pod)

    folder = volume_dir(edge, pod, "kubernetes.io~downward-api", "info")
    read = {item["path"]: (folder / item["path"]).read_text() for item in DOWNWARD_ITEMS}
    assert read == {
        "name": "web",
        "namespace": "default",
        "uid": pod["metadata"]["uid"],
        "labels": 'app="web"\ntier="edge"',
        "annotations": 'note="say \\"hi\\"\\n"',
        "tier": "edge",
        "cpu-limit-millis": "250",
        "memory-request-mi": "32",
    }
    assert (folder / "name").stat().st_mode & 0o777 == 0o644
    assert (folder / "annotations").stat().st_mode & 0o777 == 0o600
    [container] = edge.runtime.running()
    assert [(m.source, m.target) for m in edge.runtime.configs[container.id].mounts] == [(str(folder), "/etc/podinfo")]


def test_new_labels_and_annotations_rewrite_the_files_in_place_without_a_restart(edge: Edge) -> None:
    edge.start()
    volumes = [{"name": "info", "downwardAPI": {"items": DOWNWARD_ITEMS[3:5]}}]
    pod = labelled(make_pod(volumes=volumes, volumeMounts=[{"name": "info", "mountPath": "/etc/podinfo"}]), {"v": "1"})
    edge.deliver("insert", pod)
    [container] = edge.runtime.running()

    edge.deliver("update", labelled(pod, {"v": "2", "added": "yes"}, {"by": "ctl"}))

    folder = volume_dir(edge, pod, "kubernetes.io~downward-api", "info")
    assert (folder / "labels").read_text() == 'added="yes"\nv="2"'
    assert (folder / "annotations").read_text() == 'by="ctl"'
    assert edge.runtime.running() == [container]


def test_a_projected_volume_mixes_configmap_secret_and_downward_sources_and_follows_each(edge: Edge) -> None:
    edge.objects.put("default", "configmap", "app-config", make_configmap("app-config", {"app.conf": "v1", "other": "x"}))
    edge.objects.put("default", "secret", "creds", make_secret("creds", {"token": "s3cret"}))
    edge.start()
    pod = labelled(make_pod(volumes=PROJECTED, volumeMounts=[{"name": "all", "mountPath": "/etc/all"}]), {"v": "1"})
    edge.deliver("insert", pod)
    folder = volume_dir(edge, pod, "kubernetes.io~projected", "all")
    first = {name: (folder / name).read_text() for name in ("conf/app.conf", "token", "labels")}
    [container] = edge.runtime.running()

    changed = make_configmap("app-config", {"app.conf": "v2"})
    edge.objects.put("default", "configmap", "app-config", changed)
    edge.deliver("update", changed, kind="configmap")
    edge.deliver("update", labelled(pod, {"v": "2"}))

    assert first == {"conf/app.conf": "v1", "token": "s3cret", "labels": 'v="1"'}
    assert (folder / "conf" / "app.conf").read_text() == "v2"
    assert (folder / "labels").read_text() == 'v="2"'
    assert (folder / "token").stat().st_mode & 0o777 == 0o640
    assert not (folder / "other").exists()
    assert edge.runtime.running() == [container]
    assert "serviceAccountToken: ignored" in edge.status()["message"]


def test_a_projected_volume_waits_for_its_missing_secret_with_the_volume_named(edge: Edge) -> None:
    edge.start()
    volumes = [{"name": "all", "projected": {"sources": [{"secret": {"name": "absent"}}]}}]

    edge.deliver("insert", make_pod(volumes=volumes, volumeMounts=[{"name": "all", "mountPath": "/etc/all"}]))

    waiting = edge.container_state()["waiting"]
    assert waiting["reason"] == "ContainerCreating"
    assert 'volume "all": secret "absent" not found' in waiting["message"]


@pytest.mark.parametrize(
    ("volume", "error"),
    [
        (
            {"name": "info", "downwardAPI": {"items": [{"path": "ip", "fieldRef": {"fieldPath": "status.podIP"}}]}},
            "spec.volumes[0].downwardAPI.items[0].fieldRef.fieldPath: 'status.podIP' is not one of",
        ),
        (
            {"name": "info", "downwardAPI": {"items": [{"path": "cpu", "resourceFieldRef": {"resource": "limits.cpu"}}]}},
            "spec.volumes[0].downwardAPI.items[0].resourceFieldRef.containerName: a volume must name the container",
        ),
        (
            {"name": "info", "downwardAPI": {"items": [{"path": "../x", "fieldRef": {"fieldPath": "metadata.name"}}]}},
            "spec.volumes[0].downwardAPI.items[0].path: '../x' must be relative",
        ),
        (
            {"name": "all", "projected": {"sources": [{"podCertificate": {"signerName": "x"}}]}},
            "spec.volumes[0].projected.sources[0]: volume 'all' has unsupported projected source 'podCertificate'",
        ),
        ({"name": "data", "nfs": {"server": "nas", "path": "/export"}}, "spec.volumes[0]: volume 'data' has unsupported type 'nfs'"),
        ({"name": "data", "csi": {"driver": "x"}}, "spec.volumes[0]: volume 'data' has unsupported type 'csi'"),
    ],
)
def test_a_volume_edged_cannot_give_is_refused_with_the_field_named(volume: dict[str, Any], error: str) -> None:
    pod = parse_pod(make_pod(volumes=[volume]))

    assert pod.problem is not None and pod.problem.reason == "CreateContainerConfigError"
    assert pod.problem.message.startswith(error)


def test_labels_are_quoted_as_go_quotes_them_and_sorted() -> None:
    assert go_quote('a"b\\c\td\x01é') == '"a\\"b\\\\c\\td\\x01é"'
    assert format_map({"b": "2", "a": "1"}) == 'a="1"\nb="2"'
    assert format_map({}) == ""


def test_field_ref_env_gives_the_pods_fields_and_the_hosts_address(edge: Edge) -> None:
    edge.start()
    paths = ["metadata.name", "metadata.namespace", "metadata.uid", "metadata.labels['tier']", "spec.nodeName"]
    paths += ["status.hostIP", "status.hostIPs", "status.podIP"]
    env = [{"name": f"V{i}", "valueFrom": {"fieldRef": {"fieldPath": path}}} for i, path in enumerate(paths)]
    pod = labelled(make_pod(env=env), {"tier": "edge"})
    pod["spec"]["nodeName"] = "node-a"

    edge.deliver("insert", pod)

    [container] = edge.runtime.running()
    given = dict(item.split("=", 1) for item in edge.runtime.configs[container.id].env)
    host_ip = edge.status()["hostIP"]
    assert host_ip
    assert [given[f"V{i}"] for i in range(len(paths))] == ["web", "default", pod["metadata"]["uid"], "edge", "node-a"] + [host_ip] * 3


def test_a_field_ref_env_kubernetes_does_not_allow_is_refused_with_the_field_named() -> None:
    pod = parse_pod(make_pod(env=[{"name": "PHASE", "valueFrom": {"fieldRef": {"fieldPath": "status.phase"}}}]))

    [container] = pod.containers
    assert container.problem is not None and container.problem.reason == "CreateContainerConfigError"
    assert container.problem.message.startswith("spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: 'status.phase' is not one of")
