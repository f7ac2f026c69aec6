"""The cloud controller on the Kubernetes API in a runtime of its own (modules ``controller`` and
``kubeapi``, a probe in the place of ``cloudhub``), pointed by ``kube.kubeconfig`` at a
:class:`~tests.kube.site.KubeSite` the test may restart. The test plays the edges: it sends
``controller`` what cloudhub would, and reads what went to cloudhub from the probe."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from kubernetes.client import ApiException, CoreV1Api

from kubeedge_actors import Message, ModuleSpec, Runtime
from kubeedge_actors.testing import Probe, ProbeActor, make_message, wait_until
from kubeedge_cloud.controller import ControllerActor
from kubeedge_cloud.devicecontroller import DeviceControllerActor
from kubeedge_cloud.hub import connection_event
from kubeedge_cloud.keys import cloud_defaults
from kubeedge_cloud.kube.actor import KubeApiActor
from kubeedge_cloud.kube.watcher import Watcher
from kubeedge_cloud.kube.writer import EDGE_ROLE_LABEL
from tests.kube.site import KubeSite

READY = {"type": "Ready", "status": "True", "reason": "EdgeReady", "message": "edge is posting ready status"}


def edge_node(name: str, cpu: str = "2", memory: str = "2Gi", ready: bool = True, **labels: str) -> dict[str, Any]:
    """A labelled edge Node with a status (written through /status after the create)."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {EDGE_ROLE_LABEL: "", **labels}},
        "status": {
            "conditions": [{**READY, "status": "True" if ready else "False"}],
            "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
            "capacity": {"cpu": cpu, "memory": memory, "pods": "110"},
        },
    }


def pod(name: str, node: str | None = "edge-1", *, cpu: str = "", uses: tuple[tuple[str, str], ...] = (), **spec: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "main", "image": "busybox"}
    if cpu:
        container["resources"] = {"requests": {"cpu": cpu}}
    volumes = [
        {"name": f"v{i}", "configMap": {"name": name_}} if kind == "ConfigMap" else {"name": f"v{i}", "secret": {"secretName": name_}}
        for i, (kind, name_) in enumerate(uses)
    ]
    body: dict[str, Any] = {"containers": [container], **spec}
    if node:
        body["nodeName"] = node
    if volumes:
        body["volumes"] = volumes
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": body}


