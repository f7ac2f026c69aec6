"""DeviceModel objects, a Device's protocol, and the per-node device profile that mappers read
(``devices.kubeedge.io/v1alpha1``; docs/protocol.md#11.1, docs/protocol.md#11.2).

Pure functions over plain objects: no I/O, no state, so they port to a Kubernetes API.
Every check raises :class:`ManifestError` naming the object and the field.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field

from kubeedge_actors.message import Json, JsonObject
from kubeedge_cloud.errors import ManifestError
from kubeedge_cloud.manifests import DEVICE_API_GROUP, object_key

#: The property types of a model: the CRD's ``int`` and ``string``, and (ours) ``float`` and
#: ``boolean``, which the v1.0 Modbus mapper converts too (docs/protocol.md#11.3).
PROPERTY_TYPES = ("int", "string", "float", "boolean")
ACCESS_MODES = ("ReadWrite", "ReadOnly")
VISITOR_PROTOCOLS = ("modbus", "opcua", "bluetooth")
MODBUS_REGISTERS = ("CoilRegister", "DiscreteInputRegister", "InputRegister", "HoldingRegister")
BAUD_RATES = (115200, 57600, 38400, 19200, 9600, 4800, 2400, 1800, 1200, 600, 300, 200, 150, 134, 110, 75, 50)
#: docs/protocol.md#11.1: the controller takes the first member present, in this order.
PROTOCOL_ORDER = ("opcua", "modbus-rtu", "modbus-tcp", "bluetooth")
PROFILE_KEY = "deviceProfile.json"


def profile_name(node: str) -> str:
    """``device-profile-config-<node>`` (docs/protocol.md#11.2)."""
    return f"device-profile-config-{node}"


@dataclass(frozen=True)
class ModelProperty:
    name: str
    data_type: str
    access_mode: str
    body: JsonObject  # the property as written (description, defaultValue, minimum, maximum, unit)


@dataclass(frozen=True)
class ModelSpec:
    namespace: str
    name: str
    properties: tuple[ModelProperty, ...]
    visitors: tuple[tuple[str, str, JsonObject], ...]  # (propertyName, protocol, visitor config)

    def property(self, name: str) -> ModelProperty | None:
        return next((p for p in self.properties if p.name == name), None)


@dataclass(frozen=True)
class ProtocolSpec:
    """The one member of a Device's ``spec.protocol``: ``kind`` is ``modbus-tcp``,
    ``modbus-rtu``, ``opcua`` or ``bluetooth``; ``config`` the member as written."""

    kind: str
    config: JsonObject = field(default_factory=dict)


# --- DeviceModel ----------------------------------------------------------------------------


def parse_model(manifest: Json, where: str = "object") -> ModelSpec:
    """Check a DeviceModel and read its properties and visitors (docs/protocol.md#11.1)."""
    key = object_key(manifest, where)
    label = f"devicemodel/{key.name} in namespace {key.namespace}"
    _check_api_version(manifest, label)
    spec = manifest.get("spec") if isinstance(manifest, dict) else None
    if not isinstance(spec, dict):
        raise ManifestError(f"{label}: spec is missing")
    raw_properties = spec.get("properties")
    if not isinstance(raw_properties, list) or not raw_properties:
        raise ManifestError(f"{label}: spec.properties must be a non-empty list")
    properties = tuple(_model_property(p, f"{label}: spec.properties[{i}]") for i, p in enumerate(raw_properties))
    names = [p.name for p in properties]
    if len(set(names)) != len(names):
        raise ManifestError(f"{label}: spec.properties names a property twice")
    raw_visitors = spec.get("propertyVisitors") or []
    if not isinstance(raw_visitors, list):
        raise ManifestError(f"{label}: spec.propertyVisitors must be a list")
    visitors = tuple(_visitor(v, f"{label}: spec.propertyVisitors[{i}]", set(names)) for i, v in enumerate(raw_visitors))
    seen = [(name, protocol) for name, protocol, _ in visitors]
    if len(set(seen)) != len(seen):
        raise ManifestError(f"{label}: spec.propertyVisitors has two visitors of one protocol for one property")
    return ModelSpec(key.namespace, key.name, properties, visitors)


def _check_api_version(manifest: Json, label: str) -> None:
    api_version = str(manifest.get("apiVersion", "")) if isinstance(manifest, dict) else ""
    if not api_version.startswith(DEVICE_API_GROUP + "/"):
        raise ManifestError(f"{label}: apiVersion must be {DEVICE_API_GROUP}/v1alpha1, not {api_version!r}")


def _model_property(entry: Json, label: str) -> ModelProperty:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
        raise ManifestError(f"{label}.name is missing")
    kinds = entry.get("type")
    if not isinstance(kinds, dict) or len(kinds) != 1 or next(iter(kinds)) not in PROPERTY_TYPES:
        raise ManifestError(f"{label}.type must hold exactly one of {', '.join(PROPERTY_TYPES)}")
    data_type, body = next(iter(kinds.items()))
    if not isinstance(body, dict):
        raise ManifestError(f"{label}.type.{data_type} must be an object")
    access = body.get("accessMode")
    if access not in ACCESS_MODES:
        raise ManifestError(f"{label}.type.{data_type}.accessMode must be ReadWrite or ReadOnly, not {access!r}")
    for bound in ("minimum", "maximum"):
        if bound in body and (isinstance(body[bound], bool) or not isinstance(body[bound], int | float)):
            raise ManifestError(f"{label}.type.{data_type}.{bound} must be a number, not {body[bound]!r}")
    if "minimum" in body and "maximum" in body and body["minimum"] > body["maximum"]:
        raise ManifestError(f"{label}.type.{data_type}: minimum {body['minimum']} is above maximum {body['maximum']}")
    return ModelProperty(entry["name"], data_type, access, {**body, "description": entry.get("description", "")})


def _visitor(entry: Json, label: str, properties: set[str]) -> tuple[str, str, JsonObject]:
    if not isinstance(entry, dict) or not isinstance(entry.get("propertyName"), str):
        raise ManifestError(f"{label}.propertyName is missing")
    name = entry["propertyName"]
    if name not in properties:
        raise ManifestError(f"{label}.propertyName {name!r} is not a property of the model")
    members = [p for p in VISITOR_PROTOCOLS if p in entry]
    if len(members) != 1:
        raise ManifestError(f"{label}: needs exactly one of modbus, opcua, bluetooth")
    protocol = members[0]
    config = entry[protocol]
    if not isinstance(config, dict):
        raise ManifestError(f"{label}.{protocol} must be an object")
    _CHECK_VISITOR[protocol](config, f"{label}.{protocol}")
    return name, protocol, config


def _check_modbus_visitor(config: JsonObject, label: str) -> None:
    if config.get("register") not in MODBUS_REGISTERS:
        raise ManifestError(f"{label}.register must be one of {', '.join(MODBUS_REGISTERS)}, not {config.get('register')!r}")
    _integer(config, "offset", label, 0, 65535, required=True)
    _integer(config, "limit", label, 1, 125, required=True)
    scale = config.get("scale")
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, int | float) or scale == 0):
        raise ManifestError(f"{label}.scale must be a non-zero number, not {scale!r}")
    for flag in ("isSwap", "isRegisterSwap"):
        if flag in config and not isinstance(config[flag], bool):
            raise ManifestError(f"{label}.{flag} must be true or false, not {config[flag]!r}")


