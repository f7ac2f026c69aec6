"""A pod as edged needs it: parsed from the cloud's v1.Pod, Kubernetes defaults applied.

edged accepts what the original runs and refuses only what cannot run. :func:`parse_pod`
refuses only content that is not a pod at all (no name: nothing to report a status under); a
missing namespace or uid is filled in (:mod:`actors.edged.identity`). Everything else wrong
with a spec (a missing image, a name Docker cannot take, an unknown volume type) is kept as a
:class:`Problem` on the pod or the container, so that edged reports it in the pod's status
instead of failing (docs/protocol.md#13.4: defaults filled in, not demanded). Spellings the
original runs anyway (an unknown ``restartPolicy``) are read as the original reads them and
noted in :attr:`Pod.notes`, for edged's log. The parts of a spec are read in
:mod:`actors.edged.podparts`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from actors.edged.errors import ImageReferenceError, PodRejected, QuantityError, SpecError
from actors.edged.identity import DEFAULT_NAMESPACE, derived_uid, docker_name_error
from actors.edged.images import default_pull_policy, parse_image_ref
from actors.edged.model import POD_NAME_LABEL, POD_NAMESPACE_LABEL, ContainerInfo
from actors.edged.podparts import (
    DEFAULT_MODE,
    DownwardItem,
    EnvFrom,
    EnvVar,
    KeyToPath,
    ObjectRef,
    Problem,
    ResourceField,
    Volume,
    VolumeMount,
    parse_env_from,
    parse_env_var,
    parse_volume,
    parse_volume_mount,
    read_dict,
    read_list,
    read_number,
    read_opt_str,
    read_opt_strings,
    read_policy,
)
from actors.edged.quantity import cpu_millis, memory_bytes
from actors.edged.support import unsupported_fields

RESTART_POLICIES = ("Always", "OnFailure", "Never")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
DEFAULT_GRACE_PERIOD_S = 30.0  # Kubernetes' terminationGracePeriodSeconds
DOCKER_MIN_MEMORY = 6 * 1024 * 1024  # dockerd refuses a smaller memory limit


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    image: str
    pull_policy: str = "IfNotPresent"
    command: tuple[str, ...] | None = None
    args: tuple[str, ...] | None = None
    working_dir: str | None = None
    env: tuple[EnvVar, ...] = ()
    env_from: tuple[EnvFrom, ...] = ()
    mounts: tuple[VolumeMount, ...] = ()
    tty: bool = False
    stdin: bool = False
    privileged: bool = False
    run_as_user: int | None = None
    cpu_request_millis: int | None = None
    cpu_limit_millis: int | None = None
    memory_request: int | None = None
    memory_limit: int | None = None
    termination_message_path: str = "/dev/termination-log"
    termination_message_policy: str = "File"
    spec_hash: str = ""
    problem: Problem | None = None
    notes: tuple[str, ...] = ()

    def objects(self) -> set[ObjectRef]:
        """Configmaps and secrets its environment needs."""
        refs = {e.ref for e in self.env if e.ref is not None}
        return refs | {e.ref for e in self.env_from}


@dataclass(frozen=True)
class Pod:
    uid: str
    name: str
    namespace: str
    raw: Mapping[str, Any]
    containers: tuple[ContainerSpec, ...] = ()
    volumes: Mapping[str, Volume] = field(default_factory=dict)
    restart_policy: str = "Always"
    grace_period_s: float = DEFAULT_GRACE_PERIOD_S
    pull_secrets: tuple[str, ...] = ()
    deletion_timestamp: str = ""
    deletion_grace_s: float | None = None
    node_name: str = ""
    service_account: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    problem: Problem | None = None
    #: Neither the metadata nor the message named the namespace: ``default`` was assumed.
    namespace_assumed: bool = False
    uid_derived: bool = False  # the metadata has no uid: derived from namespace and name
    notes: tuple[str, ...] = ()  # what edged read differently from what the pod says
    #: Fields edged ignores, each named (docs/protocol.md#7.11): shown in the status' message.
    warnings: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def terminating(self) -> bool:
        return bool(self.deletion_timestamp)

    @property
    def stop_grace_s(self) -> float:
        return self.deletion_grace_s if self.deletion_grace_s is not None else self.grace_period_s

    def uses(self, ref: ObjectRef) -> bool:
        return ref in self.volume_refs() or any(ref in c.objects() for c in self.containers)

    def volume_refs(self) -> set[ObjectRef]:
        return set().union(*(v.refs() for v in self.volumes.values()))

    @property
    def visible_notes(self) -> tuple[str, ...]:
        """What the pod's status says edged does differently from what the pod asks."""
        return self.notes + self.warnings


