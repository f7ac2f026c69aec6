"""Device manifests (``devices.kubeedge.io/v1alpha1``, kind ``Device``) and the twin shapes
the cloud sends for them (docs/protocol.md#5.4, filled as the v1.0.0 device controller does, docs/protocol.md#9.3).

Pure functions: no I/O, no state.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import NotRequired, TypedDict

from kubeedge_actors.message import Content, Json, JsonObject, new_message_id, now_ms
from kubeedge_cloud.devicemodels import ProtocolSpec, model_reference, parse_protocol
from kubeedge_cloud.errors import DeviceStateError, ManifestError
from kubeedge_cloud.manifests import DEVICE_API_GROUP, Manifest, object_key

TWIN_TYPES = ("string", "int", "float", "boolean")


# --- the twin shapes the cloud sends (docs/protocol.md#5.4) -------------------------------------


class TwinVersion(TypedDict):
    cloud: int
    edge: int


class ValueMetadata(TypedDict):
    timestamp: int


class TwinValue(TypedDict):
    value: str
    metadata: ValueMetadata


class TypeMetadata(TypedDict):
    type: str  # one of TWIN_TYPES, or "deleted"


class CloudTwin(TypedDict):
    """One property of a cloud message's ``twin`` map; a deleted one has only these two keys."""

    metadata: TypeMetadata
    expected_version: TwinVersion
    expected: NotRequired[TwinValue]
    optional: NotRequired[bool]


class EdgeDevice(TypedDict):
    """A Device as a membership message carries it (empty keys left out)."""

    id: str
    name: str
    twin: NotRequired[dict[str, CloudTwin]]


class MembershipContent(TypedDict):
    event_id: str
    timestamp: int
    added_devices: list[EdgeDevice]
    removed_devices: list[EdgeDevice]


class CloudUpdatedContent(TypedDict):
    event_id: str
    timestamp: int
    twin: dict[str, CloudTwin]


class ShownMetadata(TypedDict):
    timestamp: Json  # the edge's, unchecked: shown as it came
    type: str


class ShownValue(TypedDict):
    """A reported value as ``status.twins[].reported`` shows it (docs/protocol.md#5.7)."""

    value: str
    metadata: ShownMetadata


@dataclass(frozen=True)
class DesiredTwin:
    name: str
    value: str
    type: str


@dataclass(frozen=True)
class DeviceSpec:
    """What the cloud needs of one Device object."""

    namespace: str
    name: str
    node: str
    twins: tuple[DesiredTwin, ...]
    model: str = ""  # spec.deviceModelRef.name ("" when none: the device is in no profile)
    protocol: ProtocolSpec | None = None


def parse_device(manifest: Json, node: str | None, where: str = "object", *, default_node: str | None = None) -> DeviceSpec:
    """Check a Device manifest and read its node and desired twins.

    The node is ``spec.nodeSelector``'s first value (as the v1.0.0 controller reads it), else
    ``node`` (``--node``), else ``default_node`` (where the device already is); with none of
    them it is an error (v1.0 crashed, docs/protocol.md#11.2). ``spec.protocol`` and
    ``spec.deviceModelRef`` are checked (docs/protocol.md#11.1). Each
    ``status.twins[]`` entry needs a ``propertyName`` and a string ``desired.value``;
    ``desired.metadata.type`` defaults to ``string``.

    Raises:
        ManifestError: naming the object and the field.
    """
    key = object_key(manifest, where)
    label = f"device/{key.name} in namespace {key.namespace}"
    api_version = str(manifest.get("apiVersion", ""))
    if not api_version.startswith(DEVICE_API_GROUP + "/"):
        raise ManifestError(f"{label}: apiVersion must be {DEVICE_API_GROUP}/v1alpha1, not {api_version!r}")
    spec = manifest.get("spec") or {}
    if not isinstance(spec, dict):
        raise ManifestError(f"{label}: spec must be an object")
    model, protocol = model_reference(spec, label), parse_protocol(spec, label)
    selected = _selected_node(spec)
    if node and selected and node != selected:
        raise ManifestError(f"{label}: spec.nodeSelector names {selected!r} but --node says {node!r}")
    chosen = selected or node or default_node
    if not chosen:
        raise ManifestError(f"{label}: spec.nodeSelector names no node (or give one with --node)")
    twins = tuple(_desired_twin(entry, f"{label}: status.twins[{index}]") for index, entry in enumerate(_twin_entries(manifest, label)))
    names = [twin.name for twin in twins]
    if len(set(names)) != len(names):
        raise ManifestError(f"{label}: a twin property is listed twice")
    return DeviceSpec(key.namespace, key.name, chosen, twins, model, protocol)


