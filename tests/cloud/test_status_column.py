"""What ``ctl get pods`` shows in its STATUS column while a pod's init containers run."""

from __future__ import annotations

from typing import Any

import pytest

from kubeedge_cloud.views import status_column


def init(state: dict[str, Any]) -> dict[str, Any]:
    return {"name": "i", "state": state}


DONE = init({"terminated": {"exitCode": 0, "reason": "Completed"}})


@pytest.mark.parametrize(
    ("phase", "inits", "shown"),
    [
        ("Pending", [DONE, init({"running": {}})], "Init:1/2"),
        ("Pending", [init({"waiting": {"reason": "PodInitializing"}})], "Init:0/1"),
        ("Pending", [init({"waiting": {"reason": "CrashLoopBackOff"}})], "Init:CrashLoopBackOff"),
        ("Failed", [DONE, init({"terminated": {"exitCode": 1, "reason": "Error"}})], "Init:Error"),
        ("Running", [DONE, DONE], "Running"),
        ("Pending", [], "Pending"),
    ],
    ids=["second-running", "first-waiting", "crash-looping", "failed", "initialized", "no-init-containers"],
)
def test_the_status_column_shows_init_progress_as_kubectl_does(phase: str, inits: list[dict[str, Any]], shown: str) -> None:
    status = {"phase": phase, "initContainerStatuses": inits}

    assert status_column(status, len(inits)) == shown