class ControllerSite:
    """``start``/``stop`` the cloud side's runtime; ``kube`` (the API server) lives on between them."""

    def __init__(self, kube: KubeSite, *, devices: bool = False) -> None:
        """``devices``: module devicecontroller runs too (and kubeapi watches devices)."""
        self.kube = kube
        self.devices = devices
        self.probe = Probe("cloudhub")
        self.runtime: Runtime | None = None
        self.config = cloud_defaults().with_values(
            {
                "modules.enabled": ["controller", *(["devicecontroller"] if devices else []), "cloudhub", "kubeapi"],
                "cloudhub.database": str(kube.folder / "controller.db"),
                "kube.kubeconfig": str(kube.kubeconfig),
            }
        )

    def start(self) -> ControllerSite:
        probe = self.probe
        modules = {
            "controller": ModuleSpec(ControllerActor),
            "devicecontroller": ModuleSpec(DeviceControllerActor),
            "cloudhub": ModuleSpec(ProbeActor, name="cloudhub", group="cloudhub", make_kwargs=lambda _config: {"probe": probe}),
            "kubeapi": ModuleSpec(KubeApiActor),
        }
        self.runtime = Runtime(self.config, modules)
        self.runtime.start()
        return self

    def stop(self) -> None:
        if self.runtime is not None:
            self.runtime.stop()
            self.runtime = None

    def watchers(self) -> list[Watcher]:
        assert self.runtime is not None
        ref = self.runtime.actor_ref("kubeapi")
        assert ref is not None
        return list(ref.proxy().watchers.get())

    # -- the test plays the edges -------------------------------------------------------------

    def _to_controller(self, message: Message) -> None:
        assert self.runtime is not None
        self.runtime.router.send("controller", message)

    def connect(self, node: str, connected: bool = True) -> None:
        assert self.runtime is not None
        self.runtime.router.send_to_group("controller", connection_event(node, connected))

    def node_status(self, node: str, status: dict[str, Any]) -> None:
        content = {"UID": node, "Status": status, "ExtendResources": {}}
        self._to_controller(make_message("update", f"node/{node}/default/nodestatus/{node}", content, source="edged", group="meta"))

    def pod_status(self, node: str, name: str, uid: str, status: dict[str, Any], namespace: str = "default") -> None:
        content = {"UID": uid, "Name": name, "Status": status}
        self._to_controller(make_message("update", f"node/{node}/{namespace}/podstatus/{name}", content, source="edged", group="meta"))

    def twin_reported(self, node: str, device: str, twin: dict[str, Any]) -> None:
        """The edge's twin reports values (docs/protocol.md#5.4)."""
        content = {"event_id": "e", "timestamp": 1, "twin": twin}
        message = make_message("update", f"node/{node}/device/{device}/twin/edge_updated", content, source="twin", group="resource")
        assert self.runtime is not None
        self.runtime.router.send("devicecontroller", message)

    def acknowledge(self, delete: Message) -> None:
        """The edge's meta answers a delete with "OK" (docs/protocol.md#6.2)."""
        node = delete.resource.split("/")[1]
        reply = make_message("response", f"node/{node}/{delete.resource.split('/', 2)[2]}", "OK", source="metaManager", group="resource",
                             parent_id=delete.id)  # fmt: skip
        self._to_controller(reply)

    def sent(self) -> list[tuple[str, str]]:
        """What went to cloudhub so far: (operation, resource)."""
        return [(m.operation, m.resource) for m in self.probe.messages]

    def wait_sent(self, *expected: tuple[str, str], timeout_s: float = 30.0) -> Message:
        """Until the last of ``expected`` was sent, all of them in that order; returns it."""

        def found() -> Message | None:
            messages = self.probe.messages
            index = 0
            for message in messages:
                if index < len(expected) and (message.operation, message.resource) == expected[index]:
                    index += 1
                    if index == len(expected):
                        return message
            return None

        return self._wait(found, f"{expected} sent", timeout_s)

    def wait_message(self, matches: Callable[[Message], bool], what: str, timeout_s: float = 30.0) -> Message:
        """Until a message that ``matches`` was sent; returns the first. For what may come in
        more than one way (an ``insert``, or a reconnecting node's catch-up ``update``)."""
        return self._wait(lambda: next((m for m in self.probe.messages if matches(m)), None), what, timeout_s)

    def _wait(self, found: Callable[[], Message | None], what: str, timeout_s: float) -> Message:
        try:
            return wait_until(found, timeout_s, 0.02, what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; got {self.sent()}; {self.diagnosis()}") from None

    def wait_watched(self, kind: str, name: str, namespace: str = "default") -> None:
        """Until kubeapi's controller has the object from its watch: each kind has a watch of its
        own, so an object made before another may reach the controller after it."""
        assert self.runtime is not None
        ref = self.runtime.actor_ref("kubeapi")
        assert ref is not None
        wait_until(lambda: (kind, namespace, name) in ref.proxy().state.get(timeout=5).objects[kind], 30, 0.02, f"{kind} {name} watched")

    def diagnosis(self) -> str:
        """What kubeapi's controller knows, for a failure's message."""
        if self.runtime is None or (ref := self.runtime.actor_ref("kubeapi")) is None:
            return "kubeapi is not running"
        state = ref.proxy().state.get(timeout=5)
        watchers = [(w.kind, w.lists, w.failures, w.version) for w in ref.proxy().watchers.get(timeout=5)]
        return f"kubeapi: listed {sorted(state.listed)}, inventory {state.inventory}, sent {sorted(state.sent)}, watchers {watchers}"

    # -- the API, through the official client ------------------------------------------------------

    @contextmanager
    def core(self) -> Iterator[CoreV1Api]:
        with self.kube.client() as api_client:
            yield CoreV1Api(api_client)

    def create_node(self, node: dict[str, Any]) -> None:
        with self.core() as core:
            core.create_node(copy.deepcopy(node))
            current = core.read_node(node["metadata"]["name"])
            current.status = node["status"]
            core.replace_node_status(node["metadata"]["name"], current)

    def read_pod(self, name: str, namespace: str = "default") -> dict[str, Any] | None:
        """The pod as JSON (the client's models would insist on fields an edge need not report)."""
        with self.core() as core:
            try:
                return dict(json.loads(core.read_namespaced_pod(name, namespace, _preload_content=False).data))
            except ApiException as exc:
                if exc.status == 404:
                    return None
                raise

    def read_node(self, name: str) -> dict[str, Any] | None:
        with self.core() as core:
            try:
                return dict(json.loads(core.read_node(name, _preload_content=False).data))
            except ApiException as exc:
                if exc.status == 404:
                    return None
                raise


def ready_of(node: dict[str, Any] | None) -> str | None:
    conditions = ((node or {}).get("status") or {}).get("conditions") or []
    return next((c["status"] for c in conditions if c["type"] == "Ready"), None)
