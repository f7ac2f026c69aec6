"""What each twin request does (docs/protocol.md#5.4 to docs/protocol.md#5.6), as :class:`Effects` the actor then carries out.

Nothing here writes, publishes or sends: a handler reads the device map and returns the rows to
store, the MQTT payloads to publish and the messages for the cloud. The actor stores first and
only then changes the map and emits, so a failed write changes nothing.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from actors.protocol import CloudGroup, Operation
from actors.twin.model import (
    DEVICE_STATES,
    Attr,
    Device,
    DeviceRequest,
    Twin,
    TwinRequestError,
    device_bodies,
    event_id_of,
    get_field,
    parse_attr_requests,
    parse_device,
    parse_devices,
    parse_json_object,
    parse_twin_requests,
    to_json_bytes,
    twin_or_null,
)
from actors.twin.rules import Deal, TwinChanges, apply_attr_requests, apply_twin_requests, compute_delta
from actors.twin.store import StoreBatch
from kubeedge_actors.message import Message, new_message_id, now_ms

logger = logging.getLogger(__name__)

Payload = str | bytes | Mapping[str, Any]


@dataclass
class Effects:
    """What handling one message does, once it is stored.

    Attributes:
        batch: rows to write in one transaction.
        devices: device id → the device afterwards (None: removed), installed after the write.
        publishes: (topic, payload) for the local broker, in order.
        cloud: (message, awaited) for the cloud, stored with the batch.
        on_store_failure: what to publish instead when the write fails (a 500 result), as
            (topic, document): encoded only then.
    """

    batch: StoreBatch = field(default_factory=StoreBatch)
    devices: dict[str, Device | None] = field(default_factory=dict)
    publishes: list[tuple[str, bytes]] = field(default_factory=list)
    cloud: list[tuple[Message, bool]] = field(default_factory=list)
    on_store_failure: list[tuple[str, Mapping[str, Any]]] = field(default_factory=list)

    def publish(self, topic: str, document: Mapping[str, Any]) -> None:
        self.publishes.append((topic, to_json_bytes(document)))


@dataclass
class MembershipPlan:
    """A membership message, parsed, and what of it is still to apply (docs/protocol.md#5.6).

    The actor applies it slice by slice (:meth:`DeviceTwins.membership_slice`), each slice one
    transaction, so a large membership never builds all its rows and publishes at once.

    Attributes:
        added: devices still to add (or update), in the cloud's order: ``(where, body)``,
            checked whole when the message came, parsed a slice at a time.
        removed: ``(id, as listed)`` of devices still to remove.
        listed_ids: for a membership *detail*: every listed id; once ``added`` is empty, the
            members not listed are removed (None for an update).
    """

    added: deque[tuple[str, Mapping[str, Any]]]
    removed: deque[tuple[str, Mapping[str, Any]]]
    listed_ids: frozenset[str] | None = None
    #: The decoded message, kept whole until the last slice: freed piece by piece, its memory
    #: would be reused by the devices the slices add, and stay held by them (fragmentation).
    message: Any = None

    def __len__(self) -> int:
        return len(self.added) + len(self.removed)

    @property
    def done(self) -> bool:
        return not self.added and not self.removed and self.listed_ids is None


def device_topic(device_id: str, suffix: str) -> str:
    return f"$hw/events/device/{device_id}/{suffix}"


def error_result(event_id: str, code: int, reason: str) -> dict[str, Any]:
    """docs/protocol.md#5.4 error result; ``code`` and ``reason`` omitted when zero or empty."""
    document: dict[str, Any] = {"event_id": event_id, "timestamp": now_ms()}
    if code:
        document["code"] = code
    if reason:
        document["reason"] = reason
    return document


def cloud_message(operation: str, resource: str, content: Any) -> Message:
    """A message for the cloud (docs/protocol.md#5.4 "Messages exchanged with the cloud")."""
    return Message.new(source="twin", group=CloudGroup.RESOURCE, operation=operation, resource=resource, content=content)


def membership_detail_request(node_id: str) -> Message:
    """docs/protocol.md#5.4: the membership-detail request, its content a JSON *string*."""
    content = {"event_type": "group_membership_event", "event_id": "123", "group_id": node_id, "operation": "detail", "timestamp": now_ms()}
    return cloud_message(Operation.GET, "membership/detail", json.dumps(content, separators=(",", ":")))


class DeviceTwins:
    """The device map and the handlers that read it.

    Args:
        node_id: this node's id (``edgehub.controller.node-id``), used in membership topics.
    """

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.devices: dict[str, Device] = {}

    def install(self, effects: Effects) -> None:
        """The write succeeded: the map takes the new devices."""
        for device_id, device in effects.devices.items():
            if device is None:
                self.devices.pop(device_id, None)
            else:
                self.devices[device_id] = device

    def _current(self, effects: Effects, device_id: str) -> Device | None:
        if device_id in effects.devices:
            return effects.devices[device_id]
        return self.devices.get(device_id)

    def _known(self, device_id: str) -> Device:
        device = self.devices.get(device_id)
        if device is None:
            raise TwinRequestError(f"device {device_id!r} is not a member of this node", 404)
        return device

    # --- from device apps (MQTT) ------------------------------------------------------------

    def twin_update(self, device_id: str, payload: Payload) -> Effects:
        """``twin/update`` (Rest): answered on ``twin/update/result``, errors included (docs/protocol.md#13.1)."""
        effects = Effects()
        topic = device_topic(device_id, "twin/update/result")
        event_id = ""
        try:
            document = parse_json_object(payload, "the twin update")
            event_id = event_id_of(document)
            requests = parse_twin_requests(document, required=True)
            device = self._known(device_id)
            changes = apply_twin_requests(device.twins, requests, Deal.REST, now_ms())
        except TwinRequestError as error:
            logger.warning("twin: twin update of %s refused (%d): %s", device_id, error.code, error)
            effects.publish(topic, error_result(event_id, error.code, str(error)))
            return effects
        result = {name: twin_or_null(changes.result[name]) for name in sorted(changes.result)}
        effects.publish(topic, {"event_id": event_id, "timestamp": now_ms(), "twin": result})
        self._twin_changes(effects, device, changes, event_id)
        effects.on_store_failure.append((topic, error_result(event_id, 500, "the twin database refused the update")))
        return effects

    def twin_get(self, device_id: str, payload: Payload) -> Effects:
        """``twin/get``: every non-deleted twin, versions stripped, on ``twin/get/result``."""
        effects = Effects()
        topic = device_topic(device_id, "twin/get/result")
        event_id = ""
        try:
            event_id = event_id_of(parse_json_object(payload, "the twin get"))
            device = self._known(device_id)
        except TwinRequestError as error:
            logger.warning("twin: twin get of %s refused (%d): %s", device_id, error.code, error)
            effects.publish(topic, error_result(event_id, error.code, str(error)))
            return effects
        twins = {name: device.twins[name].to_wire(versions=False) for name in sorted(device.twins) if not device.twins[name].deleted}
        effects.publish(topic, {"event_id": event_id, "timestamp": now_ms(), "twin": twins})
        return effects

    def cloud_updated(self, device_id: str, payload: Payload) -> Effects:
        """``twin/cloud_updated`` from the cloud or MQTT: a Sync (docs/protocol.md#5.5)."""
        effects = Effects()
        document = parse_json_object(payload, "the cloud twin update")
        requests = parse_twin_requests(document, required=True)
        device = self._known(device_id)
        changes = apply_twin_requests(device.twins, requests, Deal.SYNC, now_ms())
        self._twin_changes(effects, device, changes, event_id_of(document))
        return effects

    def state_update(self, device_id: str, payload: Payload) -> Effects:
        """``state/update``: store, answer on ``state/update/result``, tell the cloud (docs/protocol.md#5.6)."""
        effects = Effects()
        document = parse_json_object(payload, "the state update")
        state = get_field(document, "state", str, "")
        if state not in DEVICE_STATES:
            raise TwinRequestError(f"state {state!r} of device {device_id!r} is not online, offline or unknown")
        device = replace(self._known(device_id), state=state, last_online=time.strftime("%Y-%m-%d %H:%M:%S"))
        effects.devices[device_id] = device
        effects.batch.devices.append(device)
        reported = {key: value for key, value in (("name", device.name), ("state", state), ("last_online", device.last_online)) if value}
        text = to_json_bytes({"event_id": new_message_id(), "timestamp": now_ms(), "device": reported})
        effects.publishes.append((device_topic(device_id, "state/update/result"), text))
        effects.cloud.append((cloud_message(Operation.UPDATE, f"device/{device_id}/state", text.decode("utf-8")), False))
        return effects

    def membership_get(self, payload: Payload) -> Effects:
        """``membership/get``: the devices without twins, on the *configured* node's result topic."""
        effects = Effects()
        topic = f"$hw/events/node/{self.node_id}/membership/get/result"
        try:
            event_id = event_id_of(parse_json_object(payload, "the membership get"))
        except TwinRequestError as error:
            effects.publish(topic, error_result("", error.code, str(error)))
            return effects
        devices = [self.devices[device_id].to_wire(with_twins=False) for device_id in sorted(self.devices)]
        effects.publish(topic, {"event_id": event_id, "timestamp": now_ms(), "devices": devices})
        return effects

    # --- from the cloud -----------------------------------------------------------------------

    def membership_updated(self, payload: Payload) -> Effects:
        """Devices added to and removed from this node (docs/protocol.md#5.6), all at once."""
        return self.membership_slice(self.membership_update_plan(payload), None)

    def membership_detail(self, payload: Payload) -> Effects:
        """Every member of this node: listed ones added, the others removed (docs/protocol.md#5.6), all at once."""
        return self.membership_slice(self.membership_detail_plan(payload), None)

    @staticmethod
    def membership_update_plan(payload: Payload) -> MembershipPlan:
        """A membership update, parsed; refused whole (TwinRequestError) before anything is applied."""
        document = parse_json_object(payload, "the membership update")
        added = deque((f"added_devices[{index}].", body) for index, body in device_bodies(document, "added_devices"))
        removed = parse_devices(document, "removed_devices")
        return MembershipPlan(added, deque((request.id, request.listed) for request in removed), message=document)

    @staticmethod
    def membership_detail_plan(payload: Payload) -> MembershipPlan:
        """A membership detail, parsed; refused whole (TwinRequestError) before anything is applied."""
        document = parse_json_object(payload, "the membership detail")
        listed = device_bodies(document, "devices")
        added = deque((f"devices[{index}].", body) for index, body in listed)
        return MembershipPlan(added, deque(), frozenset(body["id"] for _, body in listed), message=document)

    def membership_slice(self, plan: MembershipPlan, limit: int | None) -> Effects:
        """The next ``limit`` devices of ``plan`` (all when None) as one :class:`Effects`; the
        plan keeps the rest. Each slice reads the map as the slices before it left it."""
        effects = Effects()
        budget = len(plan) if limit is None else limit
        while budget > 0 and plan.added:
            where, body = plan.added.popleft()
            self._add_member(effects, parse_device(body, where))
            budget -= 1
        if not plan.added and plan.listed_ids is not None:
            # A detail's adds are all applied: the members it does not list go (ids sorted).
            listed_ids, plan.listed_ids = plan.listed_ids, None
            plan.removed.extend((device_id, {"id": device_id}) for device_id in sorted(self.devices) if device_id not in listed_ids)
            if limit is None:
                budget = len(plan.removed)
        while budget > 0 and plan.removed:
            device_id, listed = plan.removed.popleft()
            self._remove_member(effects, device_id, listed)
            budget -= 1
        if plan.done:
            plan.message = None
        return effects

    def attributes_updated(self, device_id: str, payload: Payload) -> Effects:
        """Attribute changes from the cloud (docs/protocol.md#5.6, deal type 0)."""
        effects = Effects()
        document = parse_json_object(payload, "the attribute update")
        requests = parse_attr_requests(document)
        device = self._known(device_id)
        attributes, changed = apply_attr_requests(device.attributes, requests, detail=False)
        if changed:
            effects.devices[device_id] = replace(device, attributes=attributes)
            self._attr_changes(effects, device_id, changed, event_id_of(document))
        return effects

    # --- shared steps ------------------------------------------------------------------------

    def _add_member(self, effects: Effects, request: DeviceRequest) -> None:
        before = self._current(effects, request.id)
        base = before or Device(request.id, request.name, request.description, request.state, request.last_online)
        attributes, changed_attrs = apply_attr_requests(base.attributes, request.attributes, detail=True)
        # The original checks twin names and values only on twin/update and cloud_updated bodies.
        changes = apply_twin_requests(base.twins, request.twins, Deal.SYNC, now_ms(), text_checked=False)
        device = replace(base, attributes=attributes, twins=changes.twins)
        effects.devices[device.id] = device
        if before is None:
            effects.batch.devices.append(device)
        self._twin_changes(effects, device, changes, "")
        if changed_attrs:
            self._attr_changes(effects, device.id, changed_attrs, "")
        if before is None:
            self._membership_updated(effects, added=[device.to_wire()], removed=None)

    def _remove_member(self, effects: Effects, device_id: str, listed: Mapping[str, Any]) -> None:
        if self._current(effects, device_id) is None:
            logger.info("twin: removal of device %s, which is not a member, ignored", device_id)
            return
        effects.devices[device_id] = None
        effects.batch.removed_devices.append(device_id)
        self._membership_updated(effects, added=None, removed=[dict(listed)])

    def _membership_updated(self, effects: Effects, *, added: list[Any] | None, removed: list[Any] | None) -> None:
        """Tell the device apps of one member added or removed (docs/protocol.md#5.6)."""
        document = {"event_id": new_message_id(), "timestamp": now_ms(), "added_devices": added, "removed_devices": removed}
        effects.publish(f"$hw/events/node/{self.node_id}/membership/updated", document)

    def _twin_changes(self, effects: Effects, device: Device, changes: TwinChanges, event_id: str) -> None:
        """docs/protocol.md#5.5 "after processing": store, document, delta, edge_updated."""
        device_id = device.id
        if changes.changed:
            effects.devices[device_id] = replace(self._current(effects, device_id) or device, twins=changes.twins)
            effects.batch.twins.extend((device_id, changes.twins[name]) for name in changes.changed)
            history = {
                name: {"last": twin_or_null(changes.changed[name][0]), "current": twin_or_null(changes.changed[name][1])}
                for name in sorted(changes.changed)
            }
            effects.publish(device_topic(device_id, "twin/update/document"), {"event_id": event_id, "timestamp": now_ms(), "twin": history})
        delta = compute_delta(changes.twins) if changes.changed else {}
        if delta:
            with_expected = {name: twin.to_wire(versions=False) for name, twin in sorted(changes.twins.items()) if _has_expected(twin)}
            document = {"event_id": new_message_id(), "timestamp": now_ms(), "twin": with_expected, "delta": dict(sorted(delta.items()))}
            effects.publish(device_topic(device_id, "twin/update/delta"), document)
        if changes.sync_result:
            twins = {name: changes.sync_result[name].to_wire(versions=True) for name in sorted(changes.sync_result)}
            content = {"event_id": new_message_id(), "timestamp": now_ms(), "twin": twins}
            effects.cloud.append((cloud_message(Operation.UPDATE, f"device/{device_id}/twin/edge_updated", content), False))

    def _attr_changes(self, effects: Effects, device_id: str, changed: Mapping[str, Attr | None], event_id: str) -> None:
        for name, attr in changed.items():
            if attr is None:
                effects.batch.removed_attributes.append((device_id, name))
            else:
                effects.batch.attributes.append((device_id, attr))
        attributes = {name: (None if changed[name] is None else changed[name].to_wire()) for name in sorted(changed)}  # type: ignore[union-attr]
        effects.publish(device_topic(device_id, "updated"), {"event_id": event_id, "timestamp": now_ms(), "attributes": attributes})


def _has_expected(twin: Twin) -> bool:
    return not twin.deleted and twin.expected is not None


__all__ = ["DeviceTwins", "Effects", "MembershipPlan", "cloud_message", "device_topic", "error_result", "membership_detail_request"]
