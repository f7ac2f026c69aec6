"""Selectors as the Kubernetes API reads them, and the columns as it prints them."""

from __future__ import annotations

import pytest

from kubeedge_cloud.kube.errors import KubeApiError
from kubeedge_cloud.kube.selectors import field_selector, label_selector
from kubeedge_cloud.kube.tables import human_duration, node_roles, node_status, pod_status

WEB = {"metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}}, "spec": {"nodeName": "n1", "hostNetwork": True}}
DB = {"metadata": {"name": "db", "labels": {"app": "db"}}, "spec": {"nodeName": "n2"}}


@pytest.mark.parametrize(
    ("selector", "matching"),
    [
        ("app=web", ["web"]),
        ("app==web", ["web"]),
        ("app!=web", ["db"]),
        ("tier", ["web"]),
        ("!tier", ["db"]),
        ("app in (web, cache)", ["web"]),
        ("app notin (web)", ["db"]),
        ("app in (web,db),tier", ["web"]),
        ("", ["web", "db"]),
    ],
)
def test_label_selectors_choose_as_kubernetes_does(selector: str, matching: list[str]) -> None:
    test = label_selector(selector)
    assert [o["metadata"]["name"] for o in (WEB, DB) if test(o)] == matching


def test_field_selectors_read_dotted_paths_and_booleans_as_text() -> None:
    assert field_selector("spec.nodeName=n1")(WEB) and not field_selector("spec.nodeName=n1")(DB)
    assert field_selector("metadata.name!=web,spec.nodeName=n2")(DB)
    assert field_selector("spec.hostNetwork=true")(WEB)
    assert field_selector("spec.missing=")(DB)


def test_a_selector_that_cannot_be_read_is_a_400_naming_it() -> None:
    with pytest.raises(KubeApiError) as bad:
        label_selector("app in web")
    assert bad.value.code == 400 and "'app in web'" in bad.value.message
    with pytest.raises(KubeApiError) as bad_field:
        field_selector("spec.nodeName")
    assert bad_field.value.code == 400 and "spec.nodeName" in bad_field.value.message


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (119, "119s"), (125, "2m5s"), (600, "10m"), (3 * 3600 + 300, "3h5m"), (9 * 3600, "9h"), (50 * 3600, "2d2h"),
     (9 * 86400, "9d"), (800 * 86400, "2y70d")],
)  # fmt: skip
def test_ages_read_as_kubectl_prints_them(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text


def test_pod_status_says_what_kubectl_says() -> None:
    waiting = {"status": {"phase": "Pending", "containerStatuses": [{"state": {"waiting": {"reason": "ErrImagePull"}}}]}}
    done = {"status": {"phase": "Succeeded", "containerStatuses": [{"state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}}
    deleting = {"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}, "status": {"phase": "Running"}}
    assert [pod_status(p) for p in (waiting, done, deleting, {})] == ["ErrImagePull", "Completed", "Terminating", "Pending"]


def test_node_status_and_roles_come_from_the_ready_condition_and_the_role_labels() -> None:
    node = {
        "metadata": {"labels": {"node-role.kubernetes.io/edge": "", "node-role.kubernetes.io/agent": "", "other": "x"}},
        "spec": {"unschedulable": True},
        "status": {"conditions": [{"type": "Ready", "status": "False"}]},
    }
    assert node_status(node) == "NotReady,SchedulingDisabled"
    assert node_roles(node) == "agent,edge"
    assert (node_status({}), node_roles({})) == ("Unknown", "<none>")


def test_a_node_whose_ready_condition_is_unknown_prints_not_ready_as_kubectl_does() -> None:
    away = {"status": {"conditions": [{"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown"}]}}

    assert node_status(away) == "NotReady"
