"""The cloud side's errors, all under :class:`~kubeedge_actors.errors.KubeEdgeActorsError`.

::

    KubeEdgeActorsError
     ├─ MessageRejected            (a controller answers the request with an error)
     │   ├─ ManifestError          an object that cannot be applied, listed or deleted
     │   └─ DeviceStateError       a device state from an edge that cannot be read
     ├─ CloudHubError              the websocket server cannot start (TLS files, address in use)
     ├─ ApiServerError             the control API cannot listen, or has no way to authenticate
     ├─ TokenFileError             a line of the static token file that cannot be read
     ├─ ApiRequestError            an HTTP request the control API cannot read (answered 400)
     ├─ ApiClientError             the control API cannot be reached, or answered an error (apiclient.py)
     ├─ StreamBrokenError          a raw log stream that ended with an error after it opened
     └─ CertificateError           ``certs`` cannot write its files, or use those it finds
"""

from __future__ import annotations

from kubeedge_actors.errors import KubeEdgeActorsError, MessageRejected


class ManifestError(MessageRejected):
    """An object that cannot be applied; the text names it and what is wrong."""


class DeviceStateError(MessageRejected):
    """A ``device/<id>/state`` message whose content is not the state JSON (docs/protocol.md#5.4)."""


class CloudHubError(KubeEdgeActorsError):
    """The cloud hub's server cannot start (TLS files, address in use...)."""


class ApiServerError(KubeEdgeActorsError):
    """The control API cannot listen on its address (``cloudhub.api-address``, ``api-port``)."""


class TokenFileError(KubeEdgeActorsError):
    """A line of the static token file that is not ``token,user,uid[,groups]`` (the text names it)."""


class ApiRequestError(KubeEdgeActorsError):
    """An HTTP request whose body the control API cannot read (too large, not JSON)."""


class ApiClientError(KubeEdgeActorsError):
    """A problem of a control API client, said in one line; ``code``: the exit code a command
    reporting it exits with."""

    def __init__(self, text: str, code: int = 1) -> None:
        super().__init__(text)
        self.code = code


class StreamBrokenError(KubeEdgeActorsError):
    """A raw log or exec stream that ended with an error after it opened (its node went away);
    the server cuts the body short, as an API server does when a kubelet goes away."""


class CertificateError(KubeEdgeActorsError):
    """``certs`` cannot write its files, or cannot issue from the CA it finds."""


__all__ = [
    "ApiClientError",
    "ApiRequestError",
    "ApiServerError",
    "CertificateError",
    "CloudHubError",
    "DeviceStateError",
    "ManifestError",
    "StreamBrokenError",
    "TokenFileError",
]
