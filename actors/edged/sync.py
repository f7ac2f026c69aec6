"""Carrying out a :class:`PodPlan` on a worker thread (docs/protocol.md#7.1, addition and deletion workers).

Everything here blocks (Docker, files); it touches no actor state, never waits on another
module (the configmaps and secrets come with the job, :mod:`actors.edged.objects`), and
returns a :class:`PodSyncResult` the actor applies on its own thread.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from actors.edged.containers import build_container_config, resolve_env
from actors.edged.downward import volume_files
from actors.edged.errors import (
    ContainerConfigError,
    ContainerNotFoundError,
    ContainerRuntimeError,
    EdgedError,
    ImageNeverPulledError,
    ImagePullError,
    ObjectFetchError,
    PullSecretError,
    RuntimeUnavailableError,
    VolumeError,
)
from actors.edged.images import parse_image_ref, registry_auth_from_secret
from actors.edged.inventory import Observation
from actors.edged.lifecycle import PodPlan, StartContainer
from actors.edged.model import ContainerConfig, ContainerRuntime, Mount, RegistryAuth
from actors.edged.objects import JobObjects, ObjectKey, ObjectNeeded
from actors.edged.pods import ObjectRef, Pod, Problem, Volume
from actors.edged.volumes import PodFiles

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ContainerOutcome:
    """What happened to one container start."""

    name: str
    problem: Problem | None = None


@dataclass(frozen=True)
class PodSyncResult:
    uid: str
    outcomes: tuple[ContainerOutcome, ...] = ()
    observations: tuple[Observation, ...] = ()
    runtime_down: str = ""
    failed_kills: tuple[str, ...] = field(default=())
    #: Objects the job needed and was not given: it stopped there (the actor fetches them).
    needs: frozenset[ObjectKey] = frozenset()


@dataclass(frozen=True)
class SyncContext:
    """The adapters a job uses, and the node facts it needs."""

    runtime: ContainerRuntime
    files: PodFiles
    objects: JobObjects
    node_namespace: str
    host_ip: str
    next_seq: Callable[[], int]
    record_image_use: Callable[[str, bool], None] = lambda image, pulled: None
    #: Set when edged stops: a job still running makes nothing new (a stopped edged adopts at
    #: its next start what exists, but should not leave behind what it never saw).
    stopping: threading.Event = field(default_factory=threading.Event)


def run_pod_sync(plan: PodPlan, pod: Pod | None, context: SyncContext) -> PodSyncResult:
    """Kill, then set up volumes and start, as the plan says."""
    try:
        return _run(plan, pod, context)
    except RuntimeUnavailableError as exc:
        return PodSyncResult(plan.uid, runtime_down=str(exc))


def _run(plan: PodPlan, pod: Pod | None, context: SyncContext) -> PodSyncResult:
    seen: list[Observation] = []
    failed = _kill(plan, context, seen)
    if plan.remove_pod_dir:
        context.files.remove_pod(plan.uid)
    done = PodSyncResult(plan.uid, observations=tuple(seen), failed_kills=tuple(failed))
    if pod is None or not (plan.starts or plan.refresh_volumes):
        return done
    try:
        volume_paths = prepare_volumes(pod, context)
    except (VolumeError, ObjectFetchError) as exc:
        problem = Problem("ContainerCreating", f"MountVolume.SetUp failed: {exc}")
        return replace(done, outcomes=tuple(ContainerOutcome(start.spec.name, problem=problem) for start in plan.starts))
    except ObjectNeeded as needed:
        return replace(done, needs=needed.keys)
    credentials = _PullCredentials(pod, context)
    outcomes: list[ContainerOutcome] = []
    needs: frozenset[ObjectKey] = frozenset()
    for start in plan.starts:
        try:
            outcomes.append(start_container(pod, start, volume_paths, credentials, context, seen=seen))
        except ObjectNeeded as needed:  # what is done stays done; the rest waits for the objects
            needs = needed.keys
            break
    return replace(done, outcomes=tuple(outcomes), observations=tuple(seen), needs=needs)


def _kill(plan: PodPlan, context: SyncContext, seen: list[Observation]) -> list[str]:
    """Stop (and remove) the plan's containers; returns those that could not be stopped."""
    runtime = context.runtime
    failed: list[str] = []
    for kill in plan.kills:
        try:
            runtime.stop_container(kill.container_id, kill.grace_s)
            if kill.remove:
                runtime.remove_container(kill.container_id)
                seen.append((context.next_seq(), kill.container_id, None))
            else:
                seen.append(_observe(kill.container_id, context))
        except ContainerNotFoundError:
            seen.append((context.next_seq(), kill.container_id, None))
        except RuntimeUnavailableError:
            raise
        except ContainerRuntimeError as exc:
            logger.warning("edged: pod %s: could not stop %s: %s", plan.uid, kill.container_id[:12], exc)
            failed.append(kill.container_id)
    return failed


