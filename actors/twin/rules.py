"""Twin and attribute update rules (docs/protocol.md#5.5, docs/protocol.md#5.6): pure functions over immutable values.

A request is applied as a whole: every key is checked before anything changes, so a Rest
request with one bad twin changes nothing and gets one 400 (the original could half-apply).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import IntEnum

from actors.twin.model import (
    TYPE_DELETED,
    TYPE_STRING,
    VALUE_TYPES,
    Attr,
    AttrRequest,
    Twin,
    TwinRequest,
    TwinRequestError,
    Value,
    ValueRequest,
    Version,
    value_error,
)
from kubeedge_actors.errors import KubeEdgeActorsError

logger = logging.getLogger(__name__)


class Deal(IntEnum):
    """docs/protocol.md#5.5 deal types."""

    REST = 0  # an update from an MQTT app
    SYNC = 1  # cloud_updated, membership add and detail
    SYNC_DELETE = 3  # a sync carrying metadata.type "deleted"


class _Rejected(KubeEdgeActorsError):
    """A sync change the version rules refuse; the twin goes back to the cloud as it is."""


@dataclass
class TwinChanges:
    """What applying one request did.

    Attributes:
        twins: the device's twins afterwards (all of them).
        changed: name → (before, after); after is None when deleted.
        result: name → twin for ``twin/update/result`` (None when deleted).
        sync_result: name → twin (with versions) to send to the cloud as ``edge_updated``.
    """

    twins: dict[str, Twin]
    changed: dict[str, tuple[Twin | None, Twin | None]] = field(default_factory=dict)
    result: dict[str, Twin | None] = field(default_factory=dict)
    sync_result: dict[str, Twin] = field(default_factory=dict)


def deal_version(local: Version | None, requested: Version | None, deal: Deal) -> Version | None:
    """docs/protocol.md#5.5 ``dealVersion``: the version after the change.

    Raises:
        _Rejected: a sync whose version is missing (except sync-delete), older or conflicting.
    """
    if deal == Deal.REST:
        base = local or Version()
        return Version(base.cloud, base.edge + 1)
    if requested is None:
        if deal == Deal.SYNC_DELETE:
            return local
        raise _Rejected("version missing")
    if local is not None and local.cloud > requested.cloud:
        raise _Rejected("Version not allowed")
    if local is not None and local.edge > requested.edge:
        raise _Rejected("version conflict")
    return requested


def apply_twin_requests(
    twins: Mapping[str, Twin], requests: Mapping[str, TwinRequest | None], deal: Deal, now_ms: int, *, text_checked: bool = True
) -> TwinChanges:
    """Apply a request's twins to a device's twins.

    ``text_checked`` False takes values of any characters (membership: the original checks
    only their type there).

    Raises:
        TwinRequestError: (Rest only) a bad value or type, or a delete that is not allowed.
    """
    changes = TwinChanges(dict(twins))
    for name, request in requests.items():
        before = twins.get(name)
        if before is None:
            after = _add(name, request, deal, now_ms, text_checked=text_checked)
        elif _is_delete(request, deal):
            after = _delete(before, request, deal, changes)
        else:
            assert request is not None  # a null request on an existing twin is a delete
            after = _compare(before, request, deal, now_ms, changes, text_checked=text_checked)
        if after is None or after == before:
            continue
        changes.twins[name] = after
        changes.changed[name] = (before, None if after.deleted else after)
        changes.result[name] = None if after.deleted else after
        if deal == Deal.REST:
            changes.sync_result[name] = after
    return changes


def _is_delete(request: TwinRequest | None, deal: Deal) -> bool:
    if deal == Deal.REST:
        return request is None
    return request is not None and request.value_type == TYPE_DELETED


def _type_of(request: TwinRequest, deal: Deal, default: str) -> str | None:
    value_type = request.value_type or default
    if value_type in VALUE_TYPES:
        return value_type
    if deal == Deal.REST:
        raise TwinRequestError(f"type {value_type!r} is not one of string, int, float, boolean, deleted")
    return None


def _checked_value(name: str, side: str, request: ValueRequest, value_type: str, deal: Deal, *, text_checked: bool) -> str | _Skip | None:
    problem = value_error(request.value, value_type, text_checked=text_checked)
    if problem is None:
        return request.value
    if deal == Deal.REST:
        raise TwinRequestError(f"twin {name!r} {side}: {problem}")
    logger.warning("twin: sync of twin %s %s skipped: %s", name, side, problem)
    return _SKIP


class _Skip:
    pass


_SKIP = _Skip()


