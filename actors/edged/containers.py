"""From a pod's container spec to the Docker container edged makes (docs/protocol.md#7.2).

Names, labels, environment (with configmap and secret references, which the original
ignored), command expansion, bind mounts and resource limits. Pure functions.
"""

from __future__ import annotations

import base64
import binascii
import math
import os
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from actors.edged.errors import ContainerConfigError
from actors.edged.model import (
    CONTAINER_HASH_LABEL,
    CONTAINER_NAME_LABEL,
    GRACE_PERIOD_LABEL,
    POD_NAME_LABEL,
    POD_NAMESPACE_LABEL,
    POD_UID_LABEL,
    RESTART_COUNT_LABEL,
    TERMINATION_MESSAGE_PATH_LABEL,
    TERMINATION_MESSAGE_POLICY_LABEL,
    ContainerConfig,
    Mount,
)
from actors.edged.pods import ContainerSpec, ObjectRef, Pod, ResourceField

#: Kubernetes' relaxed variable names (printable ASCII but '='); keys of an ``envFrom`` object
#: that are not names are skipped, as Kubernetes does.
_ENV_NAME = re.compile(r"^[\x20-\x3c\x3e-\x7e]+$")
#: Looks up a configmap or secret of the pod's namespace; None when it does not exist.
ObjectLookup = Callable[[ObjectRef], Mapping[str, Any] | None]
#: The node's allocatable CPU (cores) and memory (bytes): what a ``resourceFieldRef`` to a
#: limit that is not set gives, as in Kubernetes.
Allocatable = Callable[[], tuple[Decimal, Decimal]]


def container_name(pod: Pod, container: ContainerSpec, restart_count: int) -> str:
    """``k8s_<container>_<pod>_<namespace>_<uid>_<restarts>`` (docs/protocol.md#7.2)."""
    return "_".join(("k8s", container.name, pod.name, pod.namespace, pod.uid, str(restart_count)))


def container_labels(pod: Pod, container: ContainerSpec, restart_count: int) -> dict[str, str]:
    return {
        POD_NAME_LABEL: pod.name,
        POD_NAMESPACE_LABEL: pod.namespace,
        POD_UID_LABEL: pod.uid,
        CONTAINER_NAME_LABEL: container.name,
        CONTAINER_HASH_LABEL: container.spec_hash,
        RESTART_COUNT_LABEL: str(restart_count),
        TERMINATION_MESSAGE_PATH_LABEL: container.termination_message_path,
        TERMINATION_MESSAGE_POLICY_LABEL: container.termination_message_policy,
        GRACE_PERIOD_LABEL: f"{pod.grace_period_s:g}",
    }


def object_values(ref: ObjectRef, obj: Mapping[str, Any]) -> dict[str, str]:
    """The string values of a configmap (``data``) or secret (``data``, base64; ``stringData``)."""
    data = obj.get("data") or {}
    if not isinstance(data, dict):
        raise ContainerConfigError(f"{ref.kind} {ref.name!r}: data must be an object")
    if ref.kind == "configmap":
        return {str(k): str(v) for k, v in data.items()}
    values = {str(k): _b64_text(ref, str(k), v) for k, v in data.items()}
    string_data = obj.get("stringData") or {}
    if isinstance(string_data, dict):
        values.update({str(k): str(v) for k, v in string_data.items()})
    return values


def object_files(ref: ObjectRef, obj: Mapping[str, Any]) -> dict[str, bytes]:
    """Every key of a configmap (``data`` and ``binaryData``) or secret as file content."""
    files: dict[str, bytes] = {}
    if ref.kind == "configmap":
        for key, value in _mapping(obj, "data", ref).items():
            files[key] = str(value).encode()
        for key, value in _mapping(obj, "binaryData", ref).items():
            files[key] = _b64(ref, key, value)
        return files
    for key, value in _mapping(obj, "data", ref).items():
        files[key] = _b64(ref, key, value)
    for key, value in _mapping(obj, "stringData", ref).items():
        files[key] = str(value).encode()
    return files


def resolve_env(
    pod: Pod, container: ContainerSpec, lookup: ObjectLookup, host_ip: str, allocatable: Allocatable | None = None
) -> dict[str, str]:
    """The container's environment, as Kubernetes builds it: ``envFrom`` first, then ``env``
    in order, each value expanded against the variables before it.

    Raises:
        ContainerConfigError: a referenced object or key is missing and not optional.
    """
    env: dict[str, str] = {}
    for source in container.env_from:
        obj = lookup(source.ref)
        if obj is None:
            if source.optional:
                continue
            raise ContainerConfigError(f'{source.ref.kind} "{source.ref.name}" not found')
        for key, value in object_values(source.ref, obj).items():
            name = source.prefix + key
            if _ENV_NAME.match(name):  # Kubernetes skips keys that are not variable names
                env[name] = value
    for var in container.env:
        if var.ref is not None:
            obj = lookup(var.ref)
            values = object_values(var.ref, obj) if obj is not None else None
            if values is None or var.key not in values:
                if var.optional:
                    continue
                what = (
                    f'{var.ref.kind} "{var.ref.name}" not found'
                    if values is None
                    else f"couldn't find key {var.key} in {var.ref.kind} {pod.namespace}/{var.ref.name}"
                )
                raise ContainerConfigError(what)
            env[var.name] = values[var.key]
        elif var.field_path:
            env[var.name] = field_value(pod, var.field_path, host_ip)
        elif var.resource is not None:
            env[var.name] = resource_value(pod, container, var.resource, allocatable or node_allocatable)
        else:
            env[var.name] = expand(var.value or "", env)
    return env