def with_node_selector(manifest: Manifest, spec: DeviceSpec) -> Manifest:
    """A copy with its namespace set and, when it names no node, a nodeSelector for ``spec.node``
    (the form KubeEdge's examples use), so the stored object says where the device is."""
    shown = copy.deepcopy(manifest)
    shown["metadata"]["namespace"] = spec.namespace
    if not _selected_node(shown.get("spec") or {}):
        expression = {"key": "", "operator": "In", "values": [spec.node]}
        shown.setdefault("spec", {})["nodeSelector"] = {"nodeSelectorTerms": [{"matchExpressions": [expression]}]}
    return shown


def _selected_node(spec: JsonObject) -> str:
    terms = (spec.get("nodeSelector") or {}).get("nodeSelectorTerms") or []
    for term in terms if isinstance(terms, list) else []:
        for expression in (term or {}).get("matchExpressions") or []:
            values = (expression or {}).get("values") or []
            if isinstance(values, list) and values and isinstance(values[0], str):
                return values[0]
    return ""


def _twin_entries(manifest: Manifest, label: str) -> list[Json]:
    twins = (manifest.get("status") or {}).get("twins") or []
    if not isinstance(twins, list):
        raise ManifestError(f"{label}: status.twins must be a list")
    return twins


def _desired_twin(entry: Json, label: str) -> DesiredTwin:
    if not isinstance(entry, dict) or not isinstance(entry.get("propertyName"), str) or not entry["propertyName"]:
        raise ManifestError(f"{label}: propertyName is missing")
    desired = entry.get("desired") or {}
    value = desired.get("value", "")
    if not isinstance(value, str):
        raise ManifestError(f"{label}.desired.value must be a string (quote it), not {value!r}")
    kind = (desired.get("metadata") or {}).get("type") or "string"
    if kind not in TWIN_TYPES:
        raise ManifestError(f"{label}.desired.metadata.type must be one of {', '.join(TWIN_TYPES)}, not {kind!r}")
    return DesiredTwin(entry["propertyName"], value, kind)


def twin_map(spec: DeviceSpec, version: int, removed: tuple[str, ...] = ()) -> dict[str, CloudTwin]:
    """The ``twin`` map of a cloud message: expected values with ``{"cloud": version, "edge": 0}``
    (docs/protocol.md#5.4); twins no longer wanted are sent with type ``deleted``."""
    twins: dict[str, CloudTwin] = {
        twin.name: {
            "expected": {"value": twin.value, "metadata": {"timestamp": now_ms()}},
            "optional": False,
            "metadata": {"type": twin.type},
            "expected_version": {"cloud": version, "edge": 0},
        }
        for twin in spec.twins
    }
    for name in removed:
        twins[name] = {"metadata": {"type": "deleted"}, "expected_version": {"cloud": version, "edge": 0}}
    return twins


def edge_device(spec: DeviceSpec, version: int | None = None) -> EdgeDevice:
    """A Device of docs/protocol.md#5.4 (id = name = the object's name, empty keys left out); with a
    ``version``, its twins too."""
    device: EdgeDevice = {"id": spec.name, "name": spec.name}
    if version is not None and spec.twins:
        device["twin"] = twin_map(spec, version)
    return device


def membership_content(added: list[EdgeDevice], removed: list[EdgeDevice]) -> MembershipContent:
    return {"event_id": new_message_id(), "timestamp": now_ms(), "added_devices": added, "removed_devices": removed}


def cloud_updated_content(spec: DeviceSpec, version: int, removed: tuple[str, ...] = ()) -> CloudUpdatedContent:
    return {"event_id": new_message_id(), "timestamp": now_ms(), "twin": twin_map(spec, version, removed)}


@dataclass(frozen=True)
class ReportedTwin:
    """One property of an ``edge_updated`` report.

    Attributes:
        shown: ``{"value", "metadata": {"timestamp", "type"}}``, as v1.0.0 writes
            ``status.twins[].reported`` (docs/protocol.md#5.7).
        version: its ``actual_version`` as ``(cloud, edge)`` (docs/protocol.md#5.4), None when absent; the
            edge counter grows with each change the edge makes (docs/protocol.md#5.5).
    """

    shown: ShownValue
    version: tuple[int, int] | None

    @property
    def timestamp_ms(self) -> int | None:
        return _timestamp_of(self.shown)


