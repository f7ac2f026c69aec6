"""Objects and harnesses the meta tests share."""

from __future__ import annotations

import json
from typing import Any

from actors.keys import edge_defaults
from actors.meta import MetaActor
from kubeedge_actors.testing import ActorHarness
from tests.meta.fakes import FakeMetaStore


def pod(name: str, namespace: str = "default", **extra: Any) -> dict[str, Any]:
    """A v1.Pod as the cloud pushes it (keys deliberately unsorted)."""
    return {
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{namespace}-{name}"},
        "spec": {"nodeName": "edge-1", "containers": [{"name": "main", "image": "busybox"}], "restartPolicy": "Always"},
        "apiVersion": "v1",
        "kind": "Pod",
        **extra,
    }


def pod_status(name: str, phase: str = "Running") -> dict[str, Any]:
    """What edged reports for a pod (capitalised keys, docs/protocol.md#7.5)."""
    return {"UID": f"uid-{name}", "Name": name, "Status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True"}]}}


def configmap(name: str, namespace: str = "default") -> dict[str, Any]:
    return {"kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}, "data": {"a": "1"}}


def stored(content: Any) -> str:
    """The stored form: JSON with sorted keys (docs/protocol.md#6.1)."""
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def meta_harness(
    store: FakeMetaStore | None = None, *, connected: bool = False, interval_s: float = 60.0, **kwargs: Any
) -> ActorHarness[MetaActor]:
    config = edge_defaults().with_values({"metamanager.edgesite": connected, "meta.sync.podstatus.interval": interval_s})
    harness = ActorHarness(MetaActor, config, store=store if store is not None else FakeMetaStore(), **kwargs)
    harness.start()
    return harness


def fake_store(harness: ActorHarness[MetaActor]) -> FakeMetaStore:
    store = harness.actor.store
    assert isinstance(store, FakeMetaStore)
    return store
