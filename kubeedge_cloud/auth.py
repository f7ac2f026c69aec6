"""Who sent a request to one of the cloud side's HTTP servers (docs/protocol.md#12.4).

The Kubernetes API server (``kube/server.py``) and the control API (``apiserver.py``) both
authenticate every request the same way: a client certificate of the project's CA (its CN is
the user, its O the groups), or a bearer token from Kubernetes' static token file. Only admins
may use them: the CA issues the edges' certificates too, and an edge must not read the API.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubeedge_cloud.errors import TokenFileError

#: The group of a certificate that may do anything: the CA issues edge certificates too.
ADMIN_GROUP = "system:masters"


@dataclass(frozen=True)
class User:
    """Who sent a request: the certificate's CN and O, or the token file's user and groups."""

    name: str
    groups: tuple[str, ...]
    #: From the token file, which only the operator writes: trusted like an admin certificate.
    by_token: bool = False

    @property
    def admin(self) -> bool:
        return self.by_token or ADMIN_GROUP in self.groups


def read_tokens(path: Path | None) -> dict[str, User]:
    """The token file: one ``token,user,uid[,groups]`` a line; ``#`` comments and blank lines skipped.

    Raises:
        TokenFileError: a line without a token or a user (the text names the line).
        OSError: the file cannot be read.
    """
    if path is None:
        return {}
    tokens: dict[str, User] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = [p.strip().strip('"') for p in line.split(",", 3)]
        if len(parts) < 2 or not parts[0] or not parts[1]:
            raise TokenFileError(f"{path}:{number}: expected token,user,uid[,groups]")
        groups = tuple(g for g in parts[3].split(",") if g) if len(parts) > 3 else ()
        tokens[parts[0]] = User(parts[1], groups, by_token=True)
    return tokens


def client_verifying_context(cert: Path, key: Path, ca: Path) -> ssl.SSLContext:
    """A server's TLS context that asks for a client certificate of ``ca`` but lets a client
    without one in (it may bring a bearer token instead).

    Raises:
        ssl.SSLError, OSError: a file cannot be loaded.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.load_verify_locations(ca)
    context.verify_mode = ssl.CERT_OPTIONAL  # a bearer token instead of a certificate is fine
    return context


def user_of(connection: Any, authorization: str, tokens: dict[str, User]) -> User | None:
    """The user of a request: its connection's client certificate (verified by the CA during
    the handshake), else its ``Authorization: Bearer`` token; None: neither."""
    if isinstance(connection, ssl.SSLSocket):
        cert = connection.getpeercert()
        if cert:
            # The CA verified it (CERT_OPTIONAL refuses a certificate it did not sign).
            pairs: list[tuple[str, str]] = [pair for rdn in cert.get("subject", ()) for pair in rdn]  # type: ignore[misc]
            name = next((value for key, value in pairs if key == "commonName"), "")
            return User(name, tuple(value for key, value in pairs if key == "organizationName"))
    if authorization.startswith("Bearer "):
        return tokens.get(authorization[len("Bearer ") :].strip())
    return None


__all__ = ["ADMIN_GROUP", "User", "client_verifying_context", "read_tokens", "user_of"]
