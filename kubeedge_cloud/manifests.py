"""Kubernetes object manifests as the cloud hub accepts them: checked, defaulted, related.

Pure functions: no I/O, no state. An object that cannot be used raises :class:`ManifestError`
naming the object and the field.
"""

from __future__ import annotations

import base64
import copy
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from actors.protocol import ResourceType
from kubeedge_actors.message import Json, JsonObject
from kubeedge_cloud.errors import ManifestError

#: A Kubernetes object as JSON (a pod, configmap, secret or Device). Beyond the fields this
#: module checks (kind, metadata, a pod's containers...) it is free-form: the cloud stores and
#: forwards what the user wrote, so it stays a :data:`~kubeedge_actors.message.JsonObject`.
Manifest = JsonObject

KINDS: dict[str, str] = {"Pod": ResourceType.POD, "ConfigMap": ResourceType.CONFIGMAP, "Secret": ResourceType.SECRET}
DEVICE_KIND = "Device"
DEVICE_MODEL_KIND = "DeviceModel"
#: The kinds the device controller keeps (docs/protocol.md#11.1).
DEVICE_KINDS = (DEVICE_KIND, DEVICE_MODEL_KIND)
DEVICE_API_GROUP = "devices.kubeedge.io"
#: What ``ctl delete <kind> <name>`` and the API accept for each kind.
KIND_ALIASES: dict[str, str] = {
    "pod": "Pod",
    "pods": "Pod",
    "po": "Pod",
    "configmap": "ConfigMap",
    "configmaps": "ConfigMap",
    "cm": "ConfigMap",
    "secret": "Secret",
    "secrets": "Secret",
    "device": "Device",
    "devices": "Device",
    "devicemodel": "DeviceModel",
    "devicemodels": "DeviceModel",
}
DEFAULT_NAMESPACE = "default"
_SERVER_FIELDS = ("uid", "resourceVersion", "creationTimestamp")


@dataclass(frozen=True)
class ObjectKey:
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind.lower()}/{self.name} in namespace {self.namespace}"

    @property
    def resource_type(self) -> str:
        return KINDS[self.kind]


def canonical_kind(kind: str) -> str:
    """``Pod`` for ``pods``, ``po`` or ``Pod``.

    Raises:
        ManifestError: a kind the cloud hub does not handle.
    """
    found = KIND_ALIASES.get(kind.lower())
    if found is None:
        raise ManifestError(f"unknown kind {kind!r}: the cloud hub handles {', '.join(sorted(set(KIND_ALIASES.values())))}")
    return found


def object_key(manifest: Json, where: str = "object") -> ObjectKey:
    """The kind, namespace and name of a manifest, checked.

    Raises:
        ManifestError: not an object, or kind/metadata.name missing or of the wrong type.
    """
    if not isinstance(manifest, dict):
        raise ManifestError(f"{where}: a manifest must be an object, not {type(manifest).__name__}")
    kind = manifest.get("kind")
    if not isinstance(kind, str) or not kind:
        raise ManifestError(f"{where}: kind is missing")
    if kind not in KINDS and kind not in DEVICE_KINDS:
        raise ManifestError(f"{where}: kind {kind!r} is not handled (Pod, ConfigMap, Secret, Device, DeviceModel)")
    metadata = manifest.get("metadata")
    if not isinstance(metadata, dict):
        raise ManifestError(f"{where}: metadata is missing")
    name = metadata.get("name")
    if not isinstance(name, str) or not _is_dns_name(name):
        raise ManifestError(f"{where}: metadata.name {name!r} must be a lowercase DNS name")
    namespace = metadata.get("namespace", DEFAULT_NAMESPACE)
    if not isinstance(namespace, str) or not _is_dns_name(namespace):
        raise ManifestError(f"{where}: metadata.namespace {namespace!r} must be a lowercase DNS name")
    return ObjectKey(kind, namespace, name)


def _is_dns_name(value: str) -> bool:
    return 0 < len(value) <= 253 and all(c.isdigit() or ("a" <= c <= "z") or c in "-." for c in value) and value[0].isalnum()


def prepare(manifest: Manifest, key: ObjectKey, node: str | None) -> Manifest:
    """A copy ready to store and send: namespace set, API server defaults filled in.

    Raises:
        ManifestError: a pod without a node, or on another node than ``node``.
    """
    obj = copy.deepcopy(manifest)
    obj.setdefault("apiVersion", "v1")
    obj["metadata"]["namespace"] = key.namespace
    if key.kind == "Pod":
        _prepare_pod(obj, key, node)
    elif key.kind == "Secret":
        _prepare_secret(obj, key)
    elif key.kind == "ConfigMap":
        _check_string_map(obj, "data", key)
    return obj


def _prepare_pod(pod: Manifest, key: ObjectKey, node: str | None) -> None:
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        raise ManifestError(f"{key}: spec is missing")
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers or not all(isinstance(c, dict) for c in containers):
        raise ManifestError(f"{key}: spec.containers must be a non-empty list")
    named = spec.get("nodeName")
    if node and named and named != node:
        raise ManifestError(f"{key}: spec.nodeName is {named!r} but --node says {node!r}")
    spec["nodeName"] = named or node
    if not spec["nodeName"]:
        raise ManifestError(f"{key}: spec.nodeName is missing (or give a node with --node)")
    for container in containers:
        if not isinstance(container.get("name"), str) or not isinstance(container.get("image"), str):
            raise ManifestError(f"{key}: every container needs a name and an image")
    _default_pod(spec)


