"""The control API of the cloud hub: HTTP JSON on ``cloudhub.api-address:api-port``.

========================================  ==================================================
``GET  /api/v1/nodes``                    nodes: connection state and last node status
``GET  /api/v1/pods?namespace=NS``        pods with their last status (all namespaces without NS)
``GET  /api/v1/configmaps|secrets|devices``  the same for those kinds
``POST /api/v1/apply?node=N``             body: a manifest, a list of them, or a ``kind: List``
``POST /api/v1/delete``                   body: manifests; each is deleted by kind/namespace/name
``DELETE /api/v1/namespaces/NS/KIND/NAME`` one object (``?node=N`` checks a pod's node)
``GET  /api/v1/namespaces/NS/pods/NAME/log``  the pod's log, as it comes (``container``,
                                          ``tailLines``, ``sinceSeconds``, ``follow``; ``frames=1``:
                                          JSON lines, as ``ctl`` reads them)
``POST /api/v1/namespaces/NS/pods/NAME/exec``  body ``{"command": [...], "container": C}``: JSON
                                          lines of output, then the exit code
``GET  /healthz``                         ``{"ok": true}``
========================================  ==================================================

Errors are ``{"error": "..."}`` with 400 (bad manifest; a log or exec the edge refused), 404 (no
such object or path), 503/504 (a controller is not running or did not answer; the pod's node is
not connected or did not answer a log or exec request, docs/protocol.md#9.5).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from actors.protocol import StreamKind
from kubeedge_actors import Config, Message, ModuleActor, Router
from kubeedge_actors.errors import DeadLetterError, DeliveryError
from kubeedge_actors.message import Content, Json, JsonObject
from kubeedge_cloud.apiserver import ApiAnswer, ApiRequest, ApiServer
from kubeedge_cloud.errors import ApiRequestError
from kubeedge_cloud.keys import CLOUD_KEYS
from kubeedge_cloud.manifests import DEVICE_KINDS, ManifestError, canonical_kind, flatten_lists
from kubeedge_cloud.names import API_GROUP, API_MODULE, CONTROLLER_MODULE, DEVICE_CONTROLLER_MODULE, ApiOperation
from kubeedge_cloud.settings import ApiSettings
from kubeedge_cloud.streams import (
    START_TIMEOUT_S,
    ReaderBody,
    StreamEnded,
    StreamFailed,
    StreamReader,
    StreamSpec,
    StreamUnavailableError,
    stream_desk,
)
from kubeedge_cloud.views import ObjectResult

logger = logging.getLogger(__name__)

API_TIMEOUT_S = 30.0
LISTS = ("nodes", "pods", "configmaps", "secrets", "devices", "devicemodels")


class ApiActor(ModuleActor):
    """Owns the HTTP server of the control API; requests become sync messages.

    Consumes:
        nothing: HTTP requests arrive on the server's threads.
    Produces:
        sync ``apply``/``delete``/``list`` (group ``api``) to module ``controller``, and to
        ``devicecontroller`` for Device and DeviceModel objects; the replies become the HTTP answers.
    """

    module_name = API_MODULE
    module_group = API_GROUP
    module_config_keys = CLOUD_KEYS

    def __init__(
        self,
        router: Router,
        config: Config | None = None,
        *,
        name: str | None = None,
        group: str | None = None,
        server: ApiServer | None = None,
    ) -> None:
        super().__init__(router, config, name=name, group=group)
        self.settings = ApiSettings.from_config(self.module_config)
        self.server = server

    def on_start(self) -> None:
        if self.server is None:
            tls, tokens = self.settings.authentication()
            self.server = ApiServer(self.settings.address, self.settings.port, self.answer, tls=tls, tokens=tokens)
        self.server.start()
        logger.info("cloudapi: control API on %s/api/v1/", self.server.url)

    def on_stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        super().on_stop()

    # --- runs on the HTTP server's threads: it only builds messages and waits ----------------

    def answer(self, request: ApiRequest) -> ApiAnswer:  # noqa: PLR0911 - one return per endpoint
        parts = request.path.strip("/").split("/")
        if request.path == "/healthz":
            return ApiAnswer(HTTPStatus.OK, {"ok": True})
        if parts[:2] != ["api", "v1"] or len(parts) < 3:
            return _error(HTTPStatus.NOT_FOUND, f"no such path {request.path}; the API is under /api/v1/")
        route = (request.method, *parts[2:])
        if request.method == "GET" and len(route) == 2 and route[1] in LISTS:
            module = DEVICE_CONTROLLER_MODULE if route[1] in ("devices", "devicemodels") else CONTROLLER_MODULE
            return self._ask(module, ApiOperation.LIST, route[1], {"namespace": request.query.get("namespace")})
        if route == ("POST", "apply"):
            return self._apply(request.body, request.query.get("node"))
        if route == ("POST", "delete"):
            return self._delete_objects(request.body)
        if len(route) == 6 and route[1] == "namespaces" and route[3] == "pods" and (request.method, route[5]) in _STREAMS:
            return self._pod_stream(request, route[2], route[4])
        if request.method == "DELETE" and len(route) == 5 and route[1] == "namespaces":
            return self._delete_named(route[3], route[2], route[4], request.query.get("node"))
        return _error(HTTPStatus.NOT_FOUND, f"no such endpoint {request.method} {request.path}")

    def _apply(self, body: Json, node: str | None) -> ApiAnswer:
        objects = flatten_lists(body if isinstance(body, list) else [body])
        if not objects:
            return _error(HTTPStatus.BAD_REQUEST, "nothing to apply: the body holds no manifest")
        return self._split(ApiOperation.APPLY, objects, {"node": node})

    def _delete_objects(self, body: Json) -> ApiAnswer:
        objects = flatten_lists(body if isinstance(body, list) else [body])
        if not objects:
            return _error(HTTPStatus.BAD_REQUEST, "nothing to delete: the body holds no manifest")
        return self._split(ApiOperation.DELETE, objects, {})

    def _delete_named(self, kind: str, namespace: str, name: str, node: str | None) -> ApiAnswer:
        try:
            kind = canonical_kind(kind)
        except ManifestError as exc:
            return _error(HTTPStatus.NOT_FOUND, str(exc))
        module = DEVICE_CONTROLLER_MODULE if kind in DEVICE_KINDS else CONTROLLER_MODULE
        answer = self._ask(module, ApiOperation.DELETE, "", {"kind": kind, "namespace": namespace, "name": name, "node": node})
        results = answer.content.get("results") or []
        if answer.status == HTTPStatus.OK and results and results[0].get("action") == "not found":
            return ApiAnswer(
                HTTPStatus.NOT_FOUND, {"error": f'{kind.lower()} "{name}" not found in namespace {namespace}', **answer.content}
            )
        return answer

    # --- logs and exec (docs/protocol.md#9.5) ---------------------------------------------------

    def _pod_stream(self, request: ApiRequest, namespace: str, name: str) -> ApiAnswer:
        try:
            spec = _stream_spec(request, namespace, name)
        except ApiRequestError as exc:
            return _error(HTTPStatus.BAD_REQUEST, str(exc))
        node = self._node_of_pod(namespace, name)
        if isinstance(node, ApiAnswer):
            return node
        try:
            reader = stream_desk(self.module_router).open(StreamSpec(node=node, **spec))
        except StreamUnavailableError as exc:
            return _error(HTTPStatus.SERVICE_UNAVAILABLE, str(exc))
        frames = spec["kind"] == StreamKind.EXEC or request.query.get("frames") in ("1", "true")
        return _opened(reader, frames)

    def _node_of_pod(self, namespace: str, name: str) -> str | ApiAnswer:
        """The node the pod was applied to, or the error answer."""
        answer = self._ask(CONTROLLER_MODULE, ApiOperation.LIST, "pods", {"namespace": namespace})
        if answer.status != HTTPStatus.OK:
            return answer
        node = next((row.get("node") for row in answer.content.get("items") or [] if row.get("name") == name), None)
        if not node:
            return _error(HTTPStatus.NOT_FOUND, f'pod "{name}" not found in namespace {namespace}')
        return str(node)

    def _split(self, operation: ApiOperation, objects: list[Json], extra: JsonObject) -> ApiAnswer:
        """Devices go to the device controller, everything else to the controller."""
        devices = [o for o in objects if isinstance(o, dict) and o.get("kind") in DEVICE_KINDS]
        others = [o for o in objects if not (isinstance(o, dict) and o.get("kind") in DEVICE_KINDS)]
        results: list[ObjectResult] = []
        for module, batch in ((CONTROLLER_MODULE, others), (DEVICE_CONTROLLER_MODULE, devices)):
            if not batch:
                continue
            answer = self._ask(module, operation, "", {"objects": batch, **extra})
            if answer.status != HTTPStatus.OK:
                return ApiAnswer(answer.status, {**answer.content, "results": results})
            results.extend(answer.content.get("results") or [])
        return ApiAnswer(HTTPStatus.OK, {"results": results})

    def _ask(self, module: str, operation: str, resource: str, content: Content) -> ApiAnswer:
        request = Message.new(source="ctl", group=API_GROUP, operation=operation, resource=resource, content=content)
        try:
            reply = self.module_router.send_sync(module, request, API_TIMEOUT_S).result(API_TIMEOUT_S + 5)
        except DeadLetterError:
            return _error(HTTPStatus.SERVICE_UNAVAILABLE, f"{module} is not running")
        except (DeliveryError, TimeoutError) as exc:
            return _error(HTTPStatus.GATEWAY_TIMEOUT, f"{module} did not answer: {exc}")
        if reply.is_error:
            return _error(HTTPStatus.BAD_REQUEST, str(reply.content))
        return ApiAnswer(HTTPStatus.OK, reply.content if isinstance(reply.content, dict) else {"result": reply.content})


_STREAMS = {("GET", "log"), ("POST", "exec")}


def _opened(reader: StreamReader, frames: bool) -> ApiAnswer:
    """Wait for the stream's first event: the stream as the body, or the error it ended with."""
    first = reader.next(START_TIMEOUT_S + 5)  # the stream module answers within its own bound
    if isinstance(first, StreamFailed) or (isinstance(first, StreamEnded) and first.error):
        reader.close()
        status = first.status if isinstance(first, StreamFailed) else HTTPStatus.BAD_REQUEST
        return _error(status, first.error or "")
    if first is None:
        reader.close()
        return _error(HTTPStatus.GATEWAY_TIMEOUT, "the stream module did not answer")
    return ApiAnswer(HTTPStatus.OK, stream=ReaderBody(reader, frames=frames))


