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
from kubeedge_cloud.auth import ADMIN_GROUP, User
from kubeedge_cloud.keys import CLOUD_KEYS
from kubeedge_cloud.kube.controller import KINDS, Apply, Command, Delete, EdgeController, Key, Write, handed_over_here
from kubeedge_cloud.kube.errors import KubeApiServerError
from kubeedge_cloud.kube.server import KubeApiServer, KubeServerSettings
from kubeedge_cloud.kube.watcher import DEVICE_GROUP, DEVICE_PLURALS, DEVICE_VERSION, Listed, Watched, Watcher, list_call
from kubeedge_cloud.kube.writer import KubeWriter
from kubeedge_cloud.names import API_GROUP, CONTROLLER_MODULE, DEVICE_CONTROLLER_MODULE, KUBE_MODULE, ApiOperation
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
        configmaps, secrets, devices and device models, handed over as internal events.
        from module ``controller``: the connection events, the edges' node statuses, the pod
        statuses it took and the pod deletes the edges acknowledged (kubeedge_cloud/controller.py);
        from ``devicecontroller``: a device's reported twins (``update`` on
        ``node/<id>/<ns>/devicestatus/<name>``, in-process only).
    Produces:
        sync ``apply``/``delete``/``list`` (group ``api``) to modules ``controller`` (pods,
        configmaps, secrets) and ``devicecontroller`` (devices, device models); the
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
        #: Devices go to module devicecontroller: without it, none are watched.
        self.devices = DEVICE_CONTROLLER_MODULE in self.module_config.strings("modules.enabled")
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
            if kind in DEVICE_PLURALS and not self.devices:
                self.state.on_listed(kind, ())
                continue
            api_version = f"{DEVICE_GROUP}/{DEVICE_VERSION}" if kind in DEVICE_PLURALS else "v1"
            watcher = Watcher(kind, list_call(self.api_client, kind), self.module_tell_self, api_version=api_version)
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
        was = self.state.synced
        self._carry_out(self.state.on_listed(event.kind, event.objects))
        logger.debug("kubeapi: listed %d %s", len(event.objects), event.kind)
        if self.state.synced and not was:
            logger.info("kubeapi: the controller has every list and its modules' inventory: in step")

    @handles(Watched)
    def _watched(self, event: Watched) -> None:
        self._carry_out(self.state.on_watched(event.kind, event.type, event.obj))

    @handles(_AskInventory)
    def _ask_inventory(self, _event: _AskInventory) -> None:
        """What the two controller modules have, one list after the other; then the nodes away."""
        lists = [(CONTROLLER_MODULE, "pods", "Pod")]
        if self.devices:
            lists += [(DEVICE_CONTROLLER_MODULE, "devices", "Device"), (DEVICE_CONTROLLER_MODULE, "devicemodels", "DeviceModel")]
        keys: list[Key] = []

        def ask_next() -> None:
            module, resource, kind = lists[len(lists_done)]

            def answered(reply: Message | None, error: BaseException | None) -> None:
                if error is not None or reply is None or reply.is_error or not isinstance(reply.content, dict):
                    logger.warning("kubeapi: %s did not list its %s (%s); asking again", module, resource, error or reply)
                    self.module_tell_later(_RETRY_S, _AskInventory())
                    return
                rows = [row for row in reply.content.get("items") or [] if handed_over_here(row.get("object"))]
                keys.extend((kind, str(row["namespace"]), str(row["name"])) for row in rows)
                lists_done.append(resource)
                if len(lists_done) < len(lists):
                    ask_next()
                    return
                self._carry_out(self.state.on_inventory(keys))
                self._ask(ApiOperation.LIST, {"namespace": None}, nodes_answered, resource="nodes")

            self._ask(ApiOperation.LIST, {"namespace": None}, answered, resource=resource, module=module)

        def nodes_answered(reply: Message | None, error: BaseException | None) -> None:
            # A Node shown Ready whose edge is not connected to this process is not Ready (a
            # connect while this asked is followed by the edge's node status, which wins).
            if error is None and reply is not None and not reply.is_error and isinstance(reply.content, dict):
                away = [row["name"] for row in reply.content.get("items") or [] if row.get("connection") != "connected"]
                self._carry_out([Write("node_away", (name,)) for name in away])

        lists_done: list[str] = []
        ask_next()

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
                self._apply(list(command.objects), command.module)
            elif isinstance(command, Delete):
                self._delete(list(command.keys), command.module)
            else:
                self._write(command)

    def _apply(self, objects: list[dict[str, Any]], module: str = CONTROLLER_MODULE) -> None:
        def answered(reply: Message | None, error: BaseException | None) -> None:
            if error is None and reply is not None and not reply.is_error:
                return
            why = error or (reply.content if reply is not None else "no answer")
            if len(objects) > 1:  # one bad object must not hold the others: each on its own
                logger.warning("kubeapi: the controller module refused a batch (%s); applying one by one", why)
                for obj in objects:
                    self._apply([obj], module)
            else:
                meta = objects[0].get("metadata") or {}
                logger.warning("kubeapi: the controller module refused %s %s/%s: %s", objects[0].get("kind"),
                               meta.get("namespace"), meta.get("name"), why)  # fmt: skip

        self._ask(ApiOperation.APPLY, {"objects": objects}, answered, module=module)

    def _delete(self, keys: list[Key], module: str = CONTROLLER_MODULE) -> None:
        objects = [{"apiVersion": "v1", "kind": kind, "metadata": {"namespace": ns, "name": name}} for kind, ns, name in keys]

        def answered(reply: Message | None, error: BaseException | None) -> None:
            if error is not None or reply is None or reply.is_error or not isinstance(reply.content, dict):
                logger.warning("kubeapi: %s did not delete %s: %s", module, keys, error or (reply and reply.content))
                return
            if module == CONTROLLER_MODULE:
                self._carry_out(self.state.on_deleted(reply.content.get("results") or []))

        self._ask(ApiOperation.DELETE, {"objects": objects}, answered, module=module)

    def _write(self, write: Write) -> None:
        writer = self.writer
        assert writer is not None
        self.module_run_in_background(
            lambda: getattr(writer, write.method)(*write.args), lambda outcome: _Written(write, _error_of(outcome))
        )

    def _ask(
        self, operation: ApiOperation, content: dict[str, Any], answered: Any, resource: str = "", module: str = CONTROLLER_MODULE
    ) -> None:
        request = Message.new(source=KUBE_MODULE, group=API_GROUP, operation=operation, resource=resource, content=content)
        self.module_on_reply(self.module_router.send_sync(module, request, _ASK_TIMEOUT_S), answered)


def _error_of(outcome: Outcome[Any]) -> BaseException | None:
    return outcome.error


__all__ = ["KUBE_MODULE", "KubeApiActor"]
