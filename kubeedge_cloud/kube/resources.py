"""The kinds the embedded API server serves, and the rules it checks on write
(docs/protocol.md#12.4)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kubeedge_cloud.kube.errors import Invalid, bad_request

DEVICES_GROUP = "devices.kubeedge.io"
DEVICES_VERSION = "v1alpha1"


@dataclass(frozen=True)
class Resource:
    """One REST resource: ``/api/v1/namespaces/<ns>/pods`` is (group "", version v1, plural pods)."""

    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    #: Has a ``/status`` subresource: the main endpoint keeps the stored status, ``/status`` only writes it.
    has_status: bool = False
    categories: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        """The store's name of the resource."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def strategic(self) -> bool:
        """Built-in kinds take strategic merge patches; custom resources do not (as in Kubernetes)."""
        return not self.group


RESOURCES: tuple[Resource, ...] = (
    Resource("", "v1", "namespaces", "namespace", "Namespace", False, ("ns",), has_status=True),
    Resource("", "v1", "nodes", "node", "Node", False, ("no",), has_status=True),
    Resource("", "v1", "pods", "pod", "Pod", True, ("po",), has_status=True, categories=("all",)),
    Resource("", "v1", "configmaps", "configmap", "ConfigMap", True, ("cm",)),
    Resource("", "v1", "secrets", "secret", "Secret", True),
    Resource("", "v1", "events", "event", "Event", True, ("ev",)),
    Resource(DEVICES_GROUP, DEVICES_VERSION, "devices", "device", "Device", True),
    Resource(DEVICES_GROUP, DEVICES_VERSION, "devicemodels", "devicemodel", "DeviceModel", True),
)

GROUP_VERSIONS: tuple[tuple[str, str], ...] = (("", "v1"), (DEVICES_GROUP, DEVICES_VERSION))


def resources_of(group: str, version: str) -> list[Resource]:
    return [r for r in RESOURCES if r.group == group and r.version == version]


def find_resource(group: str, version: str, plural: str) -> Resource | None:
    for resource in RESOURCES:
        if (resource.group, resource.version, resource.plural) == (group, version, plural):
            return resource
    return None


# Kubernetes' DNS-1123 rules (k8s.io/apimachinery/pkg/util/validation).
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN_TEXT = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_LABEL_TEXT = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
    "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)

# The fields strict validation knows (fieldValidation=Strict, kubectl's default): the object and
# the parts of a pod an edge runs. Deeper objects (volumes' sources, probes...) are not checked.
_OBJECT_FIELDS = {"apiVersion", "kind", "metadata", "spec", "status"}
_KIND_FIELDS = {
    "ConfigMap": {"apiVersion", "kind", "metadata", "data", "binaryData", "immutable"},
    "Secret": {"apiVersion", "kind", "metadata", "data", "stringData", "type", "immutable"},
    "Event": {
        "apiVersion", "kind", "metadata", "involvedObject", "reason", "message", "source", "firstTimestamp",
        "lastTimestamp", "count", "type", "eventTime", "series", "action", "related", "reportingComponent",
        "reportingInstance",
    },
}  # fmt: skip
_METADATA_FIELDS = {
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation", "creationTimestamp",
    "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences", "finalizers",
    "managedFields",
}  # fmt: skip
_POD_SPEC_FIELDS = {
    "volumes", "initContainers", "containers", "ephemeralContainers", "restartPolicy", "terminationGracePeriodSeconds",
    "activeDeadlineSeconds", "dnsPolicy", "nodeSelector", "serviceAccountName", "serviceAccount",
    "automountServiceAccountToken", "nodeName", "hostNetwork", "hostPID", "hostIPC", "shareProcessNamespace",
    "securityContext", "imagePullSecrets", "hostname", "subdomain", "affinity", "schedulerName", "tolerations",
    "hostAliases", "priorityClassName", "priority", "dnsConfig", "readinessGates", "runtimeClassName",
    "enableServiceLinks", "preemptionPolicy", "overhead", "topologySpreadConstraints", "setHostnameAsFQDN", "os",
    "hostUsers", "schedulingGates", "resourceClaims", "resources",
}  # fmt: skip
_CONTAINER_FIELDS = {
    "name", "image", "command", "args", "workingDir", "ports", "envFrom", "env", "resources", "resizePolicy",
    "restartPolicy", "volumeMounts", "volumeDevices", "livenessProbe", "readinessProbe", "startupProbe", "lifecycle",
    "terminationMessagePath", "terminationMessagePolicy", "imagePullPolicy", "securityContext", "stdin", "stdinOnce",
    "tty",
}  # fmt: skip


