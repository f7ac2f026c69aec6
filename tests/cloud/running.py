"""A real cloud hub (its own runtime, in this process) for tier-3 tests, and the config of an
edge hub (``tests.hub.edge``) that connects to it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from actors.keys import edge_defaults
from kubeedge_actors import Config, Runtime
from kubeedge_actors.testing import wait_until
from kubeedge_cloud import cloud_modules, cloud_runtime
from kubeedge_cloud.apiclient import ApiClient
from kubeedge_cloud.keys import cloud_defaults
from tests.cloud.control_cli import Controlled, control, control_client, write_token_file
from tests.services import TlsFiles


class RunningCloudHub:
    """``cloud_runtime`` with a database in ``folder``; restartable on the same ports.

    It runs every module, the control API (``cloudapi``) too, which tests drive the
    controllers through (:meth:`control`, :attr:`api`) with a bearer token.

    It listens on ports the system picks (port 0) the first time, so no other test can take
    them between choosing and binding; a restart binds the same ones again.
    """

    def __init__(self, folder: Path, tls: TlsFiles, **values: Any) -> None:
        self.tls = tls
        self.port = 0
        self.api_port = 0
        self.kube_port = 0
        settings = {
            "cloudhub.port": 0,
            "cloudhub.api-port": 0,
            "kube.port": 0,
            "kube.database": str(folder / "cloud.db"),
            "cloudhub.cert": str(tls.server_cert),
            "cloudhub.key": str(tls.server_key),
            "cloudhub.ca": str(tls.ca),
            "cloudhub.database": str(folder / "cloud.db"),
            "kube.token-file": str(write_token_file(folder / "tokens.csv")),
            "modules.enabled": list(cloud_modules()),
            **values,
        }
        self.config = cloud_defaults().with_values(settings)
        self.runtime: Runtime | None = None

    def start(self, before_serving: Callable[[RunningCloudHub], None] | None = None) -> RunningCloudHub:
        """Start the cloud side; ``before_serving`` sees it built, before any edge can connect
        (a recorder of its router: an edge redials within a heartbeat and may be first)."""
        if self.port:
            ports = {"cloudhub.port": self.port, "cloudhub.api-port": self.api_port, "kube.port": self.kube_port}
            self.config = self.config.with_values(ports)
        self.runtime = cloud_runtime(self.config)
        if before_serving is not None:
            before_serving(self)
        self.runtime.start()
        self.port = self.actor("cloudhub").port.get()
        self.api_port = self.actor("cloudapi").server.get().port
        if self.runtime.actor_ref("kubeapi") is not None:
            self.kube_port = self.actor("kubeapi").server.get().port
        return self

    def stop(self) -> None:
        if self.runtime is not None:
            self.runtime.stop()
            self.runtime = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def url(self, node_id: str) -> str:
        return f"wss://127.0.0.1:{self.port}/project-1/{node_id}/events"

    def actor(self, name: str) -> Any:
        assert self.runtime is not None
        ref = self.runtime.actor_ref(name)
        assert ref is not None, f"{name} is not running"
        return ref.proxy()

    @property
    def api(self) -> ApiClient:
        """The control API (HTTPS, the test token)."""
        return control_client(f"https://127.0.0.1:{self.api_port}", self.tls.ca)

    def wait_node_connected(self, node_id: str, timeout_s: float = 30.0) -> None:
        """Until the controller has taken the node's connection (the control API says so).

        The edge hears it is connected before the controller does: an object applied in
        between reaches the edge with the connection's resync, as an update, not as an insert.
        """

        def connected() -> bool:
            status, answer = self.api.call("GET", "nodes")
            return status == 200 and any(row["name"] == node_id and row["connection"] == "connected" for row in answer["items"])

        wait_until(connected, timeout_s, 0.05, f"the controller seeing node {node_id} connected")

    def control(self, *args: str) -> Controlled:
        """Run the control command ``ARGS`` (``"get", "pods"``: tests/cloud/control_cli.py)
        against this hub; unpacks as (exit code, stdout, stderr)."""
        return control(self.api, *args)


def edge_config(cloud: RunningCloudHub, tls: TlsFiles, node_id: str, **values: Any) -> Config:
    tls = tls.for_node(node_id)  # docs/protocol.md#9.4: the certificate names the node
    settings: dict[str, Any] = {
        "edgehub.websocket.url": cloud.url(node_id),
        "edgehub.controller.node-id": node_id,
        "edgehub.controller.project-id": "project-1",
        "edgehub.websocket.certfile": str(tls.client_cert),
        "edgehub.websocket.keyfile": str(tls.client_key),
        "edgehub.websocket.cafile": str(tls.ca),
        "edgehub.reconnect.initial-interval": 0.05,
        "edgehub.reconnect.max-interval": 0.3,
        **values,
    }
    return edge_defaults().with_values(settings)