def _default_pod(spec: JsonObject) -> None:
    # What the API server fills in, so pods look to the edge as they do from Kubernetes
    # (the original edge refuses a configmap volume without defaultMode, docs/protocol.md#13.4).
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    for container in spec["containers"] + [c for c in spec.get("initContainers") or [] if isinstance(c, dict)]:
        image = container.get("image", "")
        tag = image.rsplit("/", 1)[-1]
        untagged_or_latest = "@" not in tag and (":" not in tag or tag.endswith(":latest"))
        container.setdefault("imagePullPolicy", "Always" if untagged_or_latest else "IfNotPresent")
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
    for volume in spec.get("volumes") or []:
        for source in ("configMap", "secret"):
            if isinstance(volume, dict) and isinstance(volume.get(source), dict):
                volume[source].setdefault("defaultMode", 420)


def _prepare_secret(secret: Manifest, key: ObjectKey) -> None:
    _check_string_map(secret, "data", key)
    _check_string_map(secret, "stringData", key)
    data = secret.get("data") or {}
    for name, value in data.items():
        try:
            base64.b64decode(value, validate=True)
        except ValueError:
            raise ManifestError(f"{key}: data.{name} is not base64 (use stringData for plain text)") from None
    # As the API server does: stringData is written into data, base64-encoded.
    for name, value in (secret.pop("stringData", None) or {}).items():
        data[name] = base64.b64encode(value.encode()).decode()
    if data:
        secret["data"] = data
    secret.setdefault("type", "Opaque")


def _check_string_map(obj: Manifest, field: str, key: ObjectKey) -> None:
    value = obj.get(field)
    if value is None:
        return
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ManifestError(f"{key}: {field} must map names to strings")


def with_server_fields(obj: Manifest, previous: Manifest | None, resource_version: int) -> Manifest:
    """Set uid and creationTimestamp (kept from ``previous``) and resourceVersion."""
    metadata = obj["metadata"]
    old = (previous or {}).get("metadata", {})
    metadata["uid"] = old.get("uid") or str(uuid.uuid4())
    metadata["creationTimestamp"] = old.get("creationTimestamp") or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    metadata["resourceVersion"] = str(resource_version)
    return obj


def same_content(new: Manifest, stored: Manifest) -> bool:
    """Whether applying ``new`` would change ``stored`` (server-set fields ignored)."""

    def user_part(obj: Manifest) -> Manifest:
        trimmed = copy.deepcopy(obj)
        for name in _SERVER_FIELDS:
            trimmed.get("metadata", {}).pop(name, None)
        return trimmed

    return user_part(new) == user_part(stored)


def pod_references(pod: Manifest) -> set[tuple[str, str]]:
    """``(kind, name)`` of the configmaps and secrets a pod uses: volumes (also projected),
    ``envFrom``, ``env[].valueFrom`` and ``imagePullSecrets`` (docs/protocol.md#9.2 "uses")."""
    spec = pod.get("spec") or {}
    found: set[tuple[str, str]] = set()

    def add(kind: str, name: Json) -> None:
        if isinstance(name, str) and name:
            found.add((kind, name))

    for volume in _dicts(spec.get("volumes")):
        add("ConfigMap", (volume.get("configMap") or {}).get("name"))
        add("Secret", (volume.get("secret") or {}).get("secretName"))
        for source in _dicts((volume.get("projected") or {}).get("sources")):
            add("ConfigMap", (source.get("configMap") or {}).get("name"))
            add("Secret", (source.get("secret") or {}).get("name"))
    for container in _dicts(spec.get("containers")) + _dicts(spec.get("initContainers")):
        for env_from in _dicts(container.get("envFrom")):
            add("ConfigMap", (env_from.get("configMapRef") or {}).get("name"))
            add("Secret", (env_from.get("secretRef") or {}).get("name"))
        for env in _dicts(container.get("env")):
            value_from = env.get("valueFrom") or {}
            add("ConfigMap", (value_from.get("configMapKeyRef") or {}).get("name"))
            add("Secret", (value_from.get("secretKeyRef") or {}).get("name"))
    for pull_secret in _dicts(spec.get("imagePullSecrets")):
        add("Secret", pull_secret.get("name"))
    return found


def _dicts(value: Json) -> list[JsonObject]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def flatten_lists(documents: list[Json]) -> list[Json]:
    """Manifests with every ``kind: List`` (or ``*List``) replaced by its items."""
    flat: list[Json] = []
    for document in documents:
        if isinstance(document, dict) and str(document.get("kind", "")).endswith("List") and isinstance(document.get("items"), list):
            flat.extend(flatten_lists(document["items"]))
        elif document is not None:
            flat.append(document)
    return flat


__all__ = [
    "DEFAULT_NAMESPACE",
    "DEVICE_API_GROUP",
    "DEVICE_KIND",
    "DEVICE_KINDS",
    "DEVICE_MODEL_KIND",
    "KINDS",
    "KIND_ALIASES",
    "Manifest",
    "ManifestError",
    "ObjectKey",
    "canonical_kind",
    "flatten_lists",
    "object_key",
    "pod_references",
    "prepare",
    "same_content",
    "with_server_fields",
]
