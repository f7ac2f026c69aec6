"""The device controller of the cloud hub: Device objects ↔ the edge's device twins (docs/protocol.md#5.4,
docs/protocol.md#5.7 v1.0.0 column, docs/protocol.md#9.3)."""

from __future__ import annotations

import copy
import logging

from actors.protocol import CloudGroup, Operation, add_node_prefix, split_node_prefix
from kubeedge_actors import Config, Message, ModuleActor, Router
from kubeedge_actors.message import Content, Json, JsonObject
from kubeedge_cloud.devicemodels import (
    ModelSpec,
    ProfileDevice,
    device_profile,
    parse_model,
    profile_configmap,
    profile_name,
)
from kubeedge_cloud.devices import (
    DeviceSpec,
    EdgeDevice,
    ShownValue,
    cloud_updated_content,
    edge_device,
    membership_content,
    newer_reports,
    parse_device,
    reported_from_edge,
    state_from_edge,
    with_node_selector,
    with_reported,
)
from kubeedge_cloud.devicestore import DeviceStore, StoredDevice, StoredModel
from kubeedge_cloud.errors import DeviceStateError
from kubeedge_cloud.keys import CLOUD_KEYS
from kubeedge_cloud.manifests import (
    DEVICE_KIND,
    DEVICE_MODEL_KIND,
    Manifest,
    ManifestError,
    canonical_kind,
    object_key,
    same_content,
    with_server_fields,
)
from kubeedge_cloud.names import (
    API_GROUP,
    CLOUDHUB_MODULE,
    CONTROLLER_GROUP,
    CONTROLLER_MODULE,
    DEVICE_CONTROLLER_MODULE,
    DEVICE_CONTROLLER_SOURCE,
    KUBE_MODULE,
    ApiOperation,
)
from kubeedge_cloud.settings import StoreSettings, kube_api_enabled
from kubeedge_cloud.views import DeviceModelRow, DeviceRow, ObjectResult, TwinRow

#: A node's device profile is kept per namespace: (namespace, node).
_ProfileKey = tuple[str, str]
_CONTROLLER_TIMEOUT_S = 30.0

logger = logging.getLogger(__name__)