def check_kind(resource: Resource, obj: Any) -> dict[str, Any]:
    """The body must be a JSON object of this resource's kind and version (400 otherwise)."""
    if not isinstance(obj, dict):
        raise bad_request(f"the body of the request is not a {resource.kind} object")
    kind, api_version = obj.get("kind"), obj.get("apiVersion")
    if kind not in (None, resource.kind) or api_version not in (None, resource.api_version):
        raise bad_request(
            f"the API version in the data ({api_version}) does not match the expected API version ({resource.api_version})"
            if api_version != resource.api_version
            else f"the kind in the data ({kind}) does not match the expected kind ({resource.kind})"
        )
    obj["kind"], obj["apiVersion"] = resource.kind, resource.api_version
    if not isinstance(obj.get("metadata", {}), dict):
        raise bad_request(f"{resource.kind} in version {resource.version!r} cannot be handled: metadata is not an object")
    return obj


def unknown_fields(resource: Resource, obj: dict[str, Any]) -> list[str]:
    """The fields strict validation does not know, as Kubernetes names them (``spec.foo``)."""
    found = [f for f in obj if f not in _KIND_FIELDS.get(resource.kind, _OBJECT_FIELDS)]
    found += [f"metadata.{f}" for f in obj.get("metadata", {}) if f not in _METADATA_FIELDS]
    spec = obj.get("spec")
    if resource.kind == "Pod" and isinstance(spec, dict):
        found += [f"spec.{f}" for f in spec if f not in _POD_SPEC_FIELDS]
        for part in ("initContainers", "containers"):
            containers = spec.get(part)
            for i, container in enumerate(containers if isinstance(containers, list) else []):
                if isinstance(container, dict):
                    found += [f"spec.{part}[{i}].{f}" for f in container if f not in _CONTAINER_FIELDS]
    return found


def validate(resource: Resource, obj: dict[str, Any]) -> None:
    """Kubernetes' rules for what this server runs: names, and a pod's containers.

    Raises:
        Invalid: 422, one cause per broken rule, each naming its field.
    """
    meta = obj.get("metadata", {})
    name = meta.get("name", "")
    causes: list[tuple[str, str, str]] = []
    rule, text = (_LABEL, _LABEL_TEXT) if resource.plural in ("namespaces",) else (_SUBDOMAIN, _SUBDOMAIN_TEXT)
    if not name:
        causes.append(("FieldValueRequired", "metadata.name", "Required value: name or generateName is required"))
    elif not isinstance(name, str) or len(name) > 253 or not rule.match(name):
        causes.append(("FieldValueInvalid", "metadata.name", f'Invalid value: "{name}": {text}'))
    for field in ("labels", "annotations"):
        value = meta.get(field)
        if value is not None and (not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values())):
            causes.append(("FieldValueInvalid", f"metadata.{field}", "Invalid value: must be a map of strings"))
    if resource.kind == "Pod":
        causes += _pod_causes(obj.get("spec"))
    if causes:
        raise Invalid(resource.kind, resource.group, str(name), causes)


def _pod_causes(spec: Any) -> list[tuple[str, str, str]]:
    if not isinstance(spec, dict):
        return [("FieldValueRequired", "spec", "Required value")]
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        return [("FieldValueRequired", "spec.containers", "Required value")]
    causes: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for i, container in enumerate(containers):
        where = f"spec.containers[{i}]"
        if not isinstance(container, dict):
            causes.append(("FieldValueInvalid", where, "Invalid value: must be an object"))
            continue
        name = container.get("name")
        if not name:
            causes.append(("FieldValueRequired", f"{where}.name", "Required value"))
        elif not isinstance(name, str) or not _LABEL.match(name):
            causes.append(("FieldValueInvalid", f"{where}.name", f'Invalid value: "{name}": {_LABEL_TEXT}'))
        elif name in seen:
            causes.append(("FieldValueDuplicate", f"{where}.name", f'Duplicate value: "{name}"'))
        seen.add(str(name))
        if not container.get("image"):
            causes.append(("FieldValueRequired", f"{where}.image", "Required value"))
    return causes


__all__ = [
    "DEVICES_GROUP",
    "DEVICES_VERSION",
    "GROUP_VERSIONS",
    "RESOURCES",
    "Resource",
    "check_kind",
    "find_resource",
    "resources_of",
    "unknown_fields",
    "validate",
]
