"""The module ``kubeapi``: the cloud controller on the Kubernetes API and the scheduler
(docs/architecture.md#1.5, docs/protocol.md#12.5), with the embedded Kubernetes API server as
the default server. Opt-in for now: add ``kubeapi`` to ``modules.enabled`` in conf/cloudhub.yaml.

The controller reads and writes Kubernetes objects only through the official ``kubernetes``
client: with ``kube.kubeconfig`` set, against that server (the embedded one is not started);
else against the embedded one, as a user with a token made at each start.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any

import kubernetes.client
import kubernetes.config

from kubeedge_actors import Config, Message, ModuleActor, Router, handles
from kubeedge_actors.actor import Outcome
from kubeedge_cloud.keys import CLOUD_KEYS
from kubeedge_cloud.kube.controller import KINDS, Apply, Command, Delete, EdgeController, Key, Write
from kubeedge_cloud.kube.errors import KubeApiServerError
from kubeedge_cloud.kube.server import ADMIN_GROUP, KubeApiServer, KubeServerSettings, User
from kubeedge_cloud.kube.watcher import Listed, Watched, Watcher, list_call
from kubeedge_cloud.kube.writer import KubeWriter
from kubeedge_cloud.names import API_GROUP, CONTROLLER_MODULE, KUBE_MODULE, ApiOperation
from kubeedge_cloud.streams import stream_desk

logger = logging.getLogger(__name__)

_ASK_TIMEOUT_S = 30.0
_RETRY_S = 2.0
#: Writes worth trying again after a failure (a status write waits for the edge's next report).
_RETRIED_WRITES = ("node_away", "delete_pod_now", "unschedulable")


@dataclass(frozen=True, slots=True)
class _AskInventory:
    """Ask the controller module which pods it has (at start, and again after a failure)."""


@dataclass(frozen=True, slots=True)
class _Written:
    write: Write
    error: BaseException | None


@dataclass(frozen=True, slots=True)
class _Retry:
    commands: tuple[Command, ...]


@dataclass(frozen=True, slots=True)
class _Reconcile:
    """Compare everything again (after a failed binding: the pod is placed anew)."""


class KubeApiActor(ModuleActor):
    """Owns the API server (unless ``kube.kubeconfig`` names another), the watches and the
    controller's state (:class:`~kubeedge_cloud.kube.controller.EdgeController`).

    Consumes:
        from its watch threads (``kube-watch-<kind>``): lists and watch events of nodes, pods,
        configmaps and secrets, handed over as internal events.
        from module ``controller``: the connection events, the edges' node statuses, the pod
        statuses it took and the pod deletes the edges acknowledged (kubeedge_cloud/controller.py).
    Produces:
        sync ``apply``/``delete``/``list`` (group ``api``) to module ``controller``; the
        writes into the Kubernetes API run on its workers (kubeedge_cloud/kube/writer.py).
    """

    module_name = KUBE_MODULE
    module_group = KUBE_MODULE
    module_config_keys = CLOUD_KEYS

    def __init__(self, router: Router, config: Config | None = None, *, name: str | None = None, group: str | None = None) -> None:
        super().__init__(router, config, name=name, group=group)
        self.kubeconfig = self.module_config.optional_path("kube.kubeconfig")
        self.server: KubeApiServer | None = None
        self._token = secrets.token_urlsafe(32)
        if self.kubeconfig is None:
            settings = KubeServerSettings.from_config(self.module_config)
            tokens = {self._token: User("system:kubeedge-controller", (ADMIN_GROUP,))}
            self.server = KubeApiServer(settings, open_stream=stream_desk(router).open, tokens=tokens)
        self.state = EdgeController()
        self.watchers: list[Watcher] = []
        self.api_client: kubernetes.client.ApiClient | None = None
        self.writer: KubeWriter | None = None

    def on_start(self) -> None:
        if self.server is not None:
            self.server.start()
            logger.info("kubeapi: Kubernetes API server on %s", self.server.url)
        self.api_client = self._client()
        self.writer = KubeWriter(self.api_client)
        for kind in KINDS:
            watcher = Watcher(kind, list_call(self.api_client, kind), self.module_tell_self)
            self.watchers.append(watcher)
            watcher.start()
        self.module_tell_self(_AskInventory())

    def on_stop(self) -> None:
        for watcher in self.watchers:
            watcher.stop()
        super().on_stop()
        if self.api_client is not None:
            self.api_client.close()  # type: ignore[no-untyped-call]
        if self.server is not None:
            self.server.stop()

    def _client(self) -> kubernetes.client.ApiClient:
        if self.kubeconfig is not None:
            try:
                client: kubernetes.client.ApiClient = kubernetes.config.new_client_from_config(  # type: ignore[no-untyped-call]
                    config_file=str(self.kubeconfig)
                )
                return client
            except (OSError, kubernetes.config.ConfigException) as exc:
                raise KubeApiServerError(f"kube.kubeconfig {self.kubeconfig} cannot be used: {exc}") from exc
        assert self.server is not None
        configuration = kubernetes.client.Configuration()
        configuration.host = self.server.settings.client_url.rsplit(":", 1)[0] + f":{self.server.port}"
        configuration.ssl_ca_cert = str(self.server.settings.ca)
        configuration.api_key = {"BearerToken": self._token}
        configuration.api_key_prefix = {"BearerToken": "Bearer"}
        return kubernetes.client.ApiClient(configuration)

    # -- in ---------------------------------------------------------------------------------

    def handle_message(self, message: Message) -> None:
        self._carry_out(self.state.on_edge(message))

    @handles(Listed)
    def _listed(self, event: Listed) -> None:
        self._carry_out(self.state.on_listed(event.kind, event.objects))

    @handles(Watched)
    def _watched(self, event: Watched) -> None:
        self._carry_out(self.state.on_watched(event.kind, event.type, event.obj))

    @handles(_AskInventory)
    def _ask_inventory(self, _event: _AskInventory) -> None:
        def answered(reply: Message | None, error: BaseException | None) -> None:
            if error is not None or reply is None or reply.is_error or not isinstance(reply.content, dict):
                logger.warning("kubeapi: the controller module did not list its pods (%s); asking again", error or reply)
                self.module_tell_later(_RETRY_S, _AskInventory())
                return
            rows = reply.content.get("items") or []
            self._carry_out(self.state.on_inventory(("Pod", str(row["namespace"]), str(row["name"])) for row in rows))
            self._ask(ApiOperation.LIST, {"namespace": None}, nodes_answered, resource="nodes")

        def nodes_answered(reply: Message | None, error: BaseException | None) -> None:
            # A Node shown Ready whose edge is not connected to this process is not Ready (a
            # connect while this asked is followed by the edge's node status, which wins).
            if error is None and reply is not None and not reply.is_error and isinstance(reply.content, dict):
                away = [row["name"] for row in reply.content.get("items") or [] if row.get("connection") != "connected"]
                self._carry_out([Write("node_away", (name,)) for name in away])

        self._ask(ApiOperation.LIST, {"namespace": None}, answered, resource="pods")

    @handles(_Written)
    def _written(self, event: _Written) -> None:
        if event.error is None:
            return
        write = event.write
        logger.warning("kubeapi: %s%s failed: %s", write.method, write.args[:3], event.error)
        if write.method == "bind":
            self.state.placing.pop(("Pod", write.args[0], write.args[1]), None)
            self.module_tell_later(_RETRY_S, _Reconcile())
        elif write.method in _RETRIED_WRITES:
            self.module_tell_later(_RETRY_S, _Retry((write,)))

    @handles(_Retry)
    def _retry(self, event: _Retry) -> None:
        self._carry_out(list(event.commands))

    @handles(_Reconcile)
    def _reconcile(self, _event: _Reconcile) -> None:
        if self.state.synced:
            self._carry_out(self.state.reconcile_all())

    # -- out --------------------------------------------------------------------------------

    def _carry_out(self, commands: list[Command]) -> None:
        for command in commands:
            if isinstance(command, Apply):
                self._apply(list(command.objects))
            elif isinstance(command, Delete):
                self._delete(list(command.keys))
            else:
                self._write(command)

    def _apply(self, objects: list[dict[str, Any]]) -> None:
        def answered(reply: Message | None, error: BaseException | None) -> None:
            if error is None and reply is not None and not reply.is_error:
                return
            why = error or (reply.content if reply is not None else "no answer")
            if len(objects) > 1:  # one bad object must not hold the others: each on its own
                logger.warning("kubeapi: the controller module refused a batch (%s); applying one by one", why)
                for obj in objects:
                    self._apply([obj])
            else:
                meta = objects[0].get("metadata") or {}
                logger.warning("kubeapi: the controller module refused %s %s/%s: %s", objects[0].get("kind"),
                               meta.get("namespace"), meta.get("name"), why)  # fmt: skip

        self._ask(ApiOperation.APPLY, {"objects": objects}, answered)

    def _delete(self, keys: list[Key]) -> None:
        objects = [{"apiVersion": "v1", "kind": kind, "metadata": {"namespace": ns, "name": name}} for kind, ns, name in keys]

        def answered(reply: Message | None, error: BaseException | None) -> None:
            if error is not None or reply is None or reply.is_error or not isinstance(reply.content, dict):
                logger.warning("kubeapi: the controller module did not delete %s: %s", keys, error or (reply and reply.content))
                return
            self._carry_out(self.state.on_deleted(reply.content.get("results") or []))

        self._ask(ApiOperation.DELETE, {"objects": objects}, answered)

    def _write(self, write: Write) -> None:
        writer = self.writer
        assert writer is not None
        self.module_run_in_background(
            lambda: getattr(writer, write.method)(*write.args), lambda outcome: _Written(write, _error_of(outcome))
        )

    def _ask(self, operation: ApiOperation, content: dict[str, Any], answered: Any, resource: str = "") -> None:
        request = Message.new(source=KUBE_MODULE, group=API_GROUP, operation=operation, resource=resource, content=content)
        self.module_on_reply(self.module_router.send_sync(CONTROLLER_MODULE, request, _ASK_TIMEOUT_S), answered)


def _error_of(outcome: Outcome[Any]) -> BaseException | None:
    return outcome.error


__all__ = ["KUBE_MODULE", "KubeApiActor"]