def volumes_show_new_metadata(before: Pod | None, after: Pod) -> bool:
    """Whether ``after`` changes labels or annotations that its downwardAPI or projected
    volumes show: their files are rewritten in place (docs/protocol.md#7.10)."""
    if before is None or (before.labels == after.labels and before.annotations == after.annotations):
        return False
    return any(volume.shows_metadata for volume in after.volumes.values())


def parse_pod(content: Any, namespace: str = "") -> Pod:
    """Parse a v1.Pod (an object, or JSON text of one).

    Args:
        namespace: the namespace of the message's resource (``<ns>/pod/<name>``); "" when the
            pod came without one (meta's pod list).

    Raises:
        PodRejected: not an object, no ``metadata.name``, a ``/`` in the name or namespace (no
            resource could name it), or a namespace or uid that is not a string.
    """
    if isinstance(content, str | bytes | bytearray):
        try:
            content = json.loads(content)
        except ValueError as exc:
            raise PodRejected(f"pod content is not JSON: {exc}") from exc
    if not isinstance(content, dict):
        raise PodRejected(f"pod content must be an object, not {type(content).__name__}")
    metadata = content.get("metadata")
    if not isinstance(metadata, dict):
        raise PodRejected("pod has no metadata object")
    name, given_namespace, given_uid = metadata.get("name"), metadata.get("namespace"), metadata.get("uid")
    if not isinstance(name, str) or not name:
        raise PodRejected("pod metadata needs a name (a non-empty string)")
    for key, value in (("namespace", given_namespace), ("uid", given_uid)):
        if value is not None and not isinstance(value, str):
            raise PodRejected(f"pod {name!r}: metadata.{key} must be a string, not {type(value).__name__}")
    resolved_namespace = given_namespace or namespace or DEFAULT_NAMESPACE
    if "/" in resolved_namespace or "/" in name:
        raise PodRejected(f"pod {name!r}: namespace and name must not contain '/'")
    # The original runs a pod with a name only; the derived uid is the same on every delivery.
    uid = given_uid or derived_uid(resolved_namespace, name)
    base = Pod(
        uid=uid,
        name=name,
        namespace=resolved_namespace,
        raw=content,
        labels=_str_map(metadata.get("labels")),
        annotations=_str_map(metadata.get("annotations")),
        deletion_timestamp=str(metadata.get("deletionTimestamp") or ""),
        namespace_assumed=not given_namespace and not namespace,
        uid_derived=not given_uid,
    )
    try:
        pod = _parse_spec(base, content.get("spec"), metadata)
    except SpecError as exc:
        return replace(base, problem=Problem("CreateContainerConfigError", str(exc)))
    name_error = (
        docker_name_error("metadata.name", name)
        or docker_name_error("metadata.namespace", resolved_namespace)
        or docker_name_error("metadata.uid", uid, uid=True)
    )
    return replace(pod, problem=Problem("CreateContainerConfigError", name_error)) if name_error else pod


def placed_by_containers(pod: Pod, containers: Iterable[ContainerInfo]) -> Pod:
    """``pod`` in the namespace its containers were made in, when nothing else named it.

    A pod from meta's list whose metadata names no namespace is assumed in ``default``; a
    container labelled with its name and a namespace that gives the container's uid (the pod's
    own uid, or the one derived there) shows where the pod's message had put it. Returns
    ``pod`` unchanged when its namespace was given or no container says otherwise.
    """
    if not pod.namespace_assumed:
        return pod
    for container in containers:
        namespace = container.labels.get(POD_NAMESPACE_LABEL, "")
        if container.labels.get(POD_NAME_LABEL) != pod.name or namespace in ("", pod.namespace):
            continue
        candidate = parse_pod(pod.raw, namespace)
        if candidate.uid == container.pod_uid:
            return candidate
    return pod