def _check_opcua_visitor(config: JsonObject, label: str) -> None:
    if not isinstance(config.get("nodeID"), str) or not config["nodeID"]:
        raise ManifestError(f"{label}.nodeID is missing (e.g. ns=2;i=2)")


def _check_bluetooth_visitor(config: JsonObject, label: str) -> None:
    if not isinstance(config.get("characteristicUUID"), str) or not config["characteristicUUID"]:
        raise ManifestError(f"{label}.characteristicUUID is missing")


_CHECK_VISITOR = {"modbus": _check_modbus_visitor, "opcua": _check_opcua_visitor, "bluetooth": _check_bluetooth_visitor}


def _integer(config: JsonObject, name: str, label: str, low: int, high: int, *, required: bool = False) -> None:
    value = config.get(name)
    if value is None and not required:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ManifestError(f"{label}.{name} must be an integer from {low} to {high}, not {value!r}")


# --- a Device's spec.protocol and model ----------------------------------------------------


def parse_protocol(spec: JsonObject, label: str) -> ProtocolSpec | None:
    """The one member of ``spec.protocol`` (None when there is none), checked."""
    protocol = spec.get("protocol")
    if protocol is None or protocol == {}:
        return None
    if not isinstance(protocol, dict):
        raise ManifestError(f"{label}: spec.protocol must be an object")
    members: list[tuple[str, JsonObject]] = []
    for name, value in protocol.items():
        if name == "modbus" and isinstance(value, dict):
            members += [(f"modbus-{link}", value[link]) for link in ("rtu", "tcp") if link in value]
            if not any(link in value for link in ("rtu", "tcp")):
                raise ManifestError(f"{label}: spec.protocol.modbus needs rtu or tcp")
        elif name in ("opcua", "bluetooth"):
            members.append((name, value if value is not None else {}))
        else:
            raise ManifestError(f"{label}: spec.protocol.{name} is not a protocol (opcua, modbus.rtu, modbus.tcp, bluetooth)")
    if len(members) != 1:
        raise ManifestError(f"{label}: spec.protocol must set exactly one of opcua, modbus.rtu, modbus.tcp, bluetooth")
    kind, config = members[0]
    where = f"{label}: spec.protocol.{kind.replace('-', '.')}"
    if not isinstance(config, dict):
        raise ManifestError(f"{where} must be an object")
    _CHECK_PROTOCOL[kind](config, where)
    return ProtocolSpec(kind, config)


