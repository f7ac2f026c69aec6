"""The cloud side's settings: the ``cloudhub.*`` keys, read once into frozen objects.

Each module builds its own from the configuration when it is made (``HubSettings`` for
cloudhub, ``ApiSettings`` for cloudapi and ``ctl``, ``StoreSettings`` for the two
controllers); nothing reads ``config["cloudhub.…"]`` deeper inside. Files the settings name
are opened where they are used (TLS in :meth:`HubSettings.server_settings`, at start).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kubeedge_actors.config import Config
from kubeedge_cloud.errors import CloudHubError
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
    """The control API's keys (``cloudhub.api-address``, ``cloudhub.api-port``)."""

    address: str
    port: int

    @classmethod
    def from_config(cls, config: Config) -> ApiSettings:
        return cls(config.text("cloudhub.api-address"), config.integer("cloudhub.api-port"))

    @property
    def url(self) -> str:
        """Where ``ctl`` finds the API by default."""
        return f"http://{self.address}:{self.port}"


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