def _parse_spec(base: Pod, spec: Any, metadata: dict[str, Any]) -> Pod:
    if not isinstance(spec, dict):
        raise SpecError("spec: a pod needs a spec object")
    notes: list[str] = []
    # docs/protocol.md#7.3: the original restarts unless Never (or OnFailure and exit 0).
    why = "what the original does"
    restart_policy = read_policy(spec, "restartPolicy", RESTART_POLICIES, where="spec", notes=notes, fallback="Always", why=why)
    grace = read_number(spec, "terminationGracePeriodSeconds", DEFAULT_GRACE_PERIOD_S, "spec")
    if grace < 0:  # the original takes any int64; Kubernetes' "stop at once" is 0
        notes.append(f"spec.terminationGracePeriodSeconds: {grace:g} is negative; 0 is used")
        grace = 0.0
    deletion_grace = metadata.get("deletionGracePeriodSeconds")
    volumes: dict[str, Volume] = {}
    for index, raw_volume in enumerate(read_list(spec, "volumes", "spec")):
        volume = parse_volume(raw_volume, f"spec.volumes[{index}]")
        if volume.name in volumes:
            raise SpecError(f"spec.volumes[{index}].name: {volume.name!r} is used twice")
        volumes[volume.name] = volume
    warnings = unsupported_fields(spec) + tuple(
        f"{skipped}: ignored (edged has no service account tokens or trust bundles)" for v in volumes.values() for skipped in v.skipped
    )
    raw_containers = read_list(spec, "containers", "spec")
    if not raw_containers:
        raise SpecError("spec.containers: a pod needs at least one container")
    containers = tuple(parse_container(c, f"spec.containers[{i}]", volumes) for i, c in enumerate(raw_containers))
    names = [c.name for c in containers]
    if len(set(names)) != len(names):  # Docker names would collide: k8s_<container>_<pod>_...
        raise SpecError(f"spec.containers: container names must be unique, got {names}")
    pull_secrets = tuple(
        str(s["name"]) for s in read_list(spec, "imagePullSecrets", "spec") if isinstance(s, dict) and isinstance(s.get("name"), str)
    )
    return replace(
        base,
        containers=containers,
        volumes=volumes,
        restart_policy=restart_policy,
        grace_period_s=grace,
        deletion_grace_s=max(float(deletion_grace), 0.0)
        if isinstance(deletion_grace, int | float) and not isinstance(deletion_grace, bool)
        else None,
        pull_secrets=pull_secrets,
        node_name=str(spec.get("nodeName") or ""),
        service_account=str(spec.get("serviceAccountName") or spec.get("serviceAccount") or ""),
        notes=tuple(notes) + tuple(note for c in containers for note in c.notes),
        warnings=warnings,
    )


def parse_container(raw: Any, where: str, volumes: Mapping[str, Volume]) -> ContainerSpec:
    """One container; a bad field becomes the container's :class:`Problem`, not an exception.

    Raises:
        SpecError: not an object, or a name that is not a string (nothing to report it under).
    """
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: a container must be an object")
    name = raw.get("name")
    name = "" if name is None else name  # the original decodes a missing name as ""
    if not isinstance(name, str):
        raise SpecError(f"{where}.name: must be a string, not {type(name).__name__}")
    image = raw.get("image")
    spec_hash = container_hash(raw)
    base = ContainerSpec(name=name, image=image if isinstance(image, str) else "", spec_hash=spec_hash)
    try:
        name_error = docker_name_error(f"{where}.name", name)
        if name_error:  # any name Docker takes runs, as in the original (not only DNS labels)
            raise SpecError(name_error)
        return _parse_container_fields(base, raw, f"{where}", volumes)
    except SpecError as exc:
        return replace(base, problem=Problem("CreateContainerConfigError", str(exc)))
    except ImageReferenceError as exc:
        return replace(base, problem=Problem("InvalidImageName", str(exc)))


