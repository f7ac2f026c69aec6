"""A Python client of the control API (``cloudapi``): for programs that drive the cloud side
without Kubernetes, and for this project's tests and benchmarks.

The control API authenticates like the Kubernetes API server: give the client the admin's
certificate (``certs/admin.crt``, ``admin.key``, written by ``python -m kubeedge_cloud certs``)
and the CA, or a bearer token of ``kube.token-file``::

    client = ApiClient("https://127.0.0.1:10080", tls=admin_tls(Path("certs")))
    status, answer = client.call("GET", "pods")
"""

from __future__ import annotations

import contextlib
import http.client
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from kubeedge_actors.message import Json, JsonObject
from kubeedge_cloud.errors import ApiClientError

_TIMEOUT_S = 40.0


def admin_tls(certs: Path, *, cert: Path | None = None, key: Path | None = None, ca: Path | None = None) -> ssl.SSLContext:
    """A client context that trusts the project's CA and presents the admin's certificate
    (by default ``certs/ca.crt``, ``certs/admin.crt`` and ``certs/admin.key``)."""
    context = ssl.create_default_context(cafile=str(ca or certs / "ca.crt"))
    context.load_cert_chain(cert or certs / "admin.crt", key or certs / "admin.key")
    return context


class ApiClient:
    """JSON over HTTPS to the control API (urllib: no extra dependency).

    ``tls``: the client's context, with the admin's certificate (:func:`admin_tls`); ``token``:
    a bearer token of the token file instead (or over plain HTTP).
    """

    def __init__(self, server: str, *, tls: ssl.SSLContext | None = None, token: str | None = None) -> None:
        self.server = server.rstrip("/")
        self.tls = tls
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def request(self, method: str, path: str, body: Json = None, query: dict[str, str] | None = None) -> urllib.request.Request:
        """The request for ``path`` under ``/api/v1/`` (empty query values left out), JSON body."""
        url = f"{self.server}/api/v1/{path}"
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v})
        data = json.dumps(body).encode() if body is not None else None
        return urllib.request.Request(url, data=data, method=method, headers=self.headers)

    def call(self, method: str, path: str, body: Json = None, query: dict[str, str] | None = None) -> tuple[int, JsonObject]:
        request = self.request(method, path, body, query)
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT_S, context=self.tls) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            try:
                return exc.code, json.loads(exc.read() or b"{}")
            except ValueError:
                return exc.code, {"error": f"HTTP {exc.code} {exc.reason}"}
        except (urllib.error.URLError, OSError) as exc:
            raise _unreachable(self.server, exc) from exc

    @contextlib.contextmanager
    def stream(self, method: str, path: str, body: Json = None, query: dict[str, str] | None = None) -> Iterator[http.client.HTTPResponse]:
        """A streaming answer, read as it comes (no timeout: ``-f`` waits as long as the user does).

        Raises:
            ApiClientError: the API answered an error (its text), or cannot be reached.
        """
        request = self.request(method, path, body, query)
        try:
            response = urllib.request.urlopen(request, context=self.tls)
        except urllib.error.HTTPError as exc:
            try:
                text = json.loads(exc.read() or b"{}").get("error") or f"HTTP {exc.code}"
            except ValueError:
                text = f"HTTP {exc.code} {exc.reason}"
            raise ApiClientError(text) from None
        except (urllib.error.URLError, OSError) as exc:
            raise _unreachable(self.server, exc) from exc
        with response:
            yield response


def _unreachable(server: str, exc: Exception) -> ApiClientError:
    reason = getattr(exc, "reason", exc)
    return ApiClientError(
        f"cannot reach the control API at {server}: {reason} (is the cloud side running, with cloudapi in modules.enabled?)", 2
    )


__all__ = ["ApiClient", "admin_tls"]
