"""Tier 1: which reported twin values are newer than the ones the cloud shows (devices.py)."""

from __future__ import annotations

from typing import Any

import pytest

from kubeedge_cloud.devices import ReportedTwin, newer_reports, reported_from_edge


def shown(value: str, timestamp_ms: int | None) -> dict[str, Any]:
    return {"value": value, "metadata": {"timestamp": timestamp_ms, "type": "string"}}


@pytest.mark.parametrize(
    ("stored_version", "stored_timestamp", "version", "timestamp", "newer"),
    [
        (None, None, (0, 1), 1, True),
        ((0, 7), 7, (0, 8), 8, True),
        ((0, 7), 7, (0, 8), 3, True),
        ((3, 2), 7, (4, 2), 8, True),
        ((0, 8), 8, (0, 8), 8, False),
        ((0, 8), 8, (0, 7), 7, False),
        ((0, 57), 100, (0, 1), 900, True),
        ((0, 8), 8, (0, 7), None, False),
        (None, 7, None, 8, True),
        (None, 8, None, 8, False),
        (None, 8, None, None, True),
        (None, 8, (0, 3), 7, False),
    ],
    ids=[
        "nothing-shown-yet",
        "higher-edge-version",
        "higher-version-wins-over-a-clock-stepped-back",
        "higher-cloud-version",
        "same-version-is-a-resend",
        "lower-version-and-earlier",
        "counting-from-one-again-but-later",
        "lower-version-without-timestamp",
        "no-versions-later",
        "no-versions-same-timestamp",
        "neither-version-nor-timestamp-cannot-be-ordered",
        "first-version-after-an-unversioned-one-but-earlier",
    ],
)
def test_a_reported_value_is_newer_by_its_version_else_by_its_timestamp(
    stored_version: tuple[int, int] | None,
    stored_timestamp: int | None,
    version: tuple[int, int] | None,
    timestamp: int | None,
    newer: bool,
) -> None:
    report = ReportedTwin(shown("new", timestamp), version)
    stored = {} if stored_version is None and stored_timestamp is None else {"t": shown("old", stored_timestamp)}
    versions = {"t": stored_version} if stored_version is not None else {}

    result = newer_reports({"t": report}, stored, versions)

    assert (result == {"t": report}) is newer


def test_a_report_is_read_with_its_actual_version_and_a_malformed_version_is_left_out() -> None:
    twin = {
        "good": {"actual": {"value": "1", "metadata": {"timestamp": 5}}, "actual_version": {"cloud": 2, "edge": 3}},
        "bad": {"actual": {"value": "2", "metadata": {"timestamp": 6}}, "actual_version": {"cloud": "2", "edge": 3}},
        "none": {"expected": {"value": "3"}},
    }

    reported = reported_from_edge({"event_id": "e", "timestamp": 1, "twin": twin})

    assert reported == {
        "good": ReportedTwin(shown("1", 5), (2, 3)),
        "bad": ReportedTwin(shown("2", 6), None),
    }
