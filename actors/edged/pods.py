"""A pod as edged needs it: parsed from the cloud's v1.Pod, Kubernetes defaults applied.

:func:`parse_pod` refuses only content that is not a pod at all (no name or uid: nothing to
report a status under). Everything else wrong with a spec (a missing image, a bad field, an
unknown volume type) is kept as a :class:`Problem` on the pod or the container, so that edged
reports it in the pod's status instead of failing (docs/protocol.md#13.4: defaults filled in, not demanded).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from actors.edged.images import ImageReferenceError, default_pull_policy, parse_image_ref
from actors.edged.quantity import QuantityError, cpu_millis, memory_bytes
from kubeedge_actors.errors import MessageRejected

RESTART_POLICIES = ("Always", "OnFailure", "Never")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
DEFAULT_GRACE_PERIOD_S = 30.0  # Kubernetes' terminationGracePeriodSeconds
DEFAULT_MODE = 0o644  # 420: Kubernetes' defaultMode of configMap and secret volumes
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
SUPPORTED_VOLUMES = ("configMap", "secret", "emptyDir", "hostPath")


class PodRejected(MessageRejected):
    """Content that is not a pod edged can even name."""


class SpecError(ValueError):
    """One bad field of a pod spec; the message names the field."""


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a container cannot run: a Kubernetes waiting reason and a message."""

    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """A configmap or secret a pod uses, in the pod's namespace."""

    kind: str  # "configmap" or "secret"
    name: str


@dataclass(frozen=True, slots=True)
class EnvVar:
    name: str
    value: str | None = None
    ref: ObjectRef | None = None  # configMapKeyRef / secretKeyRef
    key: str = ""
    optional: bool = False
    field_path: str = ""  # fieldRef


@dataclass(frozen=True, slots=True)
class EnvFrom:
    ref: ObjectRef
    prefix: str = ""
    optional: bool = False


@dataclass(frozen=True, slots=True)
class VolumeMount:
    name: str
    mount_path: str
    read_only: bool = False
    sub_path: str = ""


@dataclass(frozen=True, slots=True)
class KeyToPath:
    key: str
    path: str
    mode: int | None = None


@dataclass(frozen=True)
class Volume:
    """A pod volume; ``kind`` is one of :data:`SUPPORTED_VOLUMES`."""

    name: str
    kind: str
    ref: ObjectRef | None = None
    items: tuple[KeyToPath, ...] = ()
    default_mode: int = DEFAULT_MODE
    optional: bool = False
    host_path: str = ""
    host_path_type: str = ""


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
        return any(v.ref == ref for v in self.volumes.values()) or any(ref in c.objects() for c in self.containers)

    def volume_refs(self) -> set[ObjectRef]:
        return {v.ref for v in self.volumes.values() if v.ref is not None}