def field_value(pod: Pod, path: str, host_ip: str) -> str:
    """A ``fieldRef`` value (the downward API's fields that make sense on an edge)."""
    simple = {
        "metadata.name": pod.name,
        "metadata.namespace": pod.namespace,
        "metadata.uid": pod.uid,
        "spec.nodeName": pod.node_name,
        "spec.serviceAccountName": pod.service_account,
        "status.hostIP": host_ip,
        "status.hostIPs": host_ip,
        "status.podIP": host_ip,  # host networking: the pod's address is the host's
        "status.podIPs": host_ip,
    }
    if path in simple:
        return simple[path]
    match = re.match(r"^metadata\.(labels|annotations)\['([^']+)'\]$", path)
    if match:
        source = pod.labels if match[1] == "labels" else pod.annotations
        return source.get(match[2], "")
    raise ContainerConfigError(f"fieldRef {path!r} is not supported")


def resource_value(pod: Pod, container: ContainerSpec, field: ResourceField, allocatable: Allocatable) -> str:
    """A ``resourceFieldRef`` value, as the kubelet computes it: the request or limit over the
    divisor, rounded up; a limit not set is the node's allocatable, a request not set the limit
    (Kubernetes' default) or 0."""
    if field.container:
        named = next((c for c in pod.containers if c.name == field.container), None)
        if named is None:
            raise ContainerConfigError(f"resourceFieldRef: no container named {field.container!r} in the pod")
        container = named
    kind, resource = field.resource.split(".")
    if resource == "cpu":
        limit = Decimal(container.cpu_limit_millis) / 1000 if container.cpu_limit_millis is not None else None
        request = Decimal(container.cpu_request_millis) / 1000 if container.cpu_request_millis is not None else None
    else:
        limit = Decimal(container.memory_limit) if container.memory_limit is not None else None
        request = Decimal(container.memory_request) if container.memory_request is not None else None
    if kind == "limits":
        amount = limit if limit is not None else allocatable()[0 if resource == "cpu" else 1]
    else:
        amount = request if request is not None else limit if limit is not None else Decimal(0)
    return str(math.ceil(amount / field.divisor))


def node_allocatable() -> tuple[Decimal, Decimal]:
    """This machine's CPUs and memory less 100Mi, as the node status reports them allocatable."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") - 100 * 1024 * 1024
    return Decimal(os.cpu_count() or 1), Decimal(max(memory, 0))


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: known names are replaced, ``$$`` escapes, the rest stays."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "$" or i + 1 >= len(text):
            out.append(char)
            i += 1
            continue
        following = text[i + 1]
        if following == "$":
            out.append("$")
            i += 2
        elif following == "(":
            end = text.find(")", i + 2)
            if end < 0:
                out.append(text[i:])
                break
            name = text[i + 2 : end]
            out.append(env.get(name, f"$({name})"))
            i = end + 1
        else:
            out.append(char)
            i += 1
    return "".join(out)


def build_container_config(
    pod: Pod, container: ContainerSpec, restart_count: int, env: Mapping[str, str], mounts: tuple[Mount, ...]
) -> ContainerConfig:
    """What Docker is asked to create (``command`` → entrypoint, ``args`` → command, as Kubernetes)."""
    cpu_millis = container.cpu_request_millis if container.cpu_request_millis is not None else container.cpu_limit_millis
    quota = None
    if container.cpu_limit_millis is not None:
        quota = max(container.cpu_limit_millis * 100_000 // 1000, 1000)  # docs/protocol.md#7.2
    return ContainerConfig(
        name=container_name(pod, container, restart_count),
        image=container.image,
        labels=container_labels(pod, container, restart_count),
        entrypoint=tuple(expand(a, env) for a in container.command) if container.command is not None else None,
        command=tuple(expand(a, env) for a in container.args) if container.args is not None else None,
        env=tuple(f"{k}={v}" for k, v in env.items()),
        working_dir=container.working_dir,
        mounts=mounts,
        tty=container.tty,
        stdin_open=container.stdin,
        privileged=container.privileged,
        user=str(container.run_as_user) if container.run_as_user is not None else None,
        cpu_shares=max(cpu_millis * 1024 // 1000, 2) if cpu_millis is not None else None,  # docs/protocol.md#7.2
        cpu_quota=quota,
        cpu_period=100_000 if quota is not None else None,
        memory_limit=container.memory_limit,
    )


def _mapping(obj: Mapping[str, Any], key: str, ref: ObjectRef) -> dict[str, Any]:
    value = obj.get(key) or {}
    if not isinstance(value, dict):
        raise ContainerConfigError(f"{ref.kind} {ref.name!r}: {key} must be an object")
    return {str(k): v for k, v in value.items()}


def _b64(ref: ObjectRef, key: str, value: Any) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except binascii.Error as exc:
        raise ContainerConfigError(f"{ref.kind} {ref.name!r}: key {key!r} is not base64") from exc


def _b64_text(ref: ObjectRef, key: str, value: Any) -> str:
    return _b64(ref, key, value).decode("utf-8", errors="replace")


__all__ = [
    "ObjectLookup",
    "build_container_config",
    "container_labels",
    "container_name",
    "expand",
    "field_value",
    "node_allocatable",
    "object_files",
    "object_values",
    "resolve_env",
    "resource_value",
]