def _check_tcp(config: JsonObject, label: str) -> None:
    if not isinstance(config.get("ip"), str) or not config["ip"]:
        raise ManifestError(f"{label}.ip is missing")
    _integer(config, "port", label, 1, 65535, required=True)
    slave = config.get("slaveID")
    if slave is None or not str(slave).isdigit() or not 0 <= int(str(slave)) <= 255:
        raise ManifestError(f"{label}.slaveID must be a unit id from 0 to 255 (v1.0 writes it as a string), not {slave!r}")


def _check_rtu(config: JsonObject, label: str) -> None:
    if not isinstance(config.get("serialPort"), str) or not config["serialPort"]:
        raise ManifestError(f"{label}.serialPort is missing")
    if config.get("baudRate") not in BAUD_RATES:
        raise ManifestError(f"{label}.baudRate must be one of {', '.join(map(str, BAUD_RATES))}, not {config.get('baudRate')!r}")
    if config.get("dataBits", 8) not in (5, 6, 7, 8):
        raise ManifestError(f"{label}.dataBits must be 5, 6, 7 or 8, not {config.get('dataBits')!r}")
    if config.get("parity", "none") not in ("none", "even", "odd"):
        raise ManifestError(f"{label}.parity must be none, even or odd, not {config.get('parity')!r}")
    if config.get("stopBits", 1) not in (1, 2):
        raise ManifestError(f"{label}.stopBits must be 1 or 2, not {config.get('stopBits')!r}")
    _integer(config, "slaveID", label, 0, 255, required=True)


def _check_opcua(config: JsonObject, label: str) -> None:
    url = config.get("url")
    if not isinstance(url, str) or not url.startswith("opc.tcp://"):
        raise ManifestError(f"{label}.url must be an opc.tcp:// URL, not {url!r}")
    if bool(config.get("userName")) != bool(config.get("password")):
        raise ManifestError(f"{label}: userName and password go together")
    _integer(config, "timeout", label, 1, 3600)


def _check_bluetooth(config: JsonObject, label: str) -> None:
    if "macAddress" in config and not isinstance(config["macAddress"], str):
        raise ManifestError(f"{label}.macAddress must be a string")