def parse_pod(content: Any) -> Pod:
    """Parse a v1.Pod (an object, or JSON text of one).

    Raises:
        PodRejected: not an object, or no ``metadata.name`` / ``metadata.uid``.
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
    name, uid = metadata.get("name"), metadata.get("uid")
    if not isinstance(name, str) or not name or not isinstance(uid, str) or not uid:
        raise PodRejected("pod metadata needs a name and a uid (strings)")
    namespace = metadata.get("namespace") or "default"
    if not isinstance(namespace, str) or "/" in namespace or "/" in name:
        raise PodRejected(f"pod {name!r}: namespace and name must be strings without '/'")
    base = Pod(
        uid=uid,
        name=name,
        namespace=namespace,
        raw=content,
        labels=_str_map(metadata.get("labels")),
        annotations=_str_map(metadata.get("annotations")),
        deletion_timestamp=str(metadata.get("deletionTimestamp") or ""),
    )
    try:
        return _parse_spec(base, content.get("spec"), metadata)
    except SpecError as exc:
        return replace(base, problem=Problem("CreateContainerConfigError", str(exc)))


def _parse_spec(base: Pod, spec: Any, metadata: dict[str, Any]) -> Pod:
    if not isinstance(spec, dict):
        raise SpecError("spec: a pod needs a spec object")
    restart_policy = spec.get("restartPolicy") or "Always"
    if restart_policy not in RESTART_POLICIES:
        raise SpecError(f"spec.restartPolicy: {restart_policy!r} is not one of {', '.join(RESTART_POLICIES)}")
    grace = _number(spec, "terminationGracePeriodSeconds", DEFAULT_GRACE_PERIOD_S, "spec")
    deletion_grace = metadata.get("deletionGracePeriodSeconds")
    volumes: dict[str, Volume] = {}
    for index, raw_volume in enumerate(_list(spec, "volumes", "spec")):
        volume = parse_volume(raw_volume, f"spec.volumes[{index}]")
        if volume.name in volumes:
            raise SpecError(f"spec.volumes[{index}].name: {volume.name!r} is used twice")
        volumes[volume.name] = volume
    raw_containers = _list(spec, "containers", "spec")
    if not raw_containers:
        raise SpecError("spec.containers: a pod needs at least one container")
    containers = tuple(parse_container(c, f"spec.containers[{i}]", volumes) for i, c in enumerate(raw_containers))
    names = [c.name for c in containers]
    if len(set(names)) != len(names):
        raise SpecError(f"spec.containers: container names must be unique, got {names}")
    pull_secrets = tuple(
        str(s["name"]) for s in _list(spec, "imagePullSecrets", "spec") if isinstance(s, dict) and isinstance(s.get("name"), str)
    )
    return replace(
        base,
        containers=containers,
        volumes=volumes,
        restart_policy=restart_policy,
        grace_period_s=grace,
        deletion_grace_s=float(deletion_grace)
        if isinstance(deletion_grace, int | float) and not isinstance(deletion_grace, bool)
        else None,
        pull_secrets=pull_secrets,
        node_name=str(spec.get("nodeName") or ""),
        service_account=str(spec.get("serviceAccountName") or spec.get("serviceAccount") or ""),
    )


def parse_container(raw: Any, where: str, volumes: Mapping[str, Volume]) -> ContainerSpec:
    """One container; a bad field becomes the container's :class:`Problem`, not an exception."""
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: a container must be an object")
    name = raw.get("name")
    if not isinstance(name, str) or not _DNS_LABEL.match(name) or len(name) > 63:
        raise SpecError(f"{where}.name: {name!r} is not a valid container name (lowercase letters, digits and '-')")
    image = raw.get("image")
    spec_hash = container_hash(raw)
    base = ContainerSpec(name=name, image=image if isinstance(image, str) else "", spec_hash=spec_hash)
    try:
        return _parse_container_fields(base, raw, f"{where}", volumes)
    except SpecError as exc:
        return ContainerSpec(name=name, image=base.image, spec_hash=spec_hash, problem=Problem("CreateContainerConfigError", str(exc)))
    except ImageReferenceError as exc:
        return ContainerSpec(name=name, image=base.image, spec_hash=spec_hash, problem=Problem("InvalidImageName", str(exc)))