def _add(name: str, request: TwinRequest | None, deal: Deal, now_ms: int, *, text_checked: bool) -> Twin | None:
    if request is None:
        if deal == Deal.REST:
            raise TwinRequestError(f"twin {name!r} cannot be deleted: it does not exist")
        return None
    value_type = _type_of(request, deal, TYPE_STRING)
    if value_type is None:
        return None
    if value_type == TYPE_DELETED and deal != Deal.REST:
        # docs/protocol.md#5.5: a sync add of a deleted twin keeps the supplied versions.
        return Twin(name, expected_version=request.expected_version, actual_version=request.actual_version, attr_type=TYPE_DELETED)
    twin = Twin(name, optional=True if request.optional is None else request.optional, attr_type=value_type)
    try:
        for side in ("expected", "actual"):
            value_request: ValueRequest | None = getattr(request, side)
            if value_request is None:
                continue
            version = deal_version(Version(), getattr(request, f"{side}_version"), deal)
            value = _checked_value(name, side, value_request, value_type, deal, text_checked=text_checked)
            if isinstance(value, _Skip):
                return None  # docs/protocol.md#5.5: a sync add that fails validation is skipped
            twin = _with_value(twin, side, Value(value, now_ms), version)
    except _Rejected as rejected:
        logger.warning("twin: sync add of twin %s skipped: %s", name, rejected)
        return None
    return twin


def _delete(before: Twin, request: TwinRequest | None, deal: Deal, changes: TwinChanges) -> Twin | None:
    if deal == Deal.REST and not before.optional:
        raise TwinRequestError(f"twin {before.name!r} is not optional and cannot be deleted")
    expected_version, actual_version = before.expected_version, before.actual_version
    try:
        # docs/protocol.md#5.5: only versions that already exist are touched.
        kind = Deal.REST if deal == Deal.REST else Deal.SYNC_DELETE
        if expected_version is not None:
            expected_version = deal_version(expected_version, request.expected_version if request else None, kind)
        if actual_version is not None:
            actual_version = deal_version(actual_version, request.actual_version if request else None, kind)
    except _Rejected as rejected:
        logger.info("twin: cloud delete of twin %s refused (%s); sending the edge's twin back", before.name, rejected)
        changes.sync_result[before.name] = before
        return None
    return replace(
        before, expected=None, actual=None, expected_version=expected_version, actual_version=actual_version, attr_type=TYPE_DELETED
    )


def _compare(before: Twin, request: TwinRequest, deal: Deal, now_ms: int, changes: TwinChanges, *, text_checked: bool) -> Twin | None:
    # A deleted twin takes the request's type; one without metadata becomes a string again.
    value_type = _type_of(request, deal, TYPE_STRING) if before.deleted else before.attr_type
    if value_type is None:
        return None
    after = before if value_type == before.attr_type else replace(before, attr_type=value_type)
    rejected = False
    for side in ("expected", "actual"):
        value_request: ValueRequest | None = getattr(request, side)
        if value_request is None:
            continue
        try:
            version = deal_version(getattr(before, f"{side}_version"), getattr(request, f"{side}_version"), deal)
        except _Rejected as why:
            logger.info("twin: cloud change of twin %s %s refused (%s); sending the edge's twin back", before.name, side, why)
            rejected = True
            if side == "actual":
                break  # docs/protocol.md#5.5: once actual is rejected, optional and metadata are skipped too
            continue
        value = _checked_value(before.name, side, value_request, value_type, deal, text_checked=text_checked)
        if not isinstance(value, _Skip):
            after = _with_value(after, side, Value(value, now_ms), version)
    else:
        if request.optional is False and after.optional:
            after = replace(after, optional=False)  # docs/protocol.md#5.5: optional only goes true → false
    if rejected:
        changes.sync_result[before.name] = after
    return after


def _with_value(twin: Twin, side: str, value: Value, version: Version | None) -> Twin:
    if side == "expected":
        return replace(twin, expected=value, expected_version=version)
    return replace(twin, actual=value, actual_version=version)


def compute_delta(twins: Mapping[str, Twin]) -> dict[str, str]:
    """docs/protocol.md#5.5 step 4: name → expected value, for twins whose actual value lags."""
    delta = {}
    for name, twin in twins.items():
        if twin.deleted or twin.expected is None or not twin.expected.value:
            continue  # v1.0.0: an empty expected value never contributes
        actual = twin.actual.value if twin.actual is not None else None
        if actual is None or actual != twin.expected.value:
            delta[name] = twin.expected.value
    return delta


def apply_attr_requests(
    attributes: Mapping[str, Attr], requests: Mapping[str, AttrRequest | None], *, detail: bool
) -> tuple[dict[str, Attr], dict[str, Attr | None]]:
    """docs/protocol.md#5.6 attribute update: the attributes afterwards and name → changed (None: deleted).

    ``detail`` (membership) deletes every attribute the request does not list.
    """
    after = dict(attributes)
    changed: dict[str, Attr | None] = {}
    for name, request in requests.items():
        before = attributes.get(name)
        if request is None:
            if before is not None and before.optional:
                del after[name]
                changed[name] = None
            continue
        attr = before or Attr(name, optional=True if request.optional is None else request.optional)
        if request.value is not None:
            attr = replace(attr, value=request.value)
        if request.optional is False:
            attr = replace(attr, optional=False)  # only ever true → false
        if request.value_type:
            attr = replace(attr, attr_type=request.value_type)
        if attr != before:
            after[name] = attr
            changed[name] = attr
    if detail:
        for name in attributes:
            if name not in requests:
                del after[name]
                changed[name] = None
    return after, changed


__all__ = ["Deal", "TwinChanges", "apply_attr_requests", "apply_twin_requests", "compute_delta", "deal_version"]
