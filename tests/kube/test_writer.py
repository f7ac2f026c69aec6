"""The controller's writes into the API (docs/protocol.md#12.5) against the embedded server,
through the official client: a conflict re-reads and retries, grace-0 deletes name the uid."""

from __future__ import annotations

import json
from typing import Any

from kubernetes.client import CoreV1Api

from kubeedge_cloud.kube.writer import KubeWriter
from tests.kube.controller_site import edge_node, pod
from tests.kube.site import KubeSite

RUNNING = {"phase": "Running", "startTime": "2026-01-01T00:00:00Z", "conditions": [{"type": "Ready", "status": "True"}]}


class InterruptedWriter(KubeWriter):
    """Someone else writes the object right after each of the first ``times`` reads: a real 409."""

    def __init__(self, core: CoreV1Api, times: int) -> None:
        super().__init__(core.api_client)
        self.core = core
        self.times = times
        self.reads = 0

    def _get(self, path: str) -> dict[str, Any] | None:
        found = super()._get(path)
        self.reads += 1
        if self.reads <= self.times and found is not None:
            name = found["metadata"]["name"]
            if "/pods/" in path:
                self.core.patch_namespaced_pod(name, "default", {"metadata": {"labels": {f"by-other-{self.reads}": "yes"}}})
            else:
                self.core.patch_node(name, {"metadata": {"labels": {f"by-other-{self.reads}": "yes"}}})
        return found


def raw_pod(core: CoreV1Api, name: str) -> dict[str, Any]:
    return dict(json.loads(core.read_namespaced_pod(name, "default", _preload_content=False).data))


def test_a_pod_status_write_that_meets_a_conflict_reads_again_and_keeps_the_other_writers_change(kube: KubeSite) -> None:
    with kube.client() as api_client:
        core = CoreV1Api(api_client)
        core.create_node(edge_node("edge-1"))
        core.create_namespaced_pod("default", pod("web"))
        writer = InterruptedWriter(core, times=2)

        writer.pod_status("edge-1", "default", "web", RUNNING)
        written = raw_pod(core, "web")

    assert writer.reads == 3  # two conflicts, then the write
    assert written["status"]["phase"] == "Running"
    assert written["metadata"]["labels"] == {"by-other-1": "yes", "by-other-2": "yes"}


def test_a_node_status_write_that_meets_a_conflict_reads_again(kube: KubeSite) -> None:
    with kube.client() as api_client:
        core = CoreV1Api(api_client)
        core.create_node(edge_node("edge-1"))
        writer = InterruptedWriter(core, times=1)

        writer.node_status("edge-1", {"Status": {"conditions": [{"type": "Ready", "status": "True"}]}, "ExtendResources": {}})
        node = json.loads(core.read_node("edge-1", _preload_content=False).data)

    assert node["status"]["conditions"] == [{"type": "Ready", "status": "True"}]
    assert node["metadata"]["labels"]["by-other-1"] == "yes"


def test_a_status_for_a_pod_on_another_node_is_not_written(kube: KubeSite) -> None:
    with kube.client() as api_client:
        core = CoreV1Api(api_client)
        core.create_namespaced_pod("default", pod("web", "edge-2"))

        KubeWriter(api_client).pod_status("edge-1", "default", "web", RUNNING)

        assert raw_pod(core, "web")["status"]["phase"] == "Pending"


def test_a_grace_zero_delete_spares_a_new_pod_of_the_same_name(kube: KubeSite) -> None:
    with kube.client() as api_client:
        core = CoreV1Api(api_client)
        old_uid = core.create_namespaced_pod("default", pod("web", None)).metadata.uid
        core.delete_namespaced_pod("web", "default", grace_period_seconds=0)
        new_uid = core.create_namespaced_pod("default", pod("web", None)).metadata.uid

        KubeWriter(api_client).delete_pod_now("default", "web", old_uid)

        assert raw_pod(core, "web")["metadata"]["uid"] == new_uid
