"""The parts of a pod spec edged reads (volumes, mounts, environment) and the small typed
readers that name the field that is wrong: each bad field is a :class:`SpecError` whose
message starts with the field's path (``spec.containers[1].env[0].name: ...``).

Like the rest of edged it accepts what the original runs and refuses only what cannot run: a
volume without a source is an ``emptyDir`` (Kubernetes' default), a variable name may be any
text Docker takes; a volume name that cannot name a folder, or a mount path Docker refuses, is
refused here with the field named.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from actors.edged.errors import QuantityError, SpecError
from actors.edged.quantity import parse_quantity

DEFAULT_MODE = 0o644  # 420: Kubernetes' defaultMode of configMap and secret volumes
SUPPORTED_VOLUMES = ("configMap", "secret", "emptyDir", "hostPath", "downwardAPI", "projected")
#: The downward API's resources edged can give (ephemeral storage it does not track).
RESOURCE_FIELDS = ("limits.cpu", "limits.memory", "requests.cpu", "requests.memory")


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
class ResourceField:
    """A ``resourceFieldRef``: one of :data:`RESOURCE_FIELDS` of a container, over a divisor."""

    resource: str
    container: str = ""  # "" : the container the variable is set in
    divisor: Decimal = Decimal(1)


@dataclass(frozen=True, slots=True)
class EnvVar:
    name: str
    value: str | None = None
    ref: ObjectRef | None = None  # configMapKeyRef / secretKeyRef
    key: str = ""
    optional: bool = False
    field_path: str = ""  # fieldRef
    resource: ResourceField | None = None  # resourceFieldRef


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
    downward: tuple[DownwardItem, ...] = ()  # downwardAPI: its items
    sources: tuple[Volume, ...] = ()  # projected: each source as a volume of its own kind
    #: projected sources edged cannot give (serviceAccountToken...): left out, and said so
    skipped: tuple[str, ...] = ()

    def refs(self) -> set[ObjectRef]:
        """The configmaps and secrets whose data the volume shows."""
        own = {self.ref} if self.ref is not None else set()
        return own.union(*(source.refs() for source in self.sources))

    @property
    def shows_metadata(self) -> bool:
        """Whether its files show the pod's labels or annotations (rewritten when they change)."""
        items = self.downward + tuple(item for source in self.sources for item in source.downward)
        return any(item.field_path.startswith(("metadata.labels", "metadata.annotations")) for item in items)


@dataclass(frozen=True, slots=True)
class DownwardItem:
    """One file of a ``downwardAPI`` volume (or projected source): a field or a resource."""

    path: str
    field_path: str = ""  # fieldRef
    resource: ResourceField | None = None  # resourceFieldRef
    mode: int | None = None


def parse_volume(raw: Any, where: str) -> Volume:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise SpecError(f"{where}: a volume needs a name")
    name = raw["name"]
    if name in ("", ".", "..") or "/" in name or "\x00" in name:  # it names a folder of the pod
        raise SpecError(f"{where}.name: {name!r} cannot name a folder")
    kinds = [k for k in raw if k != "name" and raw[k] is not None]  # null: absent, as Go decodes it
    if not kinds:  # Kubernetes' default for a volume without a source
        return Volume(name, "emptyDir")
    if len(kinds) != 1:
        raise SpecError(f"{where}: volume {name!r} must have exactly one source, got {kinds}")
    kind = kinds[0]
    source = raw[kind]
    if kind not in SUPPORTED_VOLUMES:
        raise SpecError(f"{where}: volume {name!r} has unsupported type {kind!r} (edged supports {', '.join(SUPPORTED_VOLUMES)})")
    if not isinstance(source, dict):
        source = {}
    if kind in ("configMap", "secret"):
        mode = _mode(source.get("defaultMode", DEFAULT_MODE), where)
        name_key = "secretName" if kind == "secret" else "name"  # a projected secret is named by "name"
        return _object_volume(name, kind, source, f"{where}.{kind}", mode, name_key=name_key)
    if kind == "downwardAPI":
        items = _downward_items(source, f"{where}.downwardAPI")
        return Volume(name, kind, default_mode=_mode(source.get("defaultMode", DEFAULT_MODE), where), downward=items)
    if kind == "projected":
        return _projected(name, source, f"{where}.projected")
    if kind == "hostPath":
        path = source.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            raise SpecError(f"{where}.hostPath.path: volume {name!r} needs an absolute path")
        return Volume(name, kind, host_path=path, host_path_type=str(source.get("type") or ""))
    return Volume(name, kind)


def _object_volume(name: str, kind: str, source: dict[str, Any], where: str, mode: int, *, name_key: str = "name") -> Volume:
    """A configMap or secret volume, or the same source of a projected volume."""
    object_name = source.get(name_key)
    if not isinstance(object_name, str) or not object_name:
        raise SpecError(f"{where}: volume {name!r} names no {kind}")
    items = tuple(_key_to_path(item, f"{where}.items[{i}]") for i, item in enumerate(read_list(source, "items", where)))
    return Volume(name, kind, ObjectRef(kind.lower(), object_name), items, mode, bool(source.get("optional")))