class DeviceControllerActor(ModuleActor):
    """Devices for the edges' twins, and what the edges report of them.

    Consumes:
        from the control API (group ``api``, sync): ``apply``/``delete``/``list`` of Device
        and DeviceModel objects (``devices.kubeedge.io/v1alpha1``, docs/protocol.md#11.1).
        from cloudhub: ``connected``/``disconnected`` on ``node/<id>``.
        from edges: ``get`` on ``membership/detail`` (answered with every device of the node
        and its desired twins, so a node that was away catches up, deletes included);
        ``update`` on ``device/<id>/twin/edge_updated`` (reported values recorded as v1.0.0
        does, each only when newer than the one shown: see ``newer_reports``) and on
        ``device/<id>/state`` (recorded when newer than the last); both acknowledged, so the
        twin stops resending them.
    Produces:
        to module ``cloudhub``, source ``devicecontroller``, group ``twin``: ``update`` on
        ``node/<n>/membership`` (added/removed devices) and on
        ``node/<n>/device/<id>/twin/cloud_updated`` (desired values, versions
        ``{"cloud": resourceVersion, "edge": 0}``); sent only to connected nodes.
        to module ``controller`` (sync, group ``api``): ``apply`` of the ConfigMap
        ``device-profile-config-<node>`` in the devices' namespace, sent to that node (as
        ``--node`` does), whenever its profile changes; ``delete`` when it becomes empty
        (docs/protocol.md#11.2). The controller delivers it like any configmap.
    """

    module_name = DEVICE_CONTROLLER_MODULE
    module_group = CONTROLLER_GROUP
    module_config_keys = CLOUD_KEYS

    def __init__(
        self,
        router: Router,
        config: Config | None = None,
        *,
        name: str | None = None,
        group: str | None = None,
        store: DeviceStore | None = None,
    ) -> None:
        super().__init__(router, config, name=name, group=group)
        self.settings = StoreSettings.from_config(self.module_config)
        self._store = store if store is not None else DeviceStore(self.settings.database)
        self._connected: set[str] = set()
        #: Whether module kubeapi runs: it writes the reported values into the Devices of the API.
        self._kube = kube_api_enabled(self.module_config)

    def on_start(self) -> None:
        self._store.open()

    def on_stop(self) -> None:
        self._store.close()
        super().on_stop()

    def handle_message(self, message: Message) -> None:
        if message.group == API_GROUP:
            self._handle_api(message)
        elif message.source == CLOUDHUB_MODULE and message.operation in (Operation.CONNECTED, Operation.DISCONNECTED):
            node, _ = split_node_prefix(message.resource)
            (self._connected.add if message.operation == Operation.CONNECTED else self._connected.discard)(node)
        else:
            self._handle_edge(message)

    # --- from the edges ---------------------------------------------------------------------

    def _handle_edge(self, message: Message) -> None:
        node, resource = split_node_prefix(message.resource)
        parts = resource.split("/")
        if resource.startswith("membership/detail"):
            devices = [edge_device(_spec(d), d.version) for d in self._store.devices(node=node)]
            reply = message.reply({"event_id": "", "timestamp": message.header.timestamp_ms, "devices": devices})
            self._reply(reply)
        elif len(parts) == 4 and parts[0] == "device" and parts[2:] == ["twin", "edge_updated"]:
            self._on_reported(message, node, parts[1])
        elif len(parts) == 3 and parts[0] == "device" and parts[2] == "state":
            self._on_state(message, node, parts[1])
        elif logger.isEnabledFor(logging.DEBUG):
            logger.debug("devicecontroller: ignored %s (%s %s) from node %s", message.id, message.operation, resource, node)

    # Every report is answered, also one that is not applied: the twin resends a report until a
    # reply names it (docs/protocol.md#5.8; the original cloud never replies), and an error reply ends that too.

    def _on_reported(self, message: Message, node: str, name: str) -> None:
        device = self._store.on_node(node, name)
        if device is None:
            self._reply(message.error_reply(f"no device {name!r} on node {node!r}"))
            return
        newer = newer_reports(reported_from_edge(message.content), device.reported, device.reported_versions)
        if newer:
            self._store.set_reported(device.namespace, device.name, newer)
            self._tell_kube(node, device.namespace, device.name)
        elif logger.isEnabledFor(logging.DEBUG):
            logger.debug("devicecontroller: report %s of %s from node %s is a resend or older than what is shown", message.id, name, node)
        self._reply(message.reply("OK"))

    def _tell_kube(self, node: str, namespace: str, name: str) -> None:
        """The reported values, for the Device in the Kubernetes API (module kubeapi, when it runs)."""
        if not self._kube:
            return
        device = self._store.on_node(node, name)
        if device is not None:
            status = with_reported(device.body, device.reported).get("status") or {}
            resource = add_node_prefix(node, f"{namespace}/devicestatus/{name}")
            message = Message.new(source=DEVICE_CONTROLLER_SOURCE, group=CONTROLLER_GROUP, operation=Operation.UPDATE,
                                  resource=resource, content={"twins": status.get("twins") or []})  # fmt: skip
            self.module_router.send(KUBE_MODULE, message)

    def _on_state(self, message: Message, node: str, name: str) -> None:
        try:
            state = state_from_edge(message.content)
        except DeviceStateError as error:
            logger.warning("devicecontroller: node %s sent a state of %s (%s) that is not usable: %s", node, name, message.id, error)
            self._reply(message.error_reply(str(error)))
            return
        device = self._store.on_node(node, name)
        if device is None:
            self._reply(message.error_reply(f"no device {name!r} on node {node!r}"))
            return
        # A resent state can arrive behind a newer one, as a report can (see newer_reports).
        if state.timestamp_ms is None or state.timestamp_ms > device.state_timestamp_ms:
            self._store.set_state(device.namespace, device.name, state)
        self._reply(message.reply("OK"))

    # --- the control API --------------------------------------------------------------------

    def _handle_api(self, request: Message) -> None:
        content = request.content if isinstance(request.content, dict) else {}
        touched: set[_ProfileKey] = set()
        if request.operation == ApiOperation.APPLY:
            answer: JsonObject = {"results": self._apply(content.get("objects") or [], content.get("node") or None, touched)}
        elif request.operation == ApiOperation.DELETE:
            answer = {"results": self._delete(content, touched)}
        elif request.operation == ApiOperation.LIST:
            namespace = content.get("namespace") if isinstance(content.get("namespace"), str) and content.get("namespace") else None
            if request.resource == "devicemodels":
                answer = {
                    "items": [_model_row(model, self._store.devices(model.namespace)) for model in self._store.device_models(namespace)]
                }
            else:
                answer = {"items": [_row(device) for device in self._store.devices(namespace)]}
        else:
            raise ManifestError(f"unknown API operation {request.operation!r}")
        self.module_router.send_resp(request.reply(answer))
        self._sync_profiles(touched)

    def _apply(self, manifests: list[Json], node: str | None, touched: set[_ProfileKey]) -> list[ObjectResult]:
        # Models first: a device applied with its model finds it.
        ordered = sorted(
            enumerate(manifests), key=lambda item: not (isinstance(item[1], dict) and item[1].get("kind") == DEVICE_MODEL_KIND)
        )
        models: list[tuple[Manifest, ModelSpec]] = []
        specs = []
        for index, manifest in ordered:
            key = object_key(manifest, f"object {index + 1}")
            if key.kind == DEVICE_MODEL_KIND:
                models.append((manifest, parse_model(manifest, f"object {index + 1}")))
                continue
            existing = self._store.get(key.namespace, key.name)  # re-applied without --node: it stays where it is
            spec = parse_device(manifest, node, f"object {index + 1}", default_node=existing.node if existing else None)
            specs.append((with_node_selector(manifest, spec), spec))
        outgoing: list[Message] = []
        results: list[ObjectResult] = []
        with self._store.transaction():
            for manifest, model in models:
                action = self._apply_model(manifest, model, touched)
                results.append({"kind": DEVICE_MODEL_KIND, "namespace": model.namespace, "name": model.name, "action": action, "nodes": []})
            for manifest, spec in specs:
                before = self._store.get(spec.namespace, spec.name)
                action = self._apply_one(outgoing, manifest, spec)
                if action != "unchanged":
                    touched.add((spec.namespace, spec.node))
                    if before is not None:
                        touched.add((before.namespace, before.node))
                results.append({"kind": "Device", "namespace": spec.namespace, "name": spec.name, "action": action, "nodes": [spec.node]})
        self._send(outgoing)
        return results

    def _apply_model(self, manifest: Manifest, model: ModelSpec, touched: set[_ProfileKey]) -> str:
        stored = self._store.get_model(model.namespace, model.name)
        body = copy.deepcopy(manifest)
        body["metadata"]["namespace"] = model.namespace
        if stored is not None and same_content(body, stored.body):
            return "unchanged"
        version = self._store.next_version()
        self._store.put_model(model.namespace, model.name, version, with_server_fields(body, stored.body if stored else None, version))
        touched.update((model.namespace, d.node) for d in self._store.devices(model.namespace) if _spec(d).model == model.name)
        return "created" if stored is None else "configured"

    def _apply_one(self, outgoing: list[Message], manifest: Manifest, spec: DeviceSpec) -> str:
        clash = [d for d in self._store.named(spec.name) if d.namespace != spec.namespace]
        if clash:
            raise ManifestError(
                f"device/{spec.name}: a device of that name exists in namespace {clash[0].namespace} (edges know devices by name)"
            )
        stored = self._store.get(spec.namespace, spec.name)
        if stored is not None and same_content(manifest, stored.body):
            return "unchanged"
        version = self._store.next_version()
        body = with_server_fields(manifest, stored.body if stored else None, version)
        self._store.put(spec.namespace, spec.name, spec.node, version, body)
        if stored is None or stored.node != spec.node:
            if stored is not None:
                outgoing.append(self._membership(stored.node, removed=[edge_device(_spec(stored))]))
            outgoing.append(self._membership(spec.node, added=[edge_device(spec)]))
            if spec.twins:
                outgoing.append(self._cloud_updated(spec, version))
            return "created" if stored is None else "configured"
        removed = tuple(sorted({t.name for t in _spec(stored).twins} - {t.name for t in spec.twins}))
        outgoing.append(self._cloud_updated(spec, version, removed))
        return "configured"

    def _delete(self, content: JsonObject, touched: set[_ProfileKey]) -> list[ObjectResult]:
        if "objects" in content:
            keys = [object_key(m, f"object {i + 1}") for i, m in enumerate(content["objects"] or [])]
            names = [(key.kind, key.namespace, key.name) for key in keys]
        else:
            kind = canonical_kind(str(content.get("kind") or DEVICE_KIND))
            names = [(kind, str(content.get("namespace") or ""), str(content.get("name") or ""))]
        outgoing: list[Message] = []
        results: list[ObjectResult] = []
        with self._store.transaction():
            for kind, namespace, name in names:
                if kind == DEVICE_MODEL_KIND:
                    results.append(self._delete_model(namespace, name, touched))
                    continue
                stored = self._store.get(namespace, name)
                if stored is None:
                    results.append({"kind": "Device", "namespace": namespace, "name": name, "action": "not found", "nodes": []})
                    continue
                self._store.delete(namespace, name)
                touched.add((namespace, stored.node))
                outgoing.append(self._membership(stored.node, removed=[edge_device(_spec(stored))]))
                results.append({"kind": "Device", "namespace": namespace, "name": name, "action": "deleted", "nodes": [stored.node]})
        self._send(outgoing)
        return results

    def _delete_model(self, namespace: str, name: str, touched: set[_ProfileKey]) -> ObjectResult:
        """Devices that use a deleted model stay; they leave the profile until it is back."""
        if self._store.get_model(namespace, name) is None:
            return {"kind": DEVICE_MODEL_KIND, "namespace": namespace, "name": name, "action": "not found", "nodes": []}
        self._store.delete_model(namespace, name)
        touched.update((namespace, d.node) for d in self._store.devices(namespace) if _spec(d).model == name)
        return {"kind": DEVICE_MODEL_KIND, "namespace": namespace, "name": name, "action": "deleted", "nodes": []}

    # --- the device profiles (docs/protocol.md#11.2) ---------------------------------------

    def _sync_profiles(self, touched: set[_ProfileKey]) -> None:
        """Rebuild each touched node's profile from what is stored and hand it to the controller,
        which stores it (unchanged text is "unchanged": nothing is sent) and delivers it."""
        for namespace, node in sorted(touched):
            devices = [_spec(d) for d in self._store.devices(namespace, node)]
            models = {m.name: parse_model(m.body) for m in self._store.device_models(namespace)}
            profile = device_profile([ProfileDevice(d.name, d.model, d.protocol) for d in devices], models)
            if profile:
                content: JsonObject = {"objects": [profile_configmap(namespace, node, profile)], "node": node}
                self._ask_controller(ApiOperation.APPLY, content)
            else:
                self._ask_controller(ApiOperation.DELETE, {"kind": "ConfigMap", "namespace": namespace, "name": profile_name(node)})

    def _ask_controller(self, operation: ApiOperation, content: JsonObject) -> None:
        request = Message.new(source=DEVICE_CONTROLLER_MODULE, group=API_GROUP, operation=operation, resource="", content=content)
        future = self.module_router.send_sync(CONTROLLER_MODULE, request, _CONTROLLER_TIMEOUT_S)
        self.module_on_reply(future, lambda reply, error: _log_profile_result(operation, reply, error))

    # --- messages to the edges ---------------------------------------------------------------

    def _membership(self, node: str, added: list[EdgeDevice] | None = None, removed: list[EdgeDevice] | None = None) -> Message:
        content = membership_content(added or [], removed or [])
        return self._message(node, "membership", content)

    def _cloud_updated(self, spec: DeviceSpec, version: int, removed: tuple[str, ...] = ()) -> Message:
        return self._message(spec.node, f"device/{spec.name}/twin/cloud_updated", cloud_updated_content(spec, version, removed))

    def _message(self, node: str, resource: str, content: Content) -> Message:
        return Message.new(
            source=DEVICE_CONTROLLER_SOURCE,
            group=CloudGroup.TWIN,
            operation=Operation.UPDATE,
            resource=add_node_prefix(node, resource),
            content=content,
        )

    def _reply(self, reply: Message) -> None:
        """To the node that asked (it is connected: its request just arrived)."""
        self.module_router.send(CLOUDHUB_MODULE, reply.with_route(source=DEVICE_CONTROLLER_SOURCE, group=CloudGroup.TWIN))

    def _send(self, messages: list[Message]) -> None:
        # A node that is away asks for the membership detail when it is back (docs/protocol.md#5.6).
        ready = [message for message in messages if split_node_prefix(message.resource)[0] in self._connected]
        self.module_router.send_batch(CLOUDHUB_MODULE, ready)