def _parse_container_fields(base: ContainerSpec, raw: dict[str, Any], where: str, volumes: Mapping[str, Volume]) -> ContainerSpec:
    if not base.image:
        raise SpecError(f"{where}.image: a container needs an image")
    parse_image_ref(base.image)
    pull_policy = raw.get("imagePullPolicy") or default_pull_policy(base.image)
    if pull_policy not in PULL_POLICIES:
        raise SpecError(f"{where}.imagePullPolicy: {pull_policy!r} is not one of {', '.join(PULL_POLICIES)}")
    mounts = tuple(_volume_mount(m, f"{where}.volumeMounts[{i}]", volumes) for i, m in enumerate(_list(raw, "volumeMounts", where)))
    security = _dict(raw, "securityContext", where)
    resources = _dict(raw, "resources", where)
    requests, limits = _dict(resources, "requests", f"{where}.resources"), _dict(resources, "limits", f"{where}.resources")
    try:
        cpu_request, cpu_limit = _opt(cpu_millis, requests.get("cpu")), _opt(cpu_millis, limits.get("cpu"))
        memory_request, memory_limit = _opt(memory_bytes, requests.get("memory")), _opt(memory_bytes, limits.get("memory"))
    except QuantityError as exc:
        raise SpecError(f"{where}.resources: {exc}") from exc
    run_as_user = security.get("runAsUser")
    if run_as_user is not None and (not isinstance(run_as_user, int) or isinstance(run_as_user, bool)):
        raise SpecError(f"{where}.securityContext.runAsUser: must be an integer")
    return ContainerSpec(
        name=base.name,
        image=base.image,
        pull_policy=pull_policy,
        command=_opt_strings(raw, "command", where),
        args=_opt_strings(raw, "args", where),
        working_dir=_opt_str(raw, "workingDir", where),
        env=tuple(_env_var(e, f"{where}.env[{i}]") for i, e in enumerate(_list(raw, "env", where))),
        env_from=tuple(_env_from(e, f"{where}.envFrom[{i}]") for i, e in enumerate(_list(raw, "envFrom", where))),
        mounts=mounts,
        tty=bool(raw.get("tty")),
        stdin=bool(raw.get("stdin")),
        privileged=bool(security.get("privileged")),
        run_as_user=run_as_user,
        cpu_request_millis=cpu_request,
        cpu_limit_millis=cpu_limit,
        memory_request=memory_request,
        memory_limit=memory_limit,
        termination_message_path=_opt_str(raw, "terminationMessagePath", where) or "/dev/termination-log",
        termination_message_policy=_opt_str(raw, "terminationMessagePolicy", where) or "File",
        spec_hash=base.spec_hash,
    )


def parse_volume(raw: Any, where: str) -> Volume:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"]:
        raise SpecError(f"{where}: a volume needs a name")
    name = raw["name"]
    kinds = [k for k in raw if k != "name"]
    if len(kinds) != 1:
        raise SpecError(f"{where}: volume {name!r} must have exactly one source, got {kinds or 'none'}")
    kind = kinds[0]
    source = raw[kind]
    if kind not in SUPPORTED_VOLUMES:
        raise SpecError(f"{where}: volume {name!r} has unsupported type {kind!r} (edged supports {', '.join(SUPPORTED_VOLUMES)})")
    if not isinstance(source, dict):
        source = {}
    if kind in ("configMap", "secret"):
        object_name = source.get("name") if kind == "configMap" else source.get("secretName")
        if not isinstance(object_name, str) or not object_name:
            raise SpecError(f"{where}.{kind}: volume {name!r} names no {kind}")
        mode = source.get("defaultMode", DEFAULT_MODE)
        items = tuple(_key_to_path(item, f"{where}.{kind}.items[{i}]") for i, item in enumerate(_list(source, "items", where)))
        return Volume(name, kind, ObjectRef(kind.lower(), object_name), items, _mode(mode, where), bool(source.get("optional")))
    if kind == "hostPath":
        path = source.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            raise SpecError(f"{where}.hostPath.path: volume {name!r} needs an absolute path")
        return Volume(name, kind, host_path=path, host_path_type=str(source.get("type") or ""))
    return Volume(name, kind)


def container_hash(raw: Any) -> str:
    """Hex hash of a container spec, as in the label ``io.kubernetes.container.hash``."""
    text = json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


# --- small typed readers: each names the field that is wrong -----------------------------------


def _key_to_path(raw: Any, where: str) -> KeyToPath:
    if not isinstance(raw, dict) or not isinstance(raw.get("key"), str) or not isinstance(raw.get("path"), str):
        raise SpecError(f"{where}: needs a key and a path")
    path = raw["path"]
    if path.startswith("/") or ".." in path.split("/"):
        raise SpecError(f"{where}.path: {path!r} must be relative and must not contain '..'")
    return KeyToPath(raw["key"], path, _mode(raw["mode"], where) if "mode" in raw else None)