#: docs/protocol.md#7.10: the pod fields a downwardAPI file can show (env takes more, see containers.py).
DOWNWARD_FIELDS = ("metadata.name", "metadata.namespace", "metadata.uid", "metadata.labels", "metadata.annotations")
_ONE_KEY = re.compile(r"^metadata\.(labels|annotations)\['[^']+'\]$")
#: The pod fields a ``fieldRef`` env can take, as Kubernetes allows them (and one label or annotation).
ENV_FIELDS = (
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
)


def _downward_items(source: dict[str, Any], where: str) -> tuple[DownwardItem, ...]:
    items: list[DownwardItem] = []
    for index, raw in enumerate(read_list(source, "items", where)):
        at = f"{where}.items[{index}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("path"), str) or not raw["path"]:
            raise SpecError(f"{at}: needs a path")
        path = raw["path"]
        if path.startswith("/") or ".." in path.split("/"):
            raise SpecError(f"{at}.path: {path!r} must be relative and must not contain '..'")
        mode = _mode(raw["mode"], at) if raw.get("mode") is not None else None
        field_ref, resource_ref = raw.get("fieldRef"), raw.get("resourceFieldRef")
        if (field_ref is None) == (resource_ref is None):
            raise SpecError(f"{at}: needs exactly one of fieldRef and resourceFieldRef")
        if field_ref is not None:
            field_path = field_ref.get("fieldPath") if isinstance(field_ref, dict) else None
            if not isinstance(field_path, str) or not (field_path in DOWNWARD_FIELDS or _ONE_KEY.match(field_path)):
                raise SpecError(f"{at}.fieldRef.fieldPath: {field_path!r} is not one of {', '.join(DOWNWARD_FIELDS)}")
            items.append(DownwardItem(path, field_path=field_path, mode=mode))
            continue
        if not isinstance(resource_ref, dict) or not resource_ref.get("containerName"):
            raise SpecError(f"{at}.resourceFieldRef.containerName: a volume must name the container")
        items.append(DownwardItem(path, resource=_resource_field(resource_ref, f"{at}.resourceFieldRef"), mode=mode))
    return tuple(items)


#: Projected sources edged leaves out (no service account tokens, no trust bundles on an edge).
SKIPPED_SOURCES = ("serviceAccountToken", "clusterTrustBundle")
PROJECTED_SOURCES = ("configMap", "secret", "downwardAPI")


def _projected(name: str, source: dict[str, Any], where: str) -> Volume:
    mode = _mode(source.get("defaultMode", DEFAULT_MODE), where)
    sources: list[Volume] = []
    skipped: list[str] = []
    for index, raw in enumerate(read_list(source, "sources", where)):
        at = f"{where}.sources[{index}]"
        kinds = [k for k in raw if raw[k] is not None] if isinstance(raw, dict) else []
        if len(kinds) != 1:
            raise SpecError(f"{at}: a projection needs exactly one source, got {kinds}")
        kind, inner = kinds[0], raw[kinds[0]]
        inner = inner if isinstance(inner, dict) else {}
        if kind in SKIPPED_SOURCES:
            skipped.append(f"{at}.{kind}")
        elif kind == "downwardAPI":
            sources.append(Volume(name, kind, default_mode=mode, downward=_downward_items(inner, f"{at}.downwardAPI")))
        elif kind in ("configMap", "secret"):
            sources.append(_object_volume(name, kind, inner, f"{at}.{kind}", mode))
        else:
            supported = ", ".join(PROJECTED_SOURCES)
            raise SpecError(f"{at}: volume {name!r} has unsupported projected source {kind!r} (edged supports {supported})")
    return Volume(name, "projected", default_mode=mode, sources=tuple(sources), skipped=tuple(skipped))


# --- small typed readers: each names the field that is wrong -----------------------------------


def _key_to_path(raw: Any, where: str) -> KeyToPath:
    if not isinstance(raw, dict) or not isinstance(raw.get("key"), str) or not isinstance(raw.get("path"), str):
        raise SpecError(f"{where}: needs a key and a path")
    path = raw["path"]
    if path.startswith("/") or ".." in path.split("/"):
        raise SpecError(f"{where}.path: {path!r} must be relative and must not contain '..'")
    return KeyToPath(raw["key"], path, _mode(raw["mode"], where) if "mode" in raw else None)


def parse_volume_mount(raw: Any, where: str, volumes: Mapping[str, Volume]) -> VolumeMount:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not isinstance(raw.get("mountPath"), str):
        raise SpecError(f"{where}: needs a name and a mountPath")
    if raw["name"] not in volumes:
        raise SpecError(f"{where}.name: no volume named {raw['name']!r} in the pod")
    if not raw["mountPath"].startswith("/") or raw["mountPath"].rstrip("/") == "":
        raise SpecError(f"{where}.mountPath: {raw['mountPath']!r} must be an absolute path other than / (Docker refuses others)")
    sub_path = str(raw.get("subPath") or "")
    if sub_path.startswith("/") or ".." in sub_path.split("/"):
        raise SpecError(f"{where}.subPath: {sub_path!r} must be relative and must not contain '..'")
    return VolumeMount(raw["name"], raw["mountPath"], bool(raw.get("readOnly")), sub_path)


