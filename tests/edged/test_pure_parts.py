"""Tier 1: the pure parts of edged: image references, quantities, expansion, volume files, phase."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors.edged.containers import expand
from actors.edged.errors import ImageReferenceError, QuantityError
from actors.edged.images import default_pull_policy, normalize_registry, parse_image_ref, registry_auth_from_secret
from actors.edged.quantity import cpu_millis, memory_bytes
from actors.edged.status import pod_phase
from actors.edged.timefmt import docker_to_k8s, parse_docker_time
from actors.edged.volumes import PodFiles
from tests.edged.builders import pull_secret


@pytest.mark.parametrize(
    ("image", "registry", "repository", "tag"),
    [
        ("busybox", "docker.io", "busybox", None),
        ("library/busybox:1.36", "docker.io", "library/busybox", "1.36"),
        ("127.0.0.1:5000/app/web:v2", "127.0.0.1:5000", "127.0.0.1:5000/app/web", "v2"),
        ("localhost/app", "localhost", "localhost/app", None),
        ("registry.example.com/a/b@sha256:" + "0" * 64, "registry.example.com", "registry.example.com/a/b", None),
    ],
    ids=["bare-name", "hub-path-and-tag", "host-with-port", "localhost", "digest"],
)
def test_image_references_are_split_as_docker_does(image: str, registry: str, repository: str, tag: str | None) -> None:
    ref = parse_image_ref(image)

    assert (ref.registry, ref.repository, ref.tag) == (registry, repository, tag)


@pytest.mark.parametrize(
    "image",
    ["", "Busy Box", "app/UPPER:1", "app:tag:again", "app@sha256:xyz"],
    ids=["empty", "space", "uppercase-path", "two-tags", "bad-digest"],
)
def test_an_image_name_docker_would_refuse_is_refused(image: str) -> None:
    with pytest.raises(ImageReferenceError, match="invalid image name"):
        parse_image_ref(image)


@pytest.mark.parametrize(
    ("image", "policy"),
    [("app", "Always"), ("app:latest", "Always"), ("app:1.0", "IfNotPresent"), ("app@sha256:" + "a" * 64, "IfNotPresent")],
    ids=["no-tag", "latest", "tag", "digest"],
)
def test_the_default_pull_policy_is_kubernetes_own(image: str, policy: str) -> None:
    assert default_pull_policy(image) == policy


def test_registry_credentials_are_found_whatever_the_form_of_the_server_key() -> None:
    secret = pull_secret("regcred", "https://127.0.0.1:5000/v2/", "robot", "pw")

    auth = registry_auth_from_secret(secret, "127.0.0.1:5000")

    assert auth is not None and (auth.username, auth.password) == ("robot", "pw")
    assert "pw" not in repr(auth)
    assert registry_auth_from_secret(secret, "docker.io") is None
    assert normalize_registry("https://index.docker.io/v1/") == "docker.io"


@pytest.mark.parametrize(
    ("value", "millis"), [("100m", 100), ("0.5", 500), (2, 2000), ("1.0001", 1001)], ids=["milli", "fraction", "integer", "rounded-up"]
)
def test_cpu_quantities_become_millicores(value: object, millis: int) -> None:
    assert cpu_millis(value) == millis


@pytest.mark.parametrize(
    ("value", "size"), [("128Mi", 128 * 2**20), ("1G", 10**9), ("1e3", 1000), ("512", 512)], ids=["binary", "decimal", "exponent", "plain"]
)
def test_memory_quantities_become_bytes(value: str, size: int) -> None:
    assert memory_bytes(value) == size


@pytest.mark.parametrize("value", ["lots", "-1", "1Z", True], ids=["word", "negative", "unknown-suffix", "boolean"])
def test_a_bad_quantity_is_refused(value: object) -> None:
    with pytest.raises(QuantityError):
        memory_bytes(value)


@pytest.mark.parametrize(
    ("text", "expanded"),
    [
        ("$(A)-$(B)", "1-2"),
        ("$(MISSING)", "$(MISSING)"),
        ("$$(A)", "$(A)"),
        ("cost: $5", "cost: $5"),
        ("$(A", "$(A"),
    ],
    ids=["known", "unknown-kept", "escaped", "lone-dollar", "unclosed"],
)
def test_variable_references_expand_as_in_kubernetes(text: str, expanded: str) -> None:
    assert expand(text, {"A": "1", "B": "2"}) == expanded


def test_a_new_volume_version_replaces_the_old_one_in_one_rename(tmp_path: Path) -> None:
    files = PodFiles(tmp_path)
    folder = files.write_volume("u1", "configMap", "conf", {"a": (b"1", 0o644), "b": (b"2", 0o644)})
    first_version = (folder / "..data").resolve()

    files.write_volume("u1", "configMap", "conf", {"a": (b"3", 0o600)})

    assert (folder / "a").read_bytes() == b"3"
    assert (folder / "a").stat().st_mode & 0o777 == 0o600
    assert not (folder / "b").exists()
    assert not first_version.exists()
    assert (folder / "..data").is_symlink()


def test_an_unchanged_volume_is_not_rewritten(tmp_path: Path) -> None:
    files = PodFiles(tmp_path)
    folder = files.write_volume("u1", "secret", "creds", {"token": (b"x", 0o644)})
    version = (folder / "..data").resolve()

    files.write_volume("u1", "secret", "creds", {"token": (b"x", 0o644)})

    assert (folder / "..data").resolve() == version


@pytest.mark.parametrize(
    ("policy", "states", "phase"),
    [
        ("Always", [{"running": {}}], "Running"),
        ("Always", [{"waiting": {"reason": "ContainerCreating"}}], "Pending"),
        ("Always", [{"terminated": {"exitCode": 0}}], "Running"),
        ("OnFailure", [{"terminated": {"exitCode": 0}}], "Succeeded"),
        ("OnFailure", [{"terminated": {"exitCode": 1}}], "Running"),
        ("Never", [{"terminated": {"exitCode": 0}}, {"terminated": {"exitCode": 2}}], "Failed"),
        ("Never", [{"running": {}}, {"terminated": {"exitCode": 0}}], "Running"),
    ],
    ids=["running", "creating", "always-restarting", "onfailure-done", "onfailure-restarting", "never-one-failed", "one-still-running"],
)
def test_the_pod_phase_follows_kubernetes_get_phase(policy: str, states: list[dict[str, object]], phase: str) -> None:
    statuses = [{"state": state, "lastState": {}} for state in states]

    assert pod_phase(policy, statuses, len(statuses)) == phase


def test_docker_times_become_kubernetes_times_and_the_zero_time_none() -> None:
    assert docker_to_k8s("2026-11-27T14:07:12.123456789Z") == "2026-11-27T14:07:12Z"
    assert parse_docker_time("0001-01-01T00:00:00Z") is None
