"""The API server's errors: each one is a Kubernetes ``Status`` (docs/protocol.md#12.4)."""

from __future__ import annotations

from typing import Any

from kubeedge_actors.errors import KubeEdgeActorsError


class KubeApiError(KubeEdgeActorsError):
    """A request the API server answers with a ``metav1.Status`` failure.

    Attributes:
        code: the HTTP status code.
        reason: Kubernetes' ``StatusReason`` (``NotFound``, ``Conflict``, ``Invalid``...).
        details: the Status ``details`` (name, group, kind, causes), or None.
    """

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


class KubeApiServerError(KubeEdgeActorsError):
    """The API server cannot start: a TLS file or the token file is unusable, or the address is taken."""


def not_found(group: str, plural: str, name: str) -> KubeApiError:
    what = f"{plural}.{group}" if group else plural
    return KubeApiError(404, "NotFound", f'{what} "{name}" not found', {"name": name, "group": group, "kind": plural})


def already_exists(group: str, plural: str, name: str) -> KubeApiError:
    what = f"{plural}.{group}" if group else plural
    return KubeApiError(409, "AlreadyExists", f'{what} "{name}" already exists', {"name": name, "group": group, "kind": plural})


def conflict(group: str, plural: str, name: str, why: str) -> KubeApiError:
    what = f"{plural}.{group}" if group else plural
    text = f'Operation cannot be fulfilled on {what} "{name}": {why}'
    return KubeApiError(409, "Conflict", text, {"name": name, "group": group, "kind": plural})


def bad_request(message: str) -> KubeApiError:
    return KubeApiError(400, "BadRequest", message)


def gone(message: str) -> KubeApiError:
    return KubeApiError(410, "Expired", message)


class Invalid(KubeApiError):
    """422: the object breaks a rule; ``causes`` name each field, as Kubernetes does."""

    def __init__(self, kind: str, group: str, name: str, causes: list[tuple[str, str, str]]) -> None:
        """``causes``: (reason, field, message), e.g. ("FieldValueRequired", "spec.containers", "Required value")."""
        joined = ", ".join(f"{field}: {message}" for _reason, field, message in causes)
        what = f"{kind}.{group}" if group else kind
        if len(causes) > 1:
            joined = f"[{joined}]"
        super().__init__(
            422,
            "Invalid",
            f'{what} "{name}" is invalid: {joined}',
            {
                "name": name,
                "group": group,
                "kind": kind,
                "causes": [{"reason": reason, "message": message, "field": field} for reason, field, message in causes],
            },
        )


__all__ = ["Invalid", "KubeApiError", "KubeApiServerError", "already_exists", "bad_request", "conflict", "gone", "not_found"]