def _log_profile_result(operation: str, reply: Message | None, error: BaseException | None) -> None:
    if error is not None or reply is None or reply.is_error:
        logger.warning(
            "devicecontroller: the controller did not take a device profile (%s): %s", operation, error or (reply and reply.content)
        )
    elif logger.isEnabledFor(logging.DEBUG):
        logger.debug("devicecontroller: device profile %s: %s", operation, reply.content)


def _spec(device: StoredDevice) -> DeviceSpec:
    return parse_device(device.body, device.node)


def _row(device: StoredDevice) -> DeviceRow:
    spec = _spec(device)
    twins: list[TwinRow] = [
        {"name": t.name, "type": t.type, "desired": t.value, "reported": _reported_value(device.reported.get(t.name))} for t in spec.twins
    ]
    # Properties the device reports on its own (the cloud never asked for them) are shown too.
    desired = {t.name for t in spec.twins}
    twins += [
        {"name": name, "type": (value.get("metadata") or {}).get("type") or "string", "desired": None, "reported": _reported_value(value)}
        for name, value in sorted(device.reported.items())
        if name not in desired
    ]
    return {
        "namespace": device.namespace,
        "name": device.name,
        "node": device.node,
        "state": device.state,
        "protocol": spec.protocol.kind if spec.protocol else "",
        "model": spec.model,
        "twins": twins,
        "object": with_reported(device.body, device.reported),
    }


def _model_row(model: StoredModel, devices: list[StoredDevice]) -> DeviceModelRow:
    spec = parse_model(model.body)
    return {
        "namespace": model.namespace,
        "name": model.name,
        "properties": [p.name for p in spec.properties],
        "protocols": sorted({protocol for _, protocol, _ in spec.visitors}),
        "devices": [d.name for d in devices if _spec(d).model == model.name],
        "created": model.body["metadata"].get("creationTimestamp", ""),
        "object": model.body,
    }


def _reported_value(shown: ShownValue | None) -> Json:
    return shown.get("value") if shown is not None else None


__all__ = ["DeviceControllerActor"]