def _observe(container_id: str, context: SyncContext) -> Observation:
    seq = context.next_seq()  # numbered before looking (see inventory.py)
    return seq, container_id, context.runtime.inspect_container(container_id)


def prepare_volumes(pod: Pod, context: SyncContext) -> dict[str, str]:
    """Create the pod's folders and every volume; returns volume name → host path."""
    try:
        context.files.ensure_pod_dirs(pod.uid)
    except OSError as exc:
        raise VolumeError(f"cannot create the pod's folder under {context.files.pods_dir}: {exc}") from exc
    return {volume.name: _prepare_volume(pod, volume, context) for volume in pod.volumes.values()}


def _prepare_volume(pod: Pod, volume: Volume, context: SyncContext) -> str:
    files = context.files
    if volume.kind == "emptyDir":
        return str(files.ensure_empty_dir(pod.uid, volume.name))
    if volume.kind == "hostPath":
        return _host_path(volume)
    wanted = volume_files(pod, volume, lambda ref: context.objects.get(pod.namespace, ref))  # docs/protocol.md#7.10
    try:
        return str(files.write_volume(pod.uid, volume.kind, volume.name, wanted))
    except OSError as exc:
        raise VolumeError(f'volume "{volume.name}": cannot write its files: {exc}') from exc


def _host_path(volume: Volume) -> str:
    path, kind = Path(volume.host_path), volume.host_path_type
    try:
        if kind in ("", "DirectoryOrCreate") and not path.exists():
            path.mkdir(mode=0o755, parents=True)  # what `docker run -v` does with a missing path
        elif kind == "FileOrCreate" and not path.exists():
            path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            path.touch(mode=0o644)
    except OSError as exc:
        raise VolumeError(f'volume "{volume.name}": cannot create {path}: {exc}') from exc
    checks = {"Directory": path.is_dir, "File": path.is_file, "Socket": path.is_socket}
    if kind in checks and not checks[kind]():
        raise VolumeError(f'volume "{volume.name}": hostPath {path} is not a {kind.lower()}')
    return str(path)


class _PullCredentials:
    """Image pull secrets, read once per job and only when a pull needs them (docs/protocol.md#7.1 step 4:
    looked up in the node's namespace); the first pull that needs them ends the job with
    :class:`ObjectNeeded` unless the actor fetched them already."""

    def __init__(self, pod: Pod, context: SyncContext) -> None:
        self._pod = pod
        self._context = context
        self._secrets: list[Mapping[str, Any]] | None = None

    def for_image(self, image: str) -> RegistryAuth | None:
        if self._secrets is None:
            self._secrets = self._read()
        registry = parse_image_ref(image).registry
        for secret in self._secrets:
            try:
                auth = registry_auth_from_secret(secret, registry)
            except PullSecretError as exc:
                logger.warning("edged: pod %s: unusable image pull secret: %s", self._pod.key, exc)
                continue
            if auth is not None:
                return auth
        return None

    def _read(self) -> list[Mapping[str, Any]]:
        names = self._pod.pull_secrets
        keys = [ObjectKey(self._context.node_namespace, ObjectRef("secret", name)) for name in names]
        secrets = []
        for name, secret in zip(names, self._context.objects.get_all(keys), strict=True):
            if secret is None:
                logger.warning("edged: pod %s: image pull secret %s not found; pulling without it", self._pod.key, name)
            else:
                secrets.append(secret)
        return secrets


