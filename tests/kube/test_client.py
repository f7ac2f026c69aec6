"""The official Kubernetes Python client against the embedded API server: list and watch from
a resourceVersion, 410 Gone, the status subresource, conflicts, the patch types, devices."""

from __future__ import annotations

from pathlib import Path

import kubernetes.client
import pytest
from kubernetes import watch
from kubernetes.client import ApiException, CoreV1Api, CustomObjectsApi

from tests.kube.site import KubeSite

DEVICES = ("devices.kubeedge.io", "v1alpha1")


def pod(name: str, node: str = "edge-node", **labels: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {"nodeName": node, "containers": [{"name": "main", "image": "busybox"}]},
    }


def test_a_watch_from_a_lists_resource_version_sees_every_later_change_in_order(kube: KubeSite) -> None:
    with kube.client() as api_client:
        core = CoreV1Api(api_client)
        core.create_namespaced_pod("default", pod("before"))
        listed = core.list_namespaced_pod("default")
        core.create_namespaced_pod("default", pod("a"))
        core.patch_namespaced_pod("a", "default", {"metadata": {"labels": {"x": "1"}}})
        core.delete_namespaced_pod("a", "default", grace_period_seconds=0)

        stream = watch.Watch().stream(
            core.list_namespaced_pod, "default", resource_version=listed.metadata.resource_version, timeout_seconds=2
        )
        events = [(event["type"], event["object"].metadata.name) for event in stream]

    assert [item.metadata.name for item in listed.items] == ["before"]
    assert events == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]


def test_a_watch_without_a_resource_version_starts_with_the_current_objects(kube: KubeSite) -> None:
    with kube.client() as api_client:
        core = CoreV1Api(api_client)
        core.create_namespaced_pod("default", pod("one"))
        events = [
            (e["type"], e["object"].metadata.name) for e in watch.Watch().stream(core.list_namespaced_pod, "default", timeout_seconds=1)
        ]
    assert events == [("ADDED", "one")]


def test_a_filtered_watch_sees_an_object_leave_its_selection_as_deleted(kube: KubeSite) -> None:
    with kube.client() as api_client:
        core = CoreV1Api(api_client)
        core.create_namespaced_pod("default", pod("p", app="web"))
        rv = core.list_namespaced_pod("default", label_selector="app=web").metadata.resource_version
        core.patch_namespaced_pod("p", "default", {"metadata": {"labels": {"app": "db"}}})
        core.patch_namespaced_pod("p", "default", {"metadata": {"labels": {"app": "web"}}})
        stream = watch.Watch().stream(core.list_namespaced_pod, "default", label_selector="app=web", resource_version=rv, timeout_seconds=1)
        events = [e["type"] for e in stream]
    assert events == ["DELETED", "ADDED"]


def test_a_watch_from_a_resource_version_older_than_the_window_gets_410_gone(tmp_path: Path) -> None:
    kube = KubeSite(tmp_path, watch_window=3)
    try:
        with kube.client() as api_client:
            core = CoreV1Api(api_client)
            old = core.list_namespaced_pod("default").metadata.resource_version
            for name in "abcd":
                core.create_namespaced_pod("default", pod(name))
            with pytest.raises(ApiException) as raised:
                list(watch.Watch().stream(core.list_namespaced_pod, "default", resource_version=old, timeout_seconds=1))
    finally:
        kube.stop()
    assert raised.value.status == 410
    assert "too old resource version" in str(raised.value.reason)


def test_after_a_restart_the_objects_are_kept_and_an_old_watch_gets_410(kube: KubeSite) -> None:
    with kube.client() as api_client:
        core = CoreV1Api(api_client)
        core.create_namespaced_pod("default", pod("kept"))
        rv = int(core.list_namespaced_pod("default").metadata.resource_version)
        core.create_namespaced_pod("default", pod("later"))
    kube.restart()
    with kube.client() as api_client:
        core = CoreV1Api(api_client)
        listed = core.list_namespaced_pod("default")
        with pytest.raises(ApiException) as raised:
            list(watch.Watch().stream(core.list_namespaced_pod, "default", resource_version=str(rv), timeout_seconds=1))
        created = core.create_namespaced_pod("default", pod("after"))
    assert [p.metadata.name for p in listed.items] == ["kept", "later"]
    assert raised.value.status == 410
    assert int(created.metadata.resource_version) > int(listed.metadata.resource_version)


def test_the_status_subresource_writes_only_the_status_and_the_main_endpoint_never_does(kube: KubeSite) -> None:
    with kube.client() as api_client:
        core = CoreV1Api(api_client)
        created = core.create_namespaced_pod("default", pod("p"))
        body = core.read_namespaced_pod("p", "default")
        body.status.phase = "Running"
        body.spec.containers[0].image = "changed-through-status"
        core.replace_namespaced_pod_status("p", "default", body)
        after_status = core.read_namespaced_pod("p", "default")
        assert after_status.status.phase == "Running" and after_status.spec.containers[0].image == "busybox"

        after_status.status.phase = "Failed"
        after_status.metadata.labels = {"changed": "yes"}
        core.replace_namespaced_pod("p", "default", after_status)
        after_main = core.read_namespaced_pod("p", "default")

    assert created.status.phase == "Pending"
    assert after_main.status.phase == "Running" and after_main.metadata.labels == {"changed": "yes"}


