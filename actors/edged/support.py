"""What edged does with each field of a v1 PodSpec and Container (docs/protocol.md#7.11).

Every field is in one of four groups:

- ``implemented``: edged does what Kubernetes does with it;
- ``not needed``: it asks for something that is already so on an edge (the pod is scheduled,
  every container shares the host's network), so edged has nothing to do;
- ``ignored``: edged cannot do it and runs the pod without it; the pod's status ``message``
  names the field, so that a user sees it at the cloud (``ctl get pods``, ``ctl describe pod``);
- ``rejected``: the pod cannot run as asked, and does not run: its containers wait with
  ``CreateContainerConfigError`` naming the field (volume types edged lacks; checked where the
  field is read, :mod:`actors.edged.podparts`).

A field that is not in the tables (a typo, a field of a later Kubernetes) is ignored with a
warning, as the API server's field validation warns about unknown fields.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

IMPLEMENTED, NOT_NEEDED, IGNORED, REJECTED = "implemented", "not needed", "ignored", "rejected"


@dataclass(frozen=True, slots=True)
class Support:
    """What edged does with one field; ``asks`` says whether a value asks for anything at all
    (``shareProcessNamespace: false`` asks for nothing edged lacks)."""

    group: str
    why: str = ""
    asks: Callable[[Any], bool] = bool


def _is_false(value: Any) -> bool:
    return value is False


def _not_linux(value: Any) -> bool:
    return isinstance(value, dict) and value.get("name") not in (None, "", "linux")


POD_FIELDS: dict[str, Support] = {
    "containers": Support(IMPLEMENTED),
    "initContainers": Support(IMPLEMENTED),
    "volumes": Support(IMPLEMENTED, "configMap, secret, emptyDir, hostPath, downwardAPI, projected; other types are rejected"),
    "restartPolicy": Support(IMPLEMENTED),
    "terminationGracePeriodSeconds": Support(IMPLEMENTED),
    "imagePullSecrets": Support(IMPLEMENTED),
    "nodeName": Support(IMPLEMENTED),
    "serviceAccountName": Support(IMPLEMENTED, "for fieldRef only: edged has no service account tokens"),
    "serviceAccount": Support(IMPLEMENTED, "as serviceAccountName"),
    "hostNetwork": Support(NOT_NEEDED, "every container shares the host's network (7.2)"),
    "dnsPolicy": Support(NOT_NEEDED, "host network: the host's resolver"),
    "enableServiceLinks": Support(NOT_NEEDED, "no services on the edge: no variables to add"),
    "nodeSelector": Support(NOT_NEEDED, "scheduling is done before the pod reaches the edge"),
    "affinity": Support(NOT_NEEDED, "scheduling"),
    "tolerations": Support(NOT_NEEDED, "scheduling"),
    "schedulerName": Support(NOT_NEEDED, "scheduling"),
    "schedulingGates": Support(NOT_NEEDED, "scheduling"),
    "priority": Support(NOT_NEEDED, "scheduling and eviction"),
    "priorityClassName": Support(NOT_NEEDED, "scheduling and eviction"),
    "preemptionPolicy": Support(NOT_NEEDED, "scheduling"),
    "topologySpreadConstraints": Support(NOT_NEEDED, "scheduling"),
    "overhead": Support(NOT_NEEDED, "scheduling (set by the runtime class)"),
    "automountServiceAccountToken": Support(IGNORED, "edged mounts no service account token"),
    "ephemeralContainers": Support(IGNORED, "edged runs no ephemeral containers"),
    "shareProcessNamespace": Support(IGNORED, "each container has its own process namespace"),
    "hostPID": Support(IGNORED, "containers get their own process namespace"),
    "hostIPC": Support(IGNORED, "containers get their own IPC namespace"),
    "hostUsers": Support(IGNORED, "no user namespaces", asks=_is_false),
    "hostAliases": Support(IGNORED, "no /etc/hosts entries are added"),
    "hostname": Support(IGNORED, "host network: the host's name"),
    "subdomain": Support(IGNORED, "host network: the host's name"),
    "setHostnameAsFQDN": Support(IGNORED, "host network: the host's name"),
    "dnsConfig": Support(IGNORED, "host network: the host's resolver"),
    "securityContext": Support(IGNORED, "pod-level security settings are not applied"),
    "runtimeClassName": Support(IGNORED, "Docker's default runtime is used"),
    "activeDeadlineSeconds": Support(IGNORED, "the pod is not stopped at a deadline"),
    "readinessGates": Support(IGNORED, "Ready follows the containers only"),
    "resourceClaims": Support(IGNORED, "no dynamic resource allocation"),
    "resources": Support(IGNORED, "pod-level resources are not applied (container resources are)"),
    "os": Support(IGNORED, "edged runs Linux containers", asks=_not_linux),
}

CONTAINER_FIELDS: dict[str, Support] = {
    "name": Support(IMPLEMENTED),
    "image": Support(IMPLEMENTED),
    "imagePullPolicy": Support(IMPLEMENTED),
    "command": Support(IMPLEMENTED),
    "args": Support(IMPLEMENTED),
    "workingDir": Support(IMPLEMENTED),
    "env": Support(IMPLEMENTED, "value, configMapKeyRef, secretKeyRef, fieldRef, resourceFieldRef"),
    "envFrom": Support(IMPLEMENTED),
    "volumeMounts": Support(IMPLEMENTED, "mountPropagation and subPathExpr are ignored"),
    "resources": Support(IMPLEMENTED, "cpu and memory requests and limits; other resources and claims are ignored"),
    "securityContext": Support(IMPLEMENTED, "privileged and runAsUser; the other settings are ignored"),
    "tty": Support(IMPLEMENTED),
    "stdin": Support(IMPLEMENTED),
    "terminationMessagePath": Support(IMPLEMENTED),
    "terminationMessagePolicy": Support(IMPLEMENTED),
    "livenessProbe": Support(IMPLEMENTED),
    "readinessProbe": Support(IMPLEMENTED),
    "startupProbe": Support(IMPLEMENTED),
    "lifecycle": Support(IMPLEMENTED),
    "ports": Support(NOT_NEEDED, "host network: the container's ports are the host's"),
    "resizePolicy": Support(NOT_NEEDED, "resources are changed by a restart"),
    "stdinOnce": Support(IGNORED, "nothing attaches to a container's stdin"),
    "volumeDevices": Support(IGNORED, "no block volumes"),
    "restartPolicy": Support(IGNORED, "a container's own policy (sidecars) is not applied; the pod's is"),
}

#: The parts of a container's securityContext and resources edged applies.
SECURITY_CONTEXT_APPLIED = ("privileged", "runAsUser")
RESOURCES_APPLIED = ("cpu", "memory")


def unsupported_fields(spec: Mapping[str, Any]) -> tuple[str, ...]:
    """One warning per field of ``spec`` (a PodSpec) that edged ignores, naming the field."""
    warnings = _scan(spec, POD_FIELDS, "spec")
    for group in ("containers", "initContainers"):
        for index, container in enumerate(spec.get(group) or ()):
            if isinstance(container, dict):
                warnings += _container_warnings(container, f"spec.{group}[{index}]")
    return tuple(warnings)


def _scan(obj: Mapping[str, Any], table: Mapping[str, Support], where: str) -> list[str]:
    warnings: list[str] = []
    for key, value in obj.items():
        support = table.get(key)
        if support is None:
            if value is not None:
                warnings.append(f"{where}.{key}: unknown field, ignored")
        elif support.group == IGNORED and support.asks(value):
            warnings.append(f"{where}.{key}: ignored ({support.why})")
    return warnings


def _container_warnings(container: Mapping[str, Any], where: str) -> list[str]:
    warnings = _scan(container, CONTAINER_FIELDS, where)
    security = container.get("securityContext")
    if isinstance(security, dict):
        warnings += [
            f"{where}.securityContext.{key}: ignored (edged applies privileged and runAsUser only)"
            for key, value in security.items()
            if key not in SECURITY_CONTEXT_APPLIED and value is not None
        ]
    resources = container.get("resources")
    if isinstance(resources, dict):
        for kind in ("requests", "limits"):
            amounts = resources.get(kind)
            if isinstance(amounts, dict):
                warnings += [
                    f"{where}.resources.{kind}.{name}: ignored (edged applies cpu and memory only)"
                    for name in amounts
                    if name not in RESOURCES_APPLIED
                ]
        if resources.get("claims"):
            warnings.append(f"{where}.resources.claims: ignored (no dynamic resource allocation)")
    for index, mount in enumerate(container.get("volumeMounts") or ()):
        if not isinstance(mount, dict):
            continue
        if mount.get("mountPropagation") not in (None, "", "None"):
            warnings.append(f"{where}.volumeMounts[{index}].mountPropagation: ignored (mounts are private)")
        if mount.get("subPathExpr"):
            warnings.append(f"{where}.volumeMounts[{index}].subPathExpr: ignored (the whole volume is mounted)")
    return warnings


def status_message(warnings: tuple[str, ...]) -> str:
    """The pod status ``message`` that shows the warnings at the cloud (docs/protocol.md#7.11)."""
    return "edged: " + "; ".join(warnings) if warnings else ""


__all__ = [
    "CONTAINER_FIELDS",
    "IGNORED",
    "IMPLEMENTED",
    "NOT_NEEDED",
    "POD_FIELDS",
    "REJECTED",
    "Support",
    "status_message",
    "unsupported_fields",
]