def parse_env_var(raw: Any, where: str) -> EnvVar:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"]:
        raise SpecError(f"{where}: needs a name")
    name = raw["name"]
    if "=" in name or "\x00" in name:  # Docker would set another variable, or refuse it
        raise SpecError(f"{where}.name: {name!r} cannot name a variable ('=' or NUL in it)")
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
        field_path = selector["fieldPath"]
        if field_path not in ENV_FIELDS and not _ONE_KEY.match(field_path):  # docs/protocol.md#7.10
            raise SpecError(
                f"{where}.valueFrom.fieldRef.fieldPath: {field_path!r} is not one of {', '.join(ENV_FIELDS)} or a label or annotation"
            )
        return EnvVar(name, field_path=field_path)
    if kind == "resourceFieldRef" and isinstance(selector, dict):
        return EnvVar(name, resource=_resource_field(selector, f"{where}.valueFrom.resourceFieldRef"))
    raise SpecError(
        f"{where}.valueFrom: unsupported source {kind!r} (edged supports configMapKeyRef, secretKeyRef, fieldRef, resourceFieldRef)"
    )


def _resource_field(selector: dict[str, Any], where: str) -> ResourceField:
    resource, container = selector.get("resource"), selector.get("containerName") or ""
    if resource not in RESOURCE_FIELDS:
        raise SpecError(f"{where}.resource: {resource!r} is not one of {', '.join(RESOURCE_FIELDS)}")
    if not isinstance(container, str):
        raise SpecError(f"{where}.containerName: must be a string")
    try:
        divisor = parse_quantity(selector.get("divisor") or 1)
    except QuantityError as exc:
        raise SpecError(f"{where}.divisor: {exc}") from exc
    if divisor <= 0:
        raise SpecError(f"{where}.divisor: must be more than 0")
    return ResourceField(resource, container, divisor)


def parse_env_from(raw: Any, where: str) -> EnvFrom:
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: must be an object")
    prefix = str(raw.get("prefix") or "")
    for kind, key in (("configmap", "configMapRef"), ("secret", "secretRef")):
        selector = raw.get(key)
        if isinstance(selector, dict) and isinstance(selector.get("name"), str):
            return EnvFrom(ObjectRef(kind, selector["name"]), prefix, bool(selector.get("optional")))
    raise SpecError(f"{where}: needs a configMapRef or a secretRef with a name")


def read_policy(obj: dict[str, Any], key: str, known: tuple[str, ...], *, where: str, notes: list[str], fallback: str, why: str) -> str:
    """A policy field: a known spelling in any case; an unknown one runs as ``fallback``, noted."""
    value = obj.get(key)
    if value is None or value == "":
        return fallback
    if not isinstance(value, str):
        raise SpecError(f"{where}.{key}: must be a string, not {type(value).__name__}")
    for spelling in known:
        if value.lower() == spelling.lower():
            return spelling
    notes.append(f"{where}.{key}: {value!r} is not one of {', '.join(known)}; {fallback} is used ({why})")
    return fallback


def _mode(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 0o777:
        raise SpecError(f"{where}: file mode {value!r} must be an integer from 0 to 0777 (511)")
    return value


def read_number(obj: dict[str, Any], key: str, default: float, where: str) -> float:
    value = obj.get(key)
    if value is None:
        return default
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise SpecError(f"{where}.{key}: must be a number of seconds, not {value!r}")
    return float(value)


def read_list(obj: dict[str, Any], key: str, where: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise SpecError(f"{where}.{key}: must be a list")
    return value


def read_dict(obj: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SpecError(f"{where}.{key}: must be an object")
    return value


def read_opt_strings(obj: dict[str, Any], key: str, where: str) -> tuple[str, ...] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpecError(f"{where}.{key}: must be a list of strings")
    return tuple(value)


def read_opt_str(obj: dict[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise SpecError(f"{where}.{key}: must be a string")
    return value


__all__ = [
    "DEFAULT_MODE",
    "DOWNWARD_FIELDS",
    "ENV_FIELDS",
    "RESOURCE_FIELDS",
    "SUPPORTED_VOLUMES",
    "DownwardItem",
    "EnvFrom",
    "EnvVar",
    "KeyToPath",
    "ObjectRef",
    "Problem",
    "ResourceField",
    "Volume",
    "VolumeMount",
    "parse_env_from",
    "parse_env_var",
    "parse_volume",
    "parse_volume_mount",
    "read_dict",
    "read_list",
    "read_number",
    "read_opt_str",
    "read_opt_strings",
    "read_policy",
]
