"""``deviceProfile.json`` as the mapper reads it (docs/protocol.md#11.2), into one plan per device.

Pure functions. The format is v1.0's; the v1.0 Modbus mapper's misreadings are fixed
(docs/protocol.md#11.3): the protocol is found by the instance's ``protocol`` name, not by the
model's index; a Modbus visitor's start is ``offset`` and its count ``limit`` (v1.0's mapper
took ``index``/``offset``, so a cloud profile gave it ``NaN``); an absent ``scale`` is 1.
An entry that cannot be used is left out and named in :attr:`Profile.problems`; the others run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from actors.mapper.errors import ProfileError

PROTOCOLS = ("modbus-tcp", "modbus-rtu", "opcua", "bluetooth")
DATA_TYPES = ("int", "float", "string", "boolean")
REGISTERS = ("CoilRegister", "DiscreteInputRegister", "InputRegister", "HoldingRegister")


@dataclass(frozen=True)
class PropertyPlan:
    """One property of a device, with how to reach it."""

    name: str
    data_type: str  # int | float | string | boolean
    writable: bool  # accessMode ReadWrite
    visitor: dict[str, Any]  # the visitorConfig, as written
    minimum: float | None = None
    maximum: float | None = None

    @property
    def twin_type(self) -> str:
        """The twin's ``metadata.type`` for this property (docs/protocol.md#5.4)."""
        return self.data_type


@dataclass(frozen=True)
class DevicePlan:
    """One device instance: its protocol and the properties the mapper serves."""

    id: str
    model: str
    protocol: str  # modbus-tcp | modbus-rtu | opcua | bluetooth
    config: dict[str, Any]  # the protocol_config, as written
    properties: tuple[PropertyPlan, ...]

    def property(self, name: str) -> PropertyPlan | None:
        return next((p for p in self.properties if p.name == name), None)


@dataclass(frozen=True)
class Profile:
    devices: tuple[DevicePlan, ...] = ()
    problems: tuple[str, ...] = field(default=())


def read_profile(text: str) -> Profile:
    """Read a profile's JSON text.

    Raises:
        ProfileError: not JSON, or not an object; bad entries are only named in ``problems``.
    """
    if not text.strip():
        return Profile()
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ProfileError(f"deviceProfile.json is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ProfileError("deviceProfile.json must be a JSON object")
    reader = _Reader(document)
    devices = []
    for index, instance in enumerate(_entries(document, "deviceInstances", reader.problems)):
        plan = reader.device(instance, f"deviceInstances[{index}]")
        if plan is not None:
            devices.append(plan)
    return Profile(tuple(devices), tuple(reader.problems))


def _entries(document: dict[str, Any], key: str, problems: list[str]) -> list[dict[str, Any]]:
    value = document.get(key) or []
    if not isinstance(value, list):
        problems.append(f"{key} must be a list")
        return []
    good = [entry for entry in value if isinstance(entry, dict)]
    if len(good) != len(value):
        problems.append(f"{key}: entries that are not objects are left out")
    return good


class _Reader:
    """The profile's lookup tables, and the problems found so far."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.problems: list[str] = []
        self.models = {m.get("name"): m for m in _entries(document, "deviceModels", self.problems)}
        self.protocols = {p.get("name"): p for p in _entries(document, "protocols", self.problems)}
        self.visitors = _entries(document, "propertyVisitors", self.problems)

    def device(self, instance: dict[str, Any], where: str) -> DevicePlan | None:
        problems, models, protocols = self.problems, self.models, self.protocols
        device_id = instance.get("id")
        if not isinstance(device_id, str) or not device_id:
            problems.append(f"{where}.id is missing")
            return None
        where = f"device {device_id}"
        model = models.get(instance.get("model"))
        if model is None:
            problems.append(f"{where}: model {instance.get('model')!r} is not in deviceModels")
            return None
        protocol = protocols.get(instance.get("protocol"))
        kind = (protocol or {}).get("protocol")
        if kind not in PROTOCOLS:
            problems.append(
                f"{where}: protocol {instance.get('protocol')!r} is missing from protocols or not one of {', '.join(PROTOCOLS)}"
            )
            return None
        config = protocol.get("protocol_config") if protocol else None
        if not isinstance(config, dict):
            problems.append(f"{where}: protocols[{instance.get('protocol')}].protocol_config must be an object")
            return None
        visitor_protocol = "modbus" if kind.startswith("modbus") else kind
        properties = []
        for entry in model.get("properties") or []:
            plan = self.property(entry, model["name"], visitor_protocol, where)
            if plan is not None:
                properties.append(plan)
        return DevicePlan(device_id, str(model["name"]), kind, config, tuple(properties))

    def property(self, entry: Any, model: str, protocol: str, where: str) -> PropertyPlan | None:
        problems, visitors = self.problems, self.visitors
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            problems.append(f"{where}: model {model} has a property without a name")
            return None
        name, data_type = entry["name"], entry.get("dataType") or "string"
        where = f"{where} property {name}"
        if data_type not in DATA_TYPES:
            problems.append(f"{where}: dataType {data_type!r} is not one of {', '.join(DATA_TYPES)}")
            return None
        visitor = next(
            (v for v in visitors if v.get("modelName") == model and v.get("propertyName") == name and v.get("protocol") == protocol), None
        )
        if visitor is None or not isinstance(visitor.get("visitorConfig"), dict):
            problems.append(f"{where}: no {protocol} visitor in propertyVisitors")
            return None
        config = visitor["visitorConfig"]
        if protocol == "modbus" and not _modbus_visitor_ok(config, where, problems):
            return None
        if protocol == "opcua" and not isinstance(config.get("nodeID"), str):
            problems.append(f"{where}: visitorConfig.nodeID is missing")
            return None
        return PropertyPlan(
            name,
            data_type,
            entry.get("accessMode") == "ReadWrite",
            config,
            _number(entry.get("minimum")),
            _number(entry.get("maximum")),
        )


def _modbus_visitor_ok(config: dict[str, Any], where: str, problems: list[str]) -> bool:
    if config.get("register") not in REGISTERS:
        problems.append(f"{where}: visitorConfig.register {config.get('register')!r} is not one of {', '.join(REGISTERS)}")
        return False
    for name, low in (("offset", 0), ("limit", 1)):
        value = config.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            problems.append(f"{where}: visitorConfig.{name} must be an integer ≥ {low}, not {value!r}")
            return False
    return True


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


__all__ = ["DATA_TYPES", "PROTOCOLS", "DevicePlan", "Profile", "PropertyPlan", "read_profile"]
