"""Pods and configmaps for tests, as the cloud sends them."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any


def make_pod(
    name: str = "web",
    *,
    namespace: str = "default",
    uid: str | None = None,
    image: str = "kubeedge-actors/busybox:test",
    command: list[str] | None = None,
    restart_policy: str | None = None,
    grace_s: int | None = 1,
    containers: list[dict[str, Any]] | None = None,
    volumes: list[dict[str, Any]] | None = None,
    **container_fields: Any,
) -> dict[str, Any]:
    container = {"name": "main", "image": image, "command": command or ["sleep", "3600"], **container_fields}
    spec: dict[str, Any] = {"containers": containers if containers is not None else [container]}
    if restart_policy:
        spec["restartPolicy"] = restart_policy
    if grace_s is not None:
        spec["terminationGracePeriodSeconds"] = grace_s
    if volumes:
        spec["volumes"] = volumes
    return {"metadata": {"name": name, "namespace": namespace, "uid": uid or str(uuid.uuid4())}, "spec": spec}


def make_configmap(name: str, data: dict[str, str], namespace: str = "default") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace}, "data": data}


def make_secret(name: str, data: dict[str, str], namespace: str = "default", secret_type: str = "Opaque") -> dict[str, Any]:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return {"metadata": {"name": name, "namespace": namespace}, "type": secret_type, "data": encoded}


def pull_secret(name: str, registry: str, username: str, password: str, namespace: str = "default") -> dict[str, Any]:
    config = {"auths": {registry: {"auth": base64.b64encode(f"{username}:{password}".encode()).decode()}}}
    return make_secret(name, {".dockerconfigjson": json.dumps(config)}, namespace, "kubernetes.io/dockerconfigjson")


def as_meta_answer(*objects: dict[str, Any]) -> list[str]:
    """meta's answer to a query (docs/architecture.md#4.3): a JSON array of JSON strings."""
    return [json.dumps(o) for o in objects]
