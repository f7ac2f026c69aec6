"""Tier 1: a field edged does not implement is named in the pod's status, never silently
dropped (docs/protocol.md#7.11); the table in docs/protocol.md says the same as the code."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from actors.edged.pods import parse_pod
from actors.edged.support import CONTAINER_FIELDS, IGNORED, POD_FIELDS
from tests.edged.builders import make_pod
from tests.edged.conftest import Edge

PROTOCOL = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def with_spec(**fields: Any) -> dict[str, Any]:
    pod = make_pod()
    pod["spec"].update(fields)
    return pod


@pytest.mark.parametrize(
    ("pod", "warning"),
    [
        (
            with_spec(ephemeralContainers=[{"name": "debug", "image": "busybox"}]),
            "spec.ephemeralContainers: ignored (edged runs no ephemeral containers)",
        ),
        (with_spec(shareProcessNamespace=True), "spec.shareProcessNamespace: ignored"),
        (with_spec(hostAliases=[{"ip": "10.0.0.1", "hostnames": ["db"]}]), "spec.hostAliases: ignored"),
        (with_spec(os={"name": "windows"}), "spec.os: ignored (edged runs Linux containers)"),
        (with_spec(hostUsers=False), "spec.hostUsers: ignored"),
        (with_spec(securityContext={"fsGroup": 2000}), "spec.securityContext: ignored"),
        (make_pod(securityContext={"capabilities": {"add": ["NET_ADMIN"]}}), "spec.containers[0].securityContext.capabilities: ignored"),
        (make_pod(resources={"limits": {"nvidia.com/gpu": 1}}), "spec.containers[0].resources.limits.nvidia.com/gpu: ignored"),
        (make_pod(volumeDevices=[{"name": "b", "devicePath": "/dev/xvda"}]), "spec.containers[0].volumeDevices: ignored"),
        (make_pod(stdinOnce=True), "spec.containers[0].stdinOnce: ignored"),
        (with_spec(priorityClsName="high"), "spec.priorityClsName: unknown field, ignored"),
    ],
)
def test_a_field_edged_ignores_is_named_in_a_warning(pod: dict[str, Any], warning: str) -> None:
    parsed = parse_pod(pod)

    assert parsed.problem is None
    assert any(w.startswith(warning) for w in parsed.warnings), parsed.warnings


@pytest.mark.parametrize(
    "pod",
    [
        with_spec(shareProcessNamespace=False, hostUsers=True, os={"name": "linux"}, hostNetwork=True),
        with_spec(nodeSelector={"zone": "a"}, tolerations=[{"operator": "Exists"}], priority=10, dnsPolicy="ClusterFirst"),
        make_pod(ports=[{"containerPort": 80}], securityContext={"privileged": True, "runAsUser": 1000}, resources={"limits": {"cpu": 1}}),
    ],
)
def test_what_edged_does_or_needs_not_do_raises_no_warning(pod: dict[str, Any]) -> None:
    assert parse_pod(pod).warnings == ()


def test_the_warnings_reach_the_pod_status_message_the_cloud_shows(edge: Edge) -> None:
    edge.start()

    edge.deliver("insert", with_spec(ephemeralContainers=[{"name": "debug", "image": "busybox"}], shareProcessNamespace=True))

    status = edge.status()
    assert status["phase"] == "Running"
    assert status["message"].startswith("edged: spec.ephemeralContainers: ignored")
    assert "; spec.shareProcessNamespace: ignored" in status["message"]


def test_a_pod_without_warnings_has_no_status_message(edge: Edge) -> None:
    edge.start()

    edge.deliver("insert", make_pod())

    assert "message" not in edge.status()


def doc_table(title: str) -> dict[str, str]:
    """The field → group rows of the table under ``title`` in docs/protocol.md#7.11."""
    text = PROTOCOL.read_text()
    section = text[text.index('<a id="7.11"></a>') :]
    table = section[section.index(title) :].split("\n\n")[1]
    rows = [line.split("|")[1:3] for line in table.splitlines()[2:]]
    return {re.sub(r"`", "", field).strip(): group.strip() for field, group in rows}


def test_the_protocol_docs_list_every_field_as_the_code_treats_it() -> None:
    assert doc_table("**PodSpec**") == {name: support.group for name, support in POD_FIELDS.items()}
    assert doc_table("**Container**") == {name: support.group for name, support in CONTAINER_FIELDS.items()}
    assert any(s.group == IGNORED for s in POD_FIELDS.values())