def _stream_spec(request: ApiRequest, namespace: str, name: str) -> dict[str, Any]:
    """StreamSpec's fields but the node, from kubectl's query parameters or the exec body.

    Raises:
        ApiRequestError: a parameter that is not what it must be, named.
    """
    query = request.query
    if request.method == "POST":
        body = request.body if isinstance(request.body, dict) else {}
        command = body.get("command")
        if not isinstance(command, list) or not command or not all(isinstance(part, str) for part in command):
            raise ApiRequestError('exec needs a body {"command": ["cmd", "arg", ...]}')
        container = body.get("container") or query.get("container") or ""
        if not isinstance(container, str):
            raise ApiRequestError("container must be a string")
        return {"namespace": namespace, "pod": name, "kind": StreamKind.EXEC, "container": container, "command": tuple(command)}
    return {
        "namespace": namespace,
        "pod": name,
        "kind": StreamKind.LOGS,
        "container": query.get("container", ""),
        "follow": query.get("follow", "") in ("1", "true"),
        "tail": _count(query, "tailLines", -1),
        "since_s": _count(query, "sinceSeconds", 0),
    }


def _count(query: dict[str, str], key: str, default: int) -> int:
    text = query.get(key)
    if text is None or text == "":
        return default
    if not text.isdigit():
        raise ApiRequestError(f"{key} must be a whole number, not {text!r}")
    return int(text)


def _error(status: int, text: str) -> ApiAnswer:
    return ApiAnswer(status, {"error": text})


__all__ = ["API_TIMEOUT_S", "ApiActor"]