def _parse_container_fields(base: ContainerSpec, raw: dict[str, Any], where: str, volumes: Mapping[str, Volume]) -> ContainerSpec:
    if not base.image:
        raise SpecError(f"{where}.image: a container needs an image")
    parse_image_ref(base.image)
    notes: list[str] = []
    # docs/protocol.md#13.3: v1.0.0 ignores the policy; an unknown one gets Kubernetes' default.
    default = default_pull_policy(base.image)
    pull_policy = read_policy(raw, "imagePullPolicy", PULL_POLICIES, where=where, notes=notes, fallback=default, why="Kubernetes' default")
    raw_mounts = read_list(raw, "volumeMounts", where)
    mounts = tuple(parse_volume_mount(m, f"{where}.volumeMounts[{i}]", volumes) for i, m in enumerate(raw_mounts))
    security = read_dict(raw, "securityContext", where)
    resources = read_dict(raw, "resources", where)
    requests, limits = read_dict(resources, "requests", f"{where}.resources"), read_dict(resources, "limits", f"{where}.resources")
    try:
        cpu_request, cpu_limit = _opt(cpu_millis, requests.get("cpu")), _opt(cpu_millis, limits.get("cpu"))
        memory_request, memory_limit = _opt(memory_bytes, requests.get("memory")), _opt(memory_bytes, limits.get("memory"))
    except QuantityError as exc:
        raise SpecError(f"{where}.resources: {exc}") from exc
    if memory_limit is not None and 0 < memory_limit < DOCKER_MIN_MEMORY:
        raise SpecError(f"{where}.resources.limits.memory: {memory_limit} bytes is below Docker's minimum of 6Mi")
    run_as_user = security.get("runAsUser")
    if run_as_user is not None and (not isinstance(run_as_user, int) or isinstance(run_as_user, bool)):
        raise SpecError(f"{where}.securityContext.runAsUser: must be an integer")
    working_dir = read_opt_str(raw, "workingDir", where)
    if working_dir is not None and not working_dir.startswith("/"):
        raise SpecError(f"{where}.workingDir: {working_dir!r} must be an absolute path (Docker refuses others)")
    return replace(
        base,
        pull_policy=pull_policy,
        command=read_opt_strings(raw, "command", where),
        args=read_opt_strings(raw, "args", where),
        working_dir=working_dir,
        env=tuple(parse_env_var(e, f"{where}.env[{i}]") for i, e in enumerate(read_list(raw, "env", where))),
        env_from=tuple(parse_env_from(e, f"{where}.envFrom[{i}]") for i, e in enumerate(read_list(raw, "envFrom", where))),
        mounts=mounts,
        tty=bool(raw.get("tty")),
        stdin=bool(raw.get("stdin")),
        privileged=bool(security.get("privileged")),
        run_as_user=run_as_user,
        cpu_request_millis=cpu_request,
        cpu_limit_millis=cpu_limit,
        memory_request=memory_request,
        memory_limit=memory_limit,
        termination_message_path=read_opt_str(raw, "terminationMessagePath", where) or "/dev/termination-log",
        termination_message_policy=read_opt_str(raw, "terminationMessagePolicy", where) or "File",
        notes=tuple(notes),
    )


def container_hash(raw: Any) -> str:
    """Hex hash of a container spec, as in the label ``io.kubernetes.container.hash``."""
    text = json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _opt(parse: Any, value: Any) -> int | None:
    return None if value is None else int(parse(value))


def _str_map(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


__all__ = [
    "DEFAULT_MODE",
    "ContainerSpec",
    "DownwardItem",
    "EnvFrom",
    "EnvVar",
    "KeyToPath",
    "ObjectRef",
    "Pod",
    "Problem",
    "ResourceField",
    "Volume",
    "VolumeMount",
    "container_hash",
    "parse_pod",
    "placed_by_containers",
    "volumes_show_new_metadata",
]