class _StartFailed(EdgedError):
    """One step of a start failed; carries the waiting reason to report."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.problem = Problem(reason, message)


def start_container(
    pod: Pod,
    start: StartContainer,
    volume_paths: Mapping[str, str],
    credentials: _PullCredentials,
    context: SyncContext,
    *,
    seen: list[Observation],
) -> ContainerOutcome:
    """Ensure the image, resolve the environment, create and start one container."""
    spec = start.spec
    try:
        _check_not_stopping(context)
        _pull_as_needed(spec.image, spec.pull_policy, credentials, context)
        try:
            env = resolve_env(pod, spec, lambda ref: context.objects.get(pod.namespace, ref), context.host_ip)
        except (ContainerConfigError, ObjectFetchError) as exc:
            raise _StartFailed("CreateContainerConfigError", str(exc)) from exc
        mounts = tuple(
            Mount(volume_paths[m.name] + (f"/{m.sub_path}" if m.sub_path else ""), m.mount_path, m.read_only) for m in spec.mounts
        )
        config = build_container_config(pod, spec, start.restart_count, env, mounts)
        _check_not_stopping(context)
        container_id = _create(config, start, context, seen)
    except _StartFailed as failed:
        return ContainerOutcome(spec.name, problem=failed.problem)
    problem = None
    try:
        context.runtime.start_container(container_id)
    except RuntimeUnavailableError:
        raise
    except ContainerRuntimeError as exc:
        problem = Problem("RunContainerError", str(exc))
    seen.append(_observe(container_id, context))
    return ContainerOutcome(spec.name, problem=problem)


def _check_not_stopping(context: SyncContext) -> None:
    if context.stopping.is_set():
        raise _StartFailed("ContainerCreating", "edged is stopping")


def _pull_as_needed(image: str, policy: str, credentials: _PullCredentials, context: SyncContext) -> None:
    try:
        pulled = ensure_image(image, policy, credentials, context.runtime)
    except ImagePullError as exc:
        raise _StartFailed("ErrImagePull", str(exc)) from exc
    except ImageNeverPulledError as exc:
        raise _StartFailed("ErrImageNeverPull", str(exc)) from exc
    except ObjectFetchError as exc:
        raise _StartFailed("ErrImagePull", f"cannot read image pull secrets: {exc}") from exc
    context.record_image_use(image, pulled)


def _create(config: ContainerConfig, start: StartContainer, context: SyncContext, seen: list[Observation]) -> str:
    runtime = context.runtime
    if start.remove_first:
        with contextlib.suppress(ContainerNotFoundError):
            runtime.remove_container(start.remove_first)
        seen.append((context.next_seq(), start.remove_first, None))
    try:
        return runtime.create_container(config)
    except RuntimeUnavailableError:
        raise
    except ContainerRuntimeError as exc:
        raise _StartFailed("CreateContainerError", str(exc)) from exc


def ensure_image(image: str, policy: str, credentials: _PullCredentials, runtime: ContainerRuntime) -> bool:
    """Pull as the policy says (docs/protocol.md#13.3: a present image is not pulled under IfNotPresent).

    Returns:
        whether it was pulled.
    """
    if policy != "Always" and runtime.image_present(image):
        return False
    if policy == "Never":
        raise ImageNeverPulledError(f'Container image "{image}" is not present with pull policy of Never')
    runtime.pull_image(image, credentials.for_image(image))
    return True


__all__ = [
    "ContainerOutcome",
    "PodSyncResult",
    "SyncContext",
    "ensure_image",
    "prepare_volumes",
    "run_pod_sync",
    "start_container",
]