def _volume_mount(raw: Any, where: str, volumes: Mapping[str, Volume]) -> VolumeMount:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not isinstance(raw.get("mountPath"), str):
        raise SpecError(f"{where}: needs a name and a mountPath")
    if raw["name"] not in volumes:
        raise SpecError(f"{where}.name: no volume named {raw['name']!r} in the pod")
    sub_path = str(raw.get("subPath") or "")
    if sub_path.startswith("/") or ".." in sub_path.split("/"):
        raise SpecError(f"{where}.subPath: {sub_path!r} must be relative and must not contain '..'")
    return VolumeMount(raw["name"], raw["mountPath"], bool(raw.get("readOnly")), sub_path)


def _env_var(raw: Any, where: str) -> EnvVar:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"]:
        raise SpecError(f"{where}: needs a name")
    name = raw["name"]
    source = raw.get("valueFrom")
    if source is None:
        value = raw.get("value", "")
        if not isinstance(value, str):
            raise SpecError(f"{where}.value: must be a string")
        return EnvVar(name, value=value)
    if not isinstance(source, dict) or len(source) != 1:
        raise SpecError(f"{where}.valueFrom: needs exactly one source")
    kind, selector = next(iter(source.items()))
    if kind in ("configMapKeyRef", "secretKeyRef"):
        if not isinstance(selector, dict) or not isinstance(selector.get("name"), str) or not isinstance(selector.get("key"), str):
            raise SpecError(f"{where}.valueFrom.{kind}: needs a name and a key")
        ref = ObjectRef("configmap" if kind == "configMapKeyRef" else "secret", selector["name"])
        return EnvVar(name, ref=ref, key=selector["key"], optional=bool(selector.get("optional")))
    if kind == "fieldRef" and isinstance(selector, dict) and isinstance(selector.get("fieldPath"), str):
        return EnvVar(name, field_path=selector["fieldPath"])
    raise SpecError(f"{where}.valueFrom: unsupported source {kind!r} (edged supports configMapKeyRef, secretKeyRef, fieldRef)")


def _env_from(raw: Any, where: str) -> EnvFrom:
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: must be an object")
    prefix = str(raw.get("prefix") or "")
    for kind, key in (("configmap", "configMapRef"), ("secret", "secretRef")):
        selector = raw.get(key)
        if isinstance(selector, dict) and isinstance(selector.get("name"), str):
            return EnvFrom(ObjectRef(kind, selector["name"]), prefix, bool(selector.get("optional")))
    raise SpecError(f"{where}: needs a configMapRef or a secretRef with a name")


def _mode(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 0o777:
        raise SpecError(f"{where}: file mode {value!r} must be an integer from 0 to 0777 (511)")
    return value


def _number(obj: dict[str, Any], key: str, default: float, where: str) -> float:
    value = obj.get(key)
    if value is None:
        return default
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        raise SpecError(f"{where}.{key}: must be a number of seconds, not {value!r}")
    return float(value)


def _list(obj: dict[str, Any], key: str, where: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise SpecError(f"{where}.{key}: must be a list")
    return value


def _dict(obj: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SpecError(f"{where}.{key}: must be an object")
    return value


def _opt_strings(obj: dict[str, Any], key: str, where: str) -> tuple[str, ...] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpecError(f"{where}.{key}: must be a list of strings")
    return tuple(value)


def _opt_str(obj: dict[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise SpecError(f"{where}.{key}: must be a string")
    return value


def _opt(parse: Any, value: Any) -> int | None:
    return None if value is None else int(parse(value))


def _str_map(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


__all__ = [
    "DEFAULT_MODE",
    "ContainerSpec",
    "EnvFrom",
    "EnvVar",
    "KeyToPath",
    "ObjectRef",
    "Pod",
    "PodRejected",
    "Problem",
    "SpecError",
    "Volume",
    "VolumeMount",
    "container_hash",
    "parse_pod",
]