def reported_from_edge(content: Content) -> dict[str, ReportedTwin]:
    """The properties of an ``edge_updated`` content that carry an actual value (the others are
    skipped, as v1.0.0 skips them)."""
    twins = content.get("twin") if isinstance(content, dict) else None
    reported: dict[str, ReportedTwin] = {}
    for name, twin in (twins or {}).items() if isinstance(twins, dict) else ():
        actual = (twin or {}).get("actual") if isinstance(twin, dict) else None
        if not isinstance(actual, dict) or actual.get("value") is None:
            continue
        timestamp = (actual.get("metadata") or {}).get("timestamp")
        kind = ((twin.get("metadata") or {}).get("type")) or "string"
        shown: ShownValue = {"value": str(actual["value"]), "metadata": {"timestamp": timestamp, "type": kind}}
        reported[str(name)] = ReportedTwin(shown, parse_version(twin.get("actual_version")))
    return reported


def parse_version(version: Json) -> tuple[int, int] | None:
    """``{"cloud": int, "edge": int}`` → ``(cloud, edge)``; None when it is not that shape."""
    if not isinstance(version, dict):
        return None
    cloud, edge = version.get("cloud"), version.get("edge")
    if type(cloud) is not int or type(edge) is not int:
        return None
    return cloud, edge


def newer_reports(
    reports: dict[str, ReportedTwin], shown: dict[str, ShownValue], versions: dict[str, tuple[int, int]]
) -> dict[str, ReportedTwin]:
    """The reports newer than what the cloud shows (``shown``, with the ``versions`` they came with).

    The twin resends a report that a breaking link may have lost, with its id, after the
    reconnect; by then a newer one can have arrived, so arrival order is not the edge's order.
    A report is newer when its ``actual_version`` is ahead of the stored one (neither number
    lower); the same version is the same change again (a resend), never applied twice. Versions
    that cannot be compared that way (none stored or sent, or the edge counting from 1 again: a
    reinstalled edge, a device re-created or moved there) leave it to the edge's clock, the
    actual value's timestamp. A report with neither cannot be ordered and is applied.
    """
    return {name: report for name, report in reports.items() if _is_newer(report, shown.get(name), versions.get(name))}


def _is_newer(report: ReportedTwin, shown: ShownValue | None, version: tuple[int, int] | None) -> bool:
    if shown is None:
        return True
    if report.version is not None and version is not None:
        if report.version == version:
            return False
        if report.version[0] >= version[0] and report.version[1] >= version[1]:
            return True
    timestamp = report.timestamp_ms
    if timestamp is None:
        return report.version is None or version is None
    return timestamp > (_timestamp_of(shown) or 0)


def _timestamp_of(shown: ShownValue) -> int | None:
    # Defensive: a value stored by another release may lack its metadata.
    timestamp = (shown.get("metadata") or {}).get("timestamp")
    return timestamp if type(timestamp) is int else None


@dataclass(frozen=True)
class DeviceState:
    """What a ``device/<id>/state`` message says (docs/protocol.md#5.4: the state-result JSON as a string)."""

    state: str
    last_online: str
    timestamp_ms: int | None


def state_from_edge(content: Content) -> DeviceState:
    """Read a state message's content.

    Raises:
        DeviceStateError: it is not the JSON text of an object with a ``device`` object.
    """
    try:
        document = json.loads(content)
    except (TypeError, ValueError) as exc:
        raise DeviceStateError("the state is not JSON text") from exc
    device = document.get("device") if isinstance(document, dict) else None
    if not isinstance(device, dict):
        raise DeviceStateError("the state has no device object")
    timestamp = document.get("timestamp")
    return DeviceState(str(device.get("state", "")), str(device.get("last_online", "")), timestamp if type(timestamp) is int else None)


def with_reported(manifest: Manifest, reported: dict[str, ShownValue]) -> Manifest:
    """The manifest with ``status.twins[].reported`` filled in (what ``ctl get devices -o json``
    shows); a property the device reports that has no desired value gets an entry of its own."""
    shown = copy.deepcopy(manifest)
    if not reported:
        return shown
    status = shown["status"] = shown.get("status") or {}
    twins = status["twins"] = status.get("twins") or []
    listed = set()
    for twin in twins:
        if isinstance(twin, dict) and twin.get("propertyName") in reported:
            twin["reported"] = reported[twin["propertyName"]]
            listed.add(twin["propertyName"])
    twins.extend({"propertyName": name, "reported": value} for name, value in sorted(reported.items()) if name not in listed)
    return shown


__all__ = [
    "CloudTwin",
    "CloudUpdatedContent",
    "DesiredTwin",
    "DeviceSpec",
    "DeviceState",
    "EdgeDevice",
    "MembershipContent",
    "ReportedTwin",
    "ShownValue",
    "cloud_updated_content",
    "edge_device",
    "membership_content",
    "newer_reports",
    "parse_device",
    "parse_version",
    "reported_from_edge",
    "state_from_edge",
    "twin_map",
    "with_node_selector",
    "with_reported",
]
