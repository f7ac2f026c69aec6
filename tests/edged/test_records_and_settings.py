"""Tier 1: one record per pod, settings read once, one exception root, one dispatch style."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import actors.edged
from actors.edged import EdgedActor, EdgedSettings, events
from actors.edged.lifecycle import StartGates
from actors.edged.objects import FetchedObject, ObjectKey
from actors.edged.pods import ObjectRef, Problem, parse_pod
from actors.edged.records import PodTable
from actors.keys import edge_defaults
from kubeedge_actors.actor import ModuleActor
from kubeedge_actors.errors import KubeEdgeActorsError
from kubeedge_actors.scheduler import TimerHandle
from tests.edged.builders import make_pod
from tests.edged.conftest import Edge


def table() -> PodTable:
    return PodTable(StartGates(10.0, 300.0, 600.0))


def test_forgetting_a_pod_leaves_nothing_of_what_it_waited_for() -> None:
    pods = table()
    pod = parse_pod(make_pod(uid="u-1", grace_s=7))
    record, _ = pods.set_pod(pod)
    record.failures["main"] = record.waiting["main"] = Problem("ErrImagePull", "nope")
    record.gates.note_failure("main", "sync-1", 0.0)
    record.wake = (5.0, wake := TimerHandle())
    record.objects[ObjectKey("default", ObjectRef("secret", "s"))] = FetchedObject({})
    record.refresh_volumes = True

    pods.forget("u-1", 7.0)

    assert (record.pod, record.deletion_grace_s, record.deleted) == (None, 7.0, True)
    assert (record.failures, record.waiting, record.objects, record.wake) == ({}, {}, {}, None)
    assert wake.cancelled
    assert record.gates.blocked_until("main", 1.0) is None
    assert (record.status, record.sent, record.start_time) == (None, None, "")
    assert pods.uid_of("default/web") is None and pods.live_uids() == set()


def test_a_pod_given_again_after_its_delete_is_live_again_under_the_same_record() -> None:
    pods = table()
    pod = parse_pod(make_pod(uid="u-1"))
    record, _ = pods.set_pod(pod)
    pods.forget("u-1", 1.0)

    again, changed = pods.set_pod(pod)

    assert again is record and changed
    assert not record.deleted and record.start_time
    assert pods.uid_of("default/web") == "u-1"


def test_a_record_under_way_is_not_dropped_and_a_live_one_never() -> None:
    pods = table()
    pods.set_pod(parse_pod(make_pod("live", uid="u-live")))
    pods.forget("u-gone", 1.0)
    pods.record("u-gone").busy = True

    pods.drop("u-live")
    pods.drop("u-gone")
    kept = pods.uids()
    pods.record("u-gone").busy = False
    pods.drop("u-gone")

    assert kept == {"u-live", "u-gone"}
    assert pods.uids() == {"u-live"}


def test_a_pod_uses_its_namespaces_objects_and_pull_secrets_of_the_node_namespace() -> None:
    pods = table()
    volumes = [{"name": "conf", "configMap": {"name": "app-config"}}]
    apps = make_pod("web", namespace="apps", uid="u-1", volumes=volumes, volumeMounts=[{"name": "conf", "mountPath": "/etc/app"}])
    apps["spec"]["imagePullSecrets"] = [{"name": "regcred"}]
    pods.set_pod(parse_pod(apps))
    pods.set_pod(parse_pod(make_pod("db", uid="u-2")))

    def users(namespace: str, kind: str, name: str) -> list[str]:
        return [r.uid for r in pods.using(ObjectKey(namespace, ObjectRef(kind, name)), "default")]

    assert users("apps", "configmap", "app-config") == ["u-1"]
    assert users("default", "configmap", "app-config") == []
    assert users("default", "secret", "regcred") == ["u-1"]
    assert users("apps", "secret", "regcred") == []


def test_the_settings_are_the_configs_keys_typed_and_a_relative_root_beside_conf(tmp_path: Path) -> None:
    config = edge_defaults().with_values(
        {"edgehub.controller.node-id": "n-1", "edged.hostname-override": "host-1", "edged.server-port": 0, "edged.root-directory": "pods"}
    )

    settings = EdgedSettings.from_config(config)

    assert (settings.node_id, settings.node_name, settings.node_namespace) == ("n-1", "host-1", "default")
    assert settings.root_directory == config.base_dir / "pods"
    assert (settings.server_port, settings.node_status_interval_s, settings.max_dead_containers) == (0, 10.0, 1)
    assert (settings.image_gc_high_percent, settings.image_gc_low_percent) == (80, 40)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.node_id = "other"  # type: ignore[misc]


def test_the_actor_keeps_its_settings_and_reads_no_key_after_construction(edge: Edge) -> None:
    edge.harness.actor.module_config = None  # type: ignore[assignment]

    edge.start()
    edge.deliver("insert", make_pod())
    edge.advance(60)

    assert edge.status()["phase"] == "Running"
    assert edge.actor.settings.node_id == "node-a"


def edged_exceptions() -> list[type[BaseException]]:
    found = set()
    for info in pkgutil.iter_modules(actors.edged.__path__, "actors.edged."):
        module = importlib.import_module(info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__.startswith("actors.edged"):
                found.add(value)
    return sorted(found, key=lambda c: c.__qualname__)


@pytest.mark.parametrize("error", edged_exceptions(), ids=lambda c: c.__qualname__)
def test_every_error_edged_defines_derives_from_the_projects_root(error: type[BaseException]) -> None:
    assert issubclass(error, KubeEdgeActorsError)


def test_every_event_of_edged_has_its_handler_and_there_is_no_table_of_its_own() -> None:
    classes = [value for _, value in inspect.getmembers(events, inspect.isclass) if value.__module__ == events.__name__]
    internal = {value for value in classes if dataclasses.is_dataclass(value)} - {events.Tools}

    assert internal <= set(EdgedActor._module_event_handlers)
    assert EdgedActor.handle_internal is ModuleActor.handle_internal
