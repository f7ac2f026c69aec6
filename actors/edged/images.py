"""Image references, pull policies and registry credentials (docs/protocol.md#7.1 steps 4–5).

Pure functions: parsing what a pod says into what a pull needs.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from actors.edged.errors import ImageReferenceError, PullSecretError
from actors.edged.model import RegistryAuth

DEFAULT_REGISTRY = "docker.io"
_DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"})
# The distribution reference grammar, simplified: lowercase path components, optional host.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?"
_REFERENCE = re.compile(
    rf"^(?P<name>(?:{_HOST}/)?{_COMPONENT}(?:/{_COMPONENT})*)(?::(?P<tag>[\w][\w.-]{{0,127}}))?(?:@(?P<digest>[a-z0-9]+:[a-fA-F0-9]{{32,}}))?$"
)


@dataclass(frozen=True, slots=True)
class ImageRef:
    """A parsed image reference.

    Attributes:
        repository: the name without tag or digest, as given (``127.0.0.1:5000/app``, ``busybox``).
        registry: the registry host (``docker.io`` when the name has none).
        tag: the tag, or None.
        digest: ``sha256:...``, or None.
    """

    repository: str
    registry: str
    tag: str | None
    digest: str | None

    @property
    def tag_or_digest(self) -> str:
        """What to pull: the digest, else the tag, else ``latest`` (as Docker does)."""
        return self.digest or self.tag or "latest"


def parse_image_ref(image: str) -> ImageRef:
    """Parse ``[host[:port]/]path[:tag][@digest]``.

    Raises:
        ImageReferenceError: empty, or not a reference Docker accepts.
    """
    match = _REFERENCE.match(image) if image else None
    if match is None:
        raise ImageReferenceError(f"invalid image name {image!r}: expected [registry/]name[:tag][@digest] in lowercase")
    name = match["name"]
    first, _, rest = name.partition("/")
    has_host = bool(rest) and ("." in first or ":" in first or first == "localhost" or first != first.lower())
    return ImageRef(name, first if has_host else DEFAULT_REGISTRY, match["tag"], match["digest"])


def default_pull_policy(image: str) -> str:
    """Kubernetes' default: ``Always`` for ``:latest`` or no tag, otherwise ``IfNotPresent``."""
    try:
        ref = parse_image_ref(image)
    except ImageReferenceError:
        return "IfNotPresent"  # the bad name is reported when the container is made
    if ref.digest is None and ref.tag in (None, "latest"):
        return "Always"
    return "IfNotPresent"


def normalize_registry(server: str) -> str:
    """``https://index.docker.io/v1/`` → ``docker.io``; ``http://127.0.0.1:5000/v2`` → ``127.0.0.1:5000``."""
    host = server.split("://", 1)[-1].split("/", 1)[0].lower()
    return DEFAULT_REGISTRY if host in _DOCKER_HUB_ALIASES else host


def registry_auth_from_secret(secret: Any, registry: str) -> RegistryAuth | None:
    """Credentials for ``registry`` from a ``kubernetes.io/dockerconfigjson`` (or ``dockercfg``)
    secret; entries are tried in order (docs/protocol.md#7.2). None when the secret has none for it.

    Raises:
        PullSecretError: the secret is not such a secret or its data cannot be decoded.
    """
    if not isinstance(secret, dict):
        raise PullSecretError("an image pull secret must be an object")
    data = secret.get("data") or {}
    if not isinstance(data, dict):
        raise PullSecretError("secret data must be an object")
    if ".dockerconfigjson" in data:
        auths = _decoded_json(data[".dockerconfigjson"]).get("auths", {})
    elif ".dockercfg" in data:
        auths = _decoded_json(data[".dockercfg"])
    else:
        raise PullSecretError(f"secret type {secret.get('type', '')!r} holds no .dockerconfigjson")
    if not isinstance(auths, dict):
        raise PullSecretError("the docker config's auths must be an object")
    wanted = normalize_registry(registry)
    for server, entry in auths.items():
        if normalize_registry(str(server)) == wanted and isinstance(entry, dict):
            return _auth_entry(str(server), entry)
    return None


def _decoded_json(value: Any) -> dict[str, Any]:
    try:
        document = json.loads(base64.b64decode(str(value), validate=True))
    except (binascii.Error, ValueError) as exc:
        raise PullSecretError(f"the docker config is not base64-encoded JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise PullSecretError("the docker config must be a JSON object")
    return document


def _auth_entry(server: str, entry: dict[str, Any]) -> RegistryAuth:
    username, password = str(entry.get("username") or ""), str(entry.get("password") or "")
    if entry.get("auth") and not username:
        try:
            username, _, password = base64.b64decode(str(entry["auth"])).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise PullSecretError(f"auth of {server} is not base64 user:password") from exc
    return RegistryAuth(username, password, server)


__all__ = [
    "ImageRef",
    "default_pull_policy",
    "normalize_registry",
    "parse_image_ref",
    "registry_auth_from_secret",
]
