"""The cloud side's settings: the ``cloudhub.*`` keys, read once into frozen objects.

Each module builds its own from the configuration when it is made (``HubSettings`` for
cloudhub, ``ApiSettings`` for cloudapi and ``ctl``, ``StoreSettings`` for the two
controllers); nothing reads ``config["cloudhub.…"]`` deeper inside. Files the settings name
are opened where they are used (TLS in :meth:`HubSettings.server_settings`, at start).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from kubeedge_actors.config import Config
from kubeedge_cloud.auth import User, client_verifying_context, read_tokens
from kubeedge_cloud.errors import ApiServerError, CloudHubError, TokenFileError
from kubeedge_cloud.names import KUBE_MODULE
from kubeedge_cloud.server import ServerSettings, server_ssl_context


@dataclass(frozen=True)
class HubSettings:
    """The websocket server's keys.

    Attributes:
        host, port: ``cloudhub.address`` and ``cloudhub.port``.
        cert, key: ``cloudhub.cert`` and ``cloudhub.key``; both None: no TLS (plain ``ws://``).
        ca: ``cloudhub.ca``, the CA edge certificates must chain to; None when empty.
        node_limit: ``cloudhub.node-limit``: edges connected at once.
        keepalive_s: ``cloudhub.keepalive-interval``: silence after which an edge is dropped.
        write_timeout_s: ``cloudhub.write-timeout``: how long one write to an edge may take.
    """

    host: str
    port: int
    cert: Path | None
    key: Path | None
    ca: Path | None
    node_limit: int
    keepalive_s: float
    write_timeout_s: float

    @classmethod
    def from_config(cls, config: Config) -> HubSettings:
        return cls(
            host=config.text("cloudhub.address"),
            port=config.integer("cloudhub.port"),
            cert=config.optional_path("cloudhub.cert"),
            key=config.optional_path("cloudhub.key"),
            ca=config.optional_path("cloudhub.ca"),
            node_limit=config.integer("cloudhub.node-limit"),
            keepalive_s=config.number("cloudhub.keepalive-interval"),
            write_timeout_s=config.number("cloudhub.write-timeout"),
        )

    def server_settings(self) -> ServerSettings:
        """What the server is started with: these, and the TLS context made from the files.

        Raises:
            CloudHubError: a TLS file cannot be loaded, only one of cert and key is set, or the CA
                is missing with TLS.
        """
        if (self.cert is None) != (self.key is None):
            raise CloudHubError("cloudhub.cert and cloudhub.key go together: set both (TLS), or leave both empty (plain ws://)")
        if self.cert is not None and self.ca is None:
            # docs/protocol.md#9.4: over TLS an edge is known by its certificate, checked against the CA.
            raise CloudHubError("cloudhub.ca is empty: with TLS the cloud hub checks each edge's certificate against it; set it")
        context = server_ssl_context(self.cert, self.key, self.ca) if self.cert is not None and self.key is not None else None
        return ServerSettings(
            host=self.host,
            port=self.port,
            ssl_context=context,
            node_limit=self.node_limit,
            keepalive_s=self.keepalive_s,
            write_timeout_s=self.write_timeout_s,
        )


@dataclass(frozen=True)
class ApiSettings:
    """The control API's keys: ``cloudhub.api-address``, ``cloudhub.api-port``; it serves TLS
    with the cloud hub's files (``cloudhub.cert``, ``key``, ``ca``) and takes the bearer tokens
    of ``kube.token-file``, as the Kubernetes API server does."""

    address: str
    port: int
    cert: Path | None
    key: Path | None
    ca: Path | None
    token_file: Path | None

    @classmethod
    def from_config(cls, config: Config) -> ApiSettings:
        return cls(
            address=config.text("cloudhub.api-address"),
            port=config.integer("cloudhub.api-port"),
            cert=config.optional_path("cloudhub.cert"),
            key=config.optional_path("cloudhub.key"),
            ca=config.optional_path("cloudhub.ca"),
            token_file=config.optional_path("kube.token-file"),
        )

    def authentication(self) -> tuple[ssl.SSLContext | None, dict[str, User]]:
        """The server's TLS context (None: plain HTTP) and its bearer tokens.

        Raises:
            ApiServerError: a file cannot be used, or there would be no way to authenticate
                (no TLS and no token file): the control API never serves anyone who asks.
        """
        try:
            tokens = read_tokens(self.token_file)
        except OSError as exc:
            raise ApiServerError(f"the control API cannot read kube.token-file: {exc.strerror or exc}: {self.token_file}") from exc
        except TokenFileError as exc:
            raise ApiServerError(f"the control API cannot read kube.token-file: {exc}") from exc
        if self.cert is None or self.key is None or self.ca is None:
            if not tokens:
                raise ApiServerError(
                    "the control API authenticates every request: set cloudhub.cert, cloudhub.key and cloudhub.ca "
                    "(client certificates) or kube.token-file (bearer tokens), or leave cloudapi out of modules.enabled"
                )
            return None, tokens
        try:
            return client_verifying_context(self.cert, self.key, self.ca), tokens
        except (ssl.SSLError, OSError) as exc:
            raise ApiServerError(f"the control API cannot use {self.cert}, {self.key} or {self.ca}: {exc}") from exc


@dataclass(frozen=True)
class StoreSettings:
    """Where the controllers keep their state (``cloudhub.database``, beside the conf folder)."""

    database: Path

    @classmethod
    def from_config(cls, config: Config) -> StoreSettings:
        return cls(config.path("cloudhub.database"))


def kube_api_enabled(config: Config) -> bool:
    """Whether module ``kubeapi`` runs (``modules.enabled``): the controllers then tell it what
    the edges report, and the start checks its TLS files."""
    return KUBE_MODULE in config.strings("modules.enabled")


__all__ = ["ApiSettings", "HubSettings", "StoreSettings", "kube_api_enabled"]