def test_an_update_with_a_stale_resource_version_is_a_409_conflict(kube: KubeSite) -> None:
    with kube.client() as api_client:
        core = CoreV1Api(api_client)
        core.create_namespaced_config_map("default", {"metadata": {"name": "c"}, "data": {"a": "1"}})
        first = core.read_namespaced_config_map("c", "default")
        second = core.read_namespaced_config_map("c", "default")
        first.data = {"a": "2"}
        core.replace_namespaced_config_map("c", "default", first)
        second.data = {"a": "3"}
        with pytest.raises(ApiException) as raised:
            core.replace_namespaced_config_map("c", "default", second)
        kept = core.read_namespaced_config_map("c", "default")
    assert raised.value.status == 409
    assert '"reason":"Conflict"' in raised.value.body.replace(" ", "")
    assert kept.data == {"a": "2"}


def test_create_twice_is_a_409_already_exists_and_a_missing_object_a_404(kube: KubeSite) -> None:
    with kube.client() as api_client:
        core = CoreV1Api(api_client)
        core.create_namespaced_pod("default", pod("p"))
        with pytest.raises(ApiException) as exists:
            core.create_namespaced_pod("default", pod("p"))
        with pytest.raises(ApiException) as missing:
            core.read_namespaced_pod("nope", "default")
    assert (exists.value.status, exists.value.reason) == (409, "Conflict")
    assert '"reason": "AlreadyExists"' in exists.value.body
    assert missing.value.status == 404 and 'pods \\"nope\\" not found' in missing.value.body


def test_json_patch_merge_patch_and_strategic_merge_patch_each_change_the_pod(kube: KubeSite) -> None:
    with kube.client() as api_client:
        core = CoreV1Api(api_client)
        core.create_namespaced_pod("default", pod("p", app="web"))
        core.patch_namespaced_pod("p", "default", [{"op": "add", "path": "/metadata/labels/tier", "value": "front"}])
        # A dict is sent as a strategic merge patch: the container is merged by its name.
        core.patch_namespaced_pod("p", "default", {"spec": {"containers": [{"name": "main", "image": "busybox:2"}]}})
        merge = "application/merge-patch+json"
        core.patch_namespaced_pod("p", "default", {"metadata": {"labels": {"app": None}}}, _content_type=merge)
        patched = core.read_namespaced_pod("p", "default")
    assert patched.metadata.labels == {"tier": "front"}
    assert [(c.name, c.image) for c in patched.spec.containers] == [("main", "busybox:2")]
    assert patched.metadata.generation == 2


def test_devices_and_device_models_are_custom_objects_of_devices_kubeedge_io(kube: KubeSite) -> None:
    model = {"apiVersion": "devices.kubeedge.io/v1alpha1", "kind": "DeviceModel", "metadata": {"name": "thermometer"},
             "spec": {"properties": [{"name": "temperature", "type": {"int": {"accessMode": "ReadOnly"}}}]}}  # fmt: skip
    device = {"apiVersion": "devices.kubeedge.io/v1alpha1", "kind": "Device", "metadata": {"name": "t1", "labels": {"room": "a"}},
              "spec": {"deviceModelRef": {"name": "thermometer"}}}  # fmt: skip
    with kube.client() as api_client:
        custom = CustomObjectsApi(api_client)
        custom.create_namespaced_custom_object(*DEVICES, "default", "devicemodels", model)
        custom.create_namespaced_custom_object(*DEVICES, "default", "devices", device)
        custom.patch_namespaced_custom_object(
            *DEVICES, "default", "devices", "t1", {"status": {"twins": [{"propertyName": "temperature"}]}}
        )
        listed = custom.list_namespaced_custom_object(*DEVICES, "default", "devices", label_selector="room=a")
    assert [item["metadata"]["name"] for item in listed["items"]] == ["t1"]
    assert listed["items"][0]["status"] == {"twins": [{"propertyName": "temperature"}]}
    assert kube.kubectl("get", "devices", "-o", "name").stdout.split() == ["device.devices.kubeedge.io/t1"]
    assert kube.kubectl("get", "devicemodels", "-o", "name").stdout.split() == ["devicemodel.devices.kubeedge.io/thermometer"]


def test_a_client_with_the_token_from_the_token_file_is_let_in_and_one_without_credentials_is_401(kube: KubeSite) -> None:
    configuration = kubernetes.client.Configuration()
    configuration.host = kube.server.url
    configuration.ssl_ca_cert = str(kube.certs / "ca.crt")
    anonymous = kubernetes.client.ApiClient(configuration)
    with pytest.raises(ApiException) as refused:
        CoreV1Api(anonymous).list_namespace()
    configuration.api_key = {"authorization": "Bearer s3cr3t-token-for-tests"}
    with kubernetes.client.ApiClient(configuration) as with_token:
        names = [ns.metadata.name for ns in CoreV1Api(with_token).list_namespace().items]
    anonymous.close()
    assert refused.value.status == 401 and '"reason": "Unauthorized"' in refused.value.body
    assert "default" in names


def test_an_update_that_changes_nothing_keeps_the_resource_version_and_no_watch_hears_of_it(kube: KubeSite) -> None:
    with kube.client() as api_client:
        core = CoreV1Api(api_client)
        core.create_namespaced_config_map("default", {"metadata": {"name": "c"}, "data": {"a": "1"}})
        before = core.read_namespaced_config_map("c", "default")
        core.replace_namespaced_config_map("c", "default", before)
        core.patch_namespaced_config_map("c", "default", {"data": {"a": "1"}})
        after = core.read_namespaced_config_map("c", "default")
        events = list(
            watch.Watch().stream(
                core.list_namespaced_config_map, "default", resource_version=before.metadata.resource_version, timeout_seconds=1
            )
        )
    assert after.metadata.resource_version == before.metadata.resource_version
    assert events == []
