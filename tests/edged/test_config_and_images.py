"""Tier 1: configmaps and secrets as volumes and environment; image pulls; bad pod specs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from actors.testing import cloud_message
from tests.edged.builders import make_configmap, make_pod, make_secret, pull_secret
from tests.edged.conftest import Edge

CONFIG_VOLUME = [{"name": "conf", "configMap": {"name": "app-config"}}]
CONFIG_MOUNT = [{"name": "conf", "mountPath": "/etc/app"}]


def volume_dir(edge: Edge, pod: dict[str, Any], plugin: str = "kubernetes.io~configmap", volume: str = "conf") -> Path:
    return edge.root / "pods" / pod["metadata"]["uid"] / "volumes" / plugin / volume


def test_a_configmap_volume_is_written_with_the_default_mode_and_bind_mounted(edge: Edge) -> None:
    edge.objects.put("default", "configmap", "app-config", make_configmap("app-config", {"app.conf": "level=debug"}))
    edge.start()
    pod = make_pod(volumes=CONFIG_VOLUME, volumeMounts=CONFIG_MOUNT)

    edge.deliver("insert", pod)

    folder = volume_dir(edge, pod)
    assert (folder / "app.conf").read_text() == "level=debug"
    assert (folder / "app.conf").stat().st_mode & 0o777 == 0o644  # docs/protocol.md#13.4: defaultMode 420
    [container] = edge.runtime.running()
    [mount] = [m for m in edge.runtime.configs[container.id].mounts if m.target != "/dev/termination-log"]
    assert (mount.source, mount.target, mount.read_only) == (str(folder), "/etc/app", False)


def test_a_changed_configmap_rewrites_the_mounted_files(edge: Edge) -> None:
    edge.objects.put("default", "configmap", "app-config", make_configmap("app-config", {"app.conf": "v1"}))
    edge.start()
    pod = make_pod(volumes=CONFIG_VOLUME, volumeMounts=CONFIG_MOUNT)
    edge.deliver("insert", pod)
    [container] = edge.runtime.running()

    changed = make_configmap("app-config", {"app.conf": "v2", "extra.conf": "x"})
    edge.objects.put("default", "configmap", "app-config", changed)
    edge.deliver("update", changed, kind="configmap")

    assert (volume_dir(edge, pod) / "app.conf").read_text() == "v2"
    assert (volume_dir(edge, pod) / "extra.conf").read_text() == "x"
    assert edge.runtime.running() == [container]


def test_secret_volume_items_land_at_their_paths_with_their_modes(edge: Edge) -> None:
    edge.objects.put("default", "secret", "creds", make_secret("creds", {"token": "s3cret", "unused": "x"}))
    edge.start()
    volumes = [{"name": "creds", "secret": {"secretName": "creds", "items": [{"key": "token", "path": "auth/token", "mode": 0o400}]}}]
    pod = make_pod(volumes=volumes, volumeMounts=[{"name": "creds", "mountPath": "/run/creds", "readOnly": True}])

    edge.deliver("insert", pod)

    folder = volume_dir(edge, pod, "kubernetes.io~secret", "creds")
    assert (folder / "auth" / "token").read_text() == "s3cret"
    assert (folder / "auth" / "token").stat().st_mode & 0o777 == 0o400
    assert not (folder / "unused").exists()


def test_environment_comes_from_configmaps_secrets_fields_and_literals(edge: Edge) -> None:
    edge.objects.put("default", "configmap", "app-config", make_configmap("app-config", {"LEVEL": "debug", "MODE": "edge"}))
    edge.objects.put("default", "secret", "creds", make_secret("creds", {"password": "pw"}))
    edge.start()
    env = [
        {"name": "GREETING", "value": "hello $(MODE)"},
        {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    ]
    pod = make_pod(env=env, envFrom=[{"configMapRef": {"name": "app-config"}, "prefix": "CFG_"}, {"configMapRef": {"name": "app-config"}}])

    edge.deliver("insert", pod)

    [container] = edge.runtime.running()
    environment = dict(item.split("=", 1) for item in edge.runtime.configs[container.id].env)
    assert environment == {
        "CFG_LEVEL": "debug",
        "CFG_MODE": "edge",
        "LEVEL": "debug",
        "MODE": "edge",
        "GREETING": "hello edge",
        "PASSWORD": "pw",
        "POD": "web",
    }


def test_a_missing_configmap_gives_a_clear_waiting_reason_and_the_pod_starts_when_it_arrives(edge: Edge) -> None:
    edge.start()
    pod = make_pod(env=[{"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "late", "key": "level"}}}])
    edge.deliver("insert", pod)
    assert edge.runtime.running() == []
    assert edge.waiting_reason() == "CreateContainerConfigError"
    assert 'configmap "late" not found' in edge.container_state()["waiting"]["message"]

    late = make_configmap("late", {"level": "info"})
    edge.objects.put("default", "configmap", "late", late)
    edge.deliver("insert", late, kind="configmap")

    assert len(edge.runtime.running()) == 1


def test_a_missing_configmap_volume_keeps_the_pod_creating_with_a_message(edge: Edge) -> None:
    edge.start()

    edge.deliver("insert", make_pod(volumes=CONFIG_VOLUME, volumeMounts=CONFIG_MOUNT))

    assert edge.waiting_reason() == "ContainerCreating"
    assert 'configmap "app-config" not found' in edge.container_state()["waiting"]["message"]


def test_an_optional_missing_configmap_is_skipped(edge: Edge) -> None:
    edge.start()

    edge.deliver("insert", make_pod(envFrom=[{"configMapRef": {"name": "absent", "optional": True}}]))

    assert len(edge.runtime.running()) == 1


def test_a_present_image_is_not_pulled_under_if_not_present(edge: Edge) -> None:
    edge.start()

    edge.deliver("insert", make_pod(image="kubeedge-actors/busybox:test"))

    assert edge.runtime.pulls == []
    assert len(edge.runtime.running()) == 1


@pytest.mark.parametrize(
    ("image", "policy", "pulled"),
    [
        ("registry.local/app", None, True),
        ("registry.local/app:latest", None, True),
        ("registry.local/app:1.0", None, False),
        ("registry.local/app:1.0", "Always", True),
        ("registry.local/app:latest", "IfNotPresent", False),
    ],
    ids=[
        "no-tag-defaults-to-always",
        "latest-defaults-to-always",
        "tag-defaults-to-if-not-present",
        "explicit-always",
        "explicit-if-not-present",
    ],
)
def test_the_pull_policy_defaults_as_kubernetes_does(edge: Edge, image: str, policy: str | None, pulled: bool) -> None:
    edge.runtime.images.add(image)
    edge.runtime.registry[image] = None
    edge.start()
    fields = {"imagePullPolicy": policy} if policy else {}

    edge.deliver("insert", make_pod(image=image, **fields))

    assert [p[0] for p in edge.runtime.pulls] == ([image] if pulled else [])
    assert len(edge.runtime.running()) == 1


def test_a_missing_image_shows_err_image_pull_then_image_pull_back_off_and_is_retried(edge: Edge) -> None:
    edge.start()
    edge.deliver("insert", make_pod(image="registry.local/missing:1.0"))
    assert edge.waiting_reason() == "ErrImagePull"
    assert "manifest unknown" in edge.container_state()["waiting"]["message"]

    edge.advance(3)
    assert edge.waiting_reason() == "ImagePullBackOff"
    assert len(edge.runtime.pulls) == 1

    edge.runtime.registry["registry.local/missing:1.0"] = None
    edge.advance(8)
    assert len(edge.runtime.pulls) == 2
    assert edge.status()["phase"] == "Running"


def test_image_pull_secrets_are_read_from_the_node_namespace(edge: Edge) -> None:
    image = "registry.local:5000/private/app:1.0"
    edge.runtime.registry[image] = "robot"
    edge.objects.put("default", "secret", "regcred", pull_secret("regcred", "registry.local:5000", "robot", "pw"))
    edge.start()
    pod = make_pod(namespace="apps", image=image)
    pod["spec"]["imagePullSecrets"] = [{"name": "regcred"}]

    edge.deliver("insert", pod)

    [(_, auth)] = edge.runtime.pulls
    assert auth is not None and (auth.username, auth.password) == ("robot", "pw")
    assert "default/secret/regcred" in edge.objects.fetches
    assert len(edge.runtime.running()) == 1


def test_a_pull_without_the_needed_credentials_fails_clearly(edge: Edge) -> None:
    image = "registry.local:5000/private/app:1.0"
    edge.runtime.registry[image] = "robot"
    edge.start()

    edge.deliver("insert", make_pod(image=image))

    assert edge.waiting_reason() == "ErrImagePull"
    assert "no basic auth credentials" in edge.container_state()["waiting"]["message"]


def test_never_pull_policy_with_an_absent_image_says_so(edge: Edge) -> None:
    edge.start()

    edge.deliver("insert", make_pod(image="registry.local/absent:1", imagePullPolicy="Never"))

    assert edge.waiting_reason() == "ErrImageNeverPull"
    assert edge.runtime.pulls == []


@pytest.mark.parametrize(
    ("change", "reason", "words"),
    [
        ({"image": ""}, "CreateContainerConfigError", "needs an image"),
        ({"image": "Bad Image!"}, "InvalidImageName", "invalid image name"),
        ({"command": "sleep 10"}, "CreateContainerConfigError", "command: must be a list of strings"),
        ({"resources": {"limits": {"memory": "lots"}}}, "CreateContainerConfigError", "'lots' is not a quantity"),
        ({"volumeMounts": [{"name": "nope", "mountPath": "/x"}]}, "CreateContainerConfigError", "no volume named 'nope'"),
    ],
    ids=["missing-image", "invalid-image-name", "command-not-a-list", "bad-quantity", "mount-of-unknown-volume"],
)
def test_a_bad_container_spec_gives_a_clear_waiting_reason(edge: Edge, change: dict[str, Any], reason: str, words: str) -> None:
    edge.start()
    pod = make_pod()
    pod["spec"]["containers"][0].update(change)

    edge.deliver("insert", pod)

    assert edge.runtime.containers == {}
    assert edge.status()["phase"] == "Pending"
    assert edge.waiting_reason() == reason
    assert words in edge.container_state()["waiting"]["message"]


@pytest.mark.parametrize(
    ("spec_change", "words"),
    [
        ({"volumes": [{"name": "data", "nfs": {"server": "x"}}]}, "unsupported type 'nfs'"),
        ({"containers": []}, "at least one container"),
    ],
    ids=["unknown-volume-type", "no-containers"],
)
def test_a_bad_pod_spec_gives_a_clear_status(edge: Edge, spec_change: dict[str, Any], words: str) -> None:
    edge.start()
    pod = make_pod()
    pod["spec"].update(spec_change)

    edge.deliver("insert", pod)

    status = edge.status()
    assert status["phase"] == "Pending"
    messages = [s["state"]["waiting"]["message"] for s in status["containerStatuses"]] or [status["message"]]
    assert all(words in m for m in messages)


def test_content_that_is_not_a_pod_is_rejected_and_edged_keeps_serving(edge: Edge) -> None:
    edge.start()

    edge.harness.deliver(cloud_message("insert", "default/pod/x", "not json"))
    edge.deliver("insert", make_pod())

    assert len(edge.runtime.running()) == 1


def test_a_pod_folder_that_cannot_be_made_gives_a_clear_waiting_message(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where edged.root-directory should be")
    edge = Edge(tmp_path / "edge", **{"edged.root-directory": str(blocker)})
    edge.start()

    edge.deliver("insert", make_pod())

    assert edge.waiting_reason() == "ContainerCreating"
    assert "cannot create the pod's folder" in edge.container_state()["waiting"]["message"]