_CHECK_PROTOCOL = {"modbus-tcp": _check_tcp, "modbus-rtu": _check_rtu, "opcua": _check_opcua, "bluetooth": _check_bluetooth}


def model_reference(spec: JsonObject, label: str) -> str:
    """``spec.deviceModelRef.name``; "" when the device names no model (ours: optional)."""
    ref = spec.get("deviceModelRef")
    if ref is None:
        return ""
    name = ref.get("name") if isinstance(ref, dict) else None
    if not isinstance(name, str) or not name:
        raise ManifestError(f"{label}: spec.deviceModelRef.name is missing")
    return name


# --- the device profile (docs/protocol.md#11.2) --------------------------------------------


@dataclass(frozen=True)
class ProfileDevice:
    """What the profile needs of one Device."""

    name: str
    model: str
    protocol: ProtocolSpec | None


def device_profile(devices: list[ProfileDevice], models: dict[str, ModelSpec]) -> JsonObject:
    """``deviceProfile.json`` of one node, in v1.0's format, built whole from what is there now.

    Fixes (docs/protocol.md#11.2): every device is listed once its model exists (and joins when
    the model is applied later, instead of being lost); model changes reach the profile; order
    is by name, not swap-with-last; protocol and visitor fields are copied as written, so a
    ``slaveID`` of 0 or an explicit ``scale`` stay; a visitor's protocol is ``modbus`` for RTU
    and TCP as in v1.0.
    """
    instances, protocols, used = [], [], []
    for device in sorted(devices, key=lambda d: d.name):
        if device.model not in models:
            continue
        kind = device.protocol.kind if device.protocol else ""
        instances.append(
            {"id": device.name, "name": device.name, "protocol": f"{kind}-{device.name}" if kind else "", "model": device.model}
        )
        protocols.append({"name": f"{kind}-{device.name}" if kind else "", "protocol": kind, "protocol_config": _copy(device.protocol)})
        if device.model not in used:
            used.append(device.model)
    profile: JsonObject = {}
    if instances:
        profile["deviceInstances"] = instances
        profile["deviceModels"] = [_profile_model(models[name]) for name in sorted(used)]
        profile["protocols"] = protocols
        visitors = [_profile_visitor(models[name], v) for name in sorted(used) for v in models[name].visitors]
        if visitors:
            profile["propertyVisitors"] = visitors
    return profile


def profile_text(profile: JsonObject) -> str:
    """The profile as the configmap holds it: stable text, so an unchanged profile is unchanged."""
    return json.dumps(profile, indent=2, sort_keys=True)


def profile_configmap(namespace: str, node: str, profile: JsonObject) -> JsonObject:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": profile_name(node), "namespace": namespace, "labels": {"kubeedge.io/device-profile": node}},
        "data": {PROFILE_KEY: profile_text(profile)},
    }


def _copy(protocol: ProtocolSpec | None) -> Json:
    return copy.deepcopy(protocol.config) if protocol is not None else None


def _profile_model(model: ModelSpec) -> JsonObject:
    properties = []
    for prop in model.properties:
        entry: JsonObject = {"name": prop.name, "dataType": prop.data_type, "accessMode": prop.access_mode}
        if prop.body.get("description"):
            entry["description"] = prop.body["description"]
        entry["defaultValue"] = prop.body.get("defaultValue", "" if prop.data_type == "string" else 0)
        for name in ("minimum", "maximum", "unit"):
            if name in prop.body:
                entry[name] = prop.body[name]
        properties.append(entry)
    return {"name": model.name, "properties": properties}


def _profile_visitor(model: ModelSpec, visitor: tuple[str, str, JsonObject]) -> JsonObject:
    name, protocol, config = visitor
    return {"name": name, "propertyName": name, "modelName": model.name, "protocol": protocol, "visitorConfig": copy.deepcopy(config)}


__all__ = [
    "PROFILE_KEY",
    "ModelProperty",
    "ModelSpec",
    "ProfileDevice",
    "ProtocolSpec",
    "device_profile",
    "model_reference",
    "parse_model",
    "parse_protocol",
    "profile_configmap",
    "profile_name",
    "profile_text",
]
