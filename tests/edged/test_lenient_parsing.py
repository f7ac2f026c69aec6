"""Tier 1, pure: edged reads what the original runs and refuses only what cannot run.

Each relaxed rule has a test here (parse_pod and the environment); what edged still refuses
is refused with the field named.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest

from actors.edged.containers import resolve_env
from actors.edged.errors import PodRejected
from actors.edged.identity import derived_uid
from actors.edged.model import POD_NAME_LABEL, POD_NAMESPACE_LABEL, POD_UID_LABEL, ContainerInfo
from actors.edged.pods import Pod, parse_pod, placed_by_containers
from actors.edged.records import PodRecord
from actors.edged.reporting import pod_list
from tests.edged.builders import make_configmap, make_pod


def bare_pod(name: str = "web", **container: Any) -> dict[str, Any]:
    """A pod whose metadata has a name and nothing else, as the original runs it."""
    return {"metadata": {"name": name}, "spec": {"containers": [{"name": "main", "image": "busybox:1.36", **container}]}}


def with_container(**fields: Any) -> dict[str, Any]:
    pod = make_pod(uid="u-1")
    pod["spec"]["containers"][0].update(fields)
    return pod


def problem_of(pod: Pod, index: int = 0) -> str:
    problem = pod.problem or pod.containers[index].problem
    assert problem is not None
    return f"{problem.reason}: {problem.message}"


# --- uid and namespace ---------------------------------------------------------------------------


def test_a_pod_without_a_uid_gets_one_derived_from_its_namespace_and_name() -> None:
    first, again = parse_pod(bare_pod(), "apps"), parse_pod(bare_pod(), "apps")

    assert first.uid == again.uid == derived_uid("apps", "web")
    assert uuid.UUID(first.uid).version == 5 and str(uuid.UUID(first.uid)) == first.uid  # shaped like a Kubernetes uid
    assert first.uid_derived and first.problem is None


def test_the_derived_uid_differs_between_namespaces_and_names() -> None:
    uids = {parse_pod(bare_pod("web"), "apps").uid, parse_pod(bare_pod("web"), "default").uid, parse_pod(bare_pod("db"), "apps").uid}

    assert len(uids) == 3


def test_a_uid_in_the_metadata_is_kept() -> None:
    pod = parse_pod(make_pod(uid="cloud-uid"))

    assert pod.uid == "cloud-uid" and not pod.uid_derived


@pytest.mark.parametrize(
    ("metadata_namespace", "resource_namespace", "namespace", "assumed"),
    [(None, "apps", "apps", False), ("team", "apps", "team", False), (None, "", "default", True), ("", "apps", "apps", False)],
    ids=["from-the-resource", "metadata-wins", "default-when-nothing-says", "empty-is-missing"],
)
def test_a_missing_namespace_is_the_resources_then_default(
    metadata_namespace: str | None, resource_namespace: str, namespace: str, assumed: bool
) -> None:
    content = bare_pod()
    if metadata_namespace is not None:
        content["metadata"]["namespace"] = metadata_namespace

    pod = parse_pod(content, resource_namespace)

    assert (pod.namespace, pod.namespace_assumed, pod.key) == (namespace, assumed, f"{namespace}/web")
    assert pod.uid == derived_uid(namespace, "web")


@pytest.mark.parametrize(
    ("metadata", "words"),
    [
        ({}, "needs a name"),
        ({"name": ""}, "needs a name"),
        ({"name": "a/b"}, "must not contain '/'"),
        ({"name": "web", "uid": 7}, "metadata.uid must be a string"),
        ({"name": "web", "namespace": ["apps"]}, "metadata.namespace must be a string"),
    ],
    ids=["no-name", "empty-name", "slash-in-name", "uid-not-a-string", "namespace-not-a-string"],
)
def test_only_a_pod_that_nothing_could_name_is_rejected(metadata: dict[str, Any], words: str) -> None:
    with pytest.raises(PodRejected, match=words):
        parse_pod({"metadata": metadata, "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]}})


def labelled(container_id: str, name: str, namespace: str, uid: str) -> ContainerInfo:
    labels = {POD_NAME_LABEL: name, POD_NAMESPACE_LABEL: namespace, POD_UID_LABEL: uid}
    return ContainerInfo(container_id, f"k8s_main_{name}", labels, "busybox", "sha256:x", "running")


def test_a_listed_pod_without_a_namespace_is_placed_where_its_containers_were_made() -> None:
    listed = parse_pod(bare_pod())  # meta's list: no resource, so default is assumed
    containers = [labelled("c1", "db", "apps", derived_uid("apps", "db")), labelled("c2", "web", "apps", derived_uid("apps", "web"))]

    placed = placed_by_containers(listed, containers)

    assert (placed.namespace, placed.uid, placed.namespace_assumed) == ("apps", derived_uid("apps", "web"), False)


def test_a_listed_pod_with_its_own_uid_is_placed_by_that_uid() -> None:
    content = bare_pod()
    content["metadata"]["uid"] = "cloud-uid"

    placed = placed_by_containers(
        parse_pod(content), [labelled("c1", "web", "other", "another-uid"), labelled("c2", "web", "apps", "cloud-uid")]
    )

    assert (placed.namespace, placed.uid) == ("apps", "cloud-uid")


def test_containers_of_another_pod_of_the_same_name_do_not_place_it() -> None:
    listed = parse_pod(bare_pod())

    placed = placed_by_containers(listed, [labelled("c1", "web", "apps", "a-uid-this-pod-would-not-have")])

    assert placed is listed


def test_a_pod_whose_namespace_was_given_is_never_moved() -> None:
    pod = parse_pod(bare_pod(), "team")

    assert placed_by_containers(pod, [labelled("c1", "web", "apps", derived_uid("apps", "web"))]) is pod


def test_the_pod_list_shows_the_namespace_and_uid_edged_runs_the_pod_under() -> None:
    pod = parse_pod(bare_pod(), "apps")

    [item] = pod_list([PodRecord(pod.uid, pod)])

    assert item["metadata"] == {"name": "web", "namespace": "apps", "uid": derived_uid("apps", "web")}


# --- names: what Docker takes ------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["main-", "Main", "my_app", "a.b", "-lead", "x" * 200, ""],
    ids=["trailing-dash", "uppercase", "underscore", "dot", "leading-dash", "long", "empty"],
)
def test_a_container_name_docker_accepts_is_accepted(name: str) -> None:
    pod = parse_pod(with_container(name=name))

    assert pod.problem is None and pod.containers[0].problem is None
    assert pod.containers[0].name == name


def test_a_container_without_a_name_runs_under_the_empty_name_as_in_the_original() -> None:
    content = make_pod(uid="u-1")
    del content["spec"]["containers"][0]["name"]

    assert parse_pod(content).containers[0].name == ""


@pytest.mark.parametrize("name", ["web app", "a:b", "café", "a/b"], ids=["space", "colon", "non-ascii", "slash"])
def test_a_container_name_docker_refuses_is_a_waiting_reason_naming_the_field_and_the_others_run(name: str) -> None:
    content = make_pod(uid="u-1")
    content["spec"]["containers"].append({"name": name, "image": "busybox:1.36"})

    pod = parse_pod(content)

    assert pod.problem is None and pod.containers[0].problem is None
    assert problem_of(pod, 1).startswith(f"CreateContainerConfigError: spec.containers[1].name: {name!r} cannot be part of a Docker")


@pytest.mark.parametrize(
    ("metadata", "field"),
    [({"name": "web app"}, "metadata.name"), ({"namespace": "my apps"}, "metadata.namespace"), ({"uid": "../up"}, "metadata.uid")],
    ids=["pod-name", "namespace", "uid"],
)
def test_a_pod_name_namespace_or_uid_docker_refuses_keeps_the_pod_with_a_reason_naming_the_field(
    metadata: dict[str, str], field: str
) -> None:
    content = make_pod(uid="u-1")
    content["metadata"].update(metadata)

    pod = parse_pod(content)

    assert [c.name for c in pod.containers] == ["main"]  # stored and reported, container by container
    assert problem_of(pod).startswith(f"CreateContainerConfigError: {field}: ")


def test_underscores_and_capitals_in_pod_names_are_docker_names_too() -> None:
    pod = parse_pod(make_pod("My_Web", namespace="Team_A", uid="u_1"))

    assert pod.problem is None


# --- spellings the original runs anyway ------------------------------------------------------------


@pytest.mark.parametrize(
    ("spelling", "policy", "noted"),
    [("never", "Never", False), ("ONFAILURE", "OnFailure", False), ("Sometimes", "Always", True), ("", "Always", False)],
    ids=["lowercase", "uppercase", "unknown-is-always", "empty-is-default"],
)
def test_a_restart_policy_is_read_in_any_case_and_an_unknown_one_runs_as_always(spelling: str, policy: str, noted: bool) -> None:
    content = make_pod(uid="u-1")
    content["spec"]["restartPolicy"] = spelling

    pod = parse_pod(content)

    assert pod.problem is None and pod.restart_policy == policy
    assert bool(pod.notes) == noted
    assert all("spec.restartPolicy: 'Sometimes'" in note for note in pod.notes)


@pytest.mark.parametrize(
    ("image", "spelling", "policy"),
    [("busybox:1.36", "always", "Always"), ("busybox:1.36", "Sometimes", "IfNotPresent"), ("busybox", "Sometimes", "Always")],
    ids=["lowercase", "unknown-tagged-is-if-not-present", "unknown-latest-is-always"],
)
def test_a_pull_policy_is_read_in_any_case_and_an_unknown_one_is_the_images_default(image: str, spelling: str, policy: str) -> None:
    pod = parse_pod(with_container(image=image, imagePullPolicy=spelling))

    assert pod.containers[0].problem is None and pod.containers[0].pull_policy == policy
    assert [("imagePullPolicy" in n) for n in pod.notes] == ([True] if spelling == "Sometimes" else [])


@pytest.mark.parametrize("volume", [{"name": "scratch"}, {"name": "scratch", "configMap": None}], ids=["no-source", "null-source"])
def test_a_volume_without_a_source_is_an_empty_dir_as_kubernetes_defaults_it(volume: dict[str, Any]) -> None:
    content = with_container(volumeMounts=[{"name": "scratch", "mountPath": "/scratch"}])
    content["spec"]["volumes"] = [volume]

    pod = parse_pod(content)

    assert pod.problem is None and pod.volumes["scratch"].kind == "emptyDir"


def test_a_negative_grace_period_stops_at_once_and_is_noted() -> None:
    content = make_pod(uid="u-1", grace_s=-5)

    pod = parse_pod(content)

    assert pod.problem is None and pod.grace_period_s == 0.0
    assert pod.notes and "terminationGracePeriodSeconds" in pod.notes[0]


# --- what still cannot run is refused, naming the field ---------------------------------------------


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"workingDir": "app"}, "spec.containers[0].workingDir: 'app' must be an absolute path"),
        (
            {"volumeMounts": [{"name": "data", "mountPath": "data"}]},
            "spec.containers[0].volumeMounts[0].mountPath: 'data' must be an absolute",
        ),
        ({"resources": {"limits": {"memory": "1Mi"}}}, "spec.containers[0].resources.limits.memory: 1048576 bytes is below"),
        ({"env": [{"name": "A=B", "value": "c"}]}, "spec.containers[0].env[0].name: 'A=B' cannot name a variable"),
        ({"env": [{"name": "", "value": "c"}]}, "spec.containers[0].env[0]: needs a name"),
        ({"resources": {"limits": {"cpu": "-1"}}}, "must not be negative"),
    ],
    ids=["relative-working-dir", "relative-mount-path", "memory-below-dockers-minimum", "equals-in-env-name", "empty-env-name", "negative"],
)
def test_what_docker_cannot_take_is_a_waiting_reason_naming_the_field(fields: dict[str, Any], words: str) -> None:
    content = with_container(**fields)
    content["spec"]["volumes"] = [{"name": "data", "emptyDir": {}}]

    pod = parse_pod(content)

    assert words in problem_of(pod)


@pytest.mark.parametrize("name", ["", ".", "..", "a/b"], ids=["empty", "dot", "dot-dot", "slash"])
def test_a_volume_name_that_cannot_name_a_folder_is_refused_naming_it(name: str) -> None:
    content = make_pod(uid="u-1")
    content["spec"]["volumes"] = [{"name": name, "emptyDir": {}}]

    assert "spec.volumes[0]" in problem_of(parse_pod(content))


# --- the environment -----------------------------------------------------------------------------


def env_of(content: dict[str, Any], objects: dict[str, dict[str, Any]] | None = None, index: int = 0) -> dict[str, str]:
    pod = parse_pod(content)
    assert pod.containers[index].problem is None, pod.containers[index].problem
    allocatable = (Decimal(4), Decimal(8 * 1024**3))
    return resolve_env(pod, pod.containers[index], lambda ref: (objects or {}).get(ref.name), "10.0.0.5", lambda: allocatable)


def test_variable_names_docker_takes_are_set_as_given() -> None:
    env = env_of(
        with_container(env=[{"name": "my.var", "value": "1"}, {"name": "1ST", "value": "2"}, {"name": "with space", "value": "3"}])
    )

    assert env == {"my.var": "1", "1ST": "2", "with space": "3"}


def test_env_from_keys_that_are_not_c_identifiers_are_set_as_relaxed_kubernetes_does() -> None:
    env = env_of(
        with_container(envFrom=[{"configMapRef": {"name": "conf"}}]), {"conf": make_configmap("conf", {"1KEY": "a", "log.level": "b"})}
    )

    assert env == {"1KEY": "a", "log.level": "b"}


def test_resource_field_refs_give_limits_and_requests_as_the_kubelet_does() -> None:
    resources = {"limits": {"cpu": "1500m", "memory": "256Mi"}, "requests": {"memory": "64Mi"}}
    refs = {
        "CPU_LIMIT": {"resource": "limits.cpu"},
        "CPU_LIMIT_MILLIS": {"resource": "limits.cpu", "divisor": "1m"},
        "CPU_REQUEST": {"resource": "requests.cpu"},  # not set: Kubernetes defaults a request to the limit
        "MEMORY_LIMIT_MI": {"resource": "limits.memory", "divisor": "1Mi"},
        "MEMORY_REQUEST": {"resource": "requests.memory"},
    }
    env = [{"name": name, "valueFrom": {"resourceFieldRef": ref}} for name, ref in refs.items()]

    assert env_of(with_container(resources=resources, env=env)) == {
        "CPU_LIMIT": "2",  # rounded up
        "CPU_LIMIT_MILLIS": "1500",
        "CPU_REQUEST": "2",
        "MEMORY_LIMIT_MI": "256",
        "MEMORY_REQUEST": str(64 * 1024 * 1024),
    }


def test_a_limit_that_is_not_set_is_the_nodes_allocatable_and_another_container_can_be_named() -> None:
    content = make_pod(uid="u-1")
    content["spec"]["containers"] = [
        {
            "name": "app",
            "image": "busybox:1.36",
            "env": [
                {
                    "name": "SIDE_MEM",
                    "valueFrom": {"resourceFieldRef": {"containerName": "side", "resource": "limits.memory", "divisor": "1Gi"}},
                }
            ],
        },
        {"name": "side", "image": "busybox:1.36"},
    ]
    content["spec"]["containers"][0]["env"].append({"name": "CPUS", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}})

    assert env_of(content) == {"SIDE_MEM": "8", "CPUS": "4"}


def test_a_resource_field_edged_cannot_give_is_refused_naming_it() -> None:
    env = [{"name": "DISK", "valueFrom": {"resourceFieldRef": {"resource": "limits.ephemeral-storage"}}}]

    assert "env[0].valueFrom.resourceFieldRef.resource" in problem_of(parse_pod(with_container(env=env)))
