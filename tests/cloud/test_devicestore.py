"""Tier 1: the device controller's SQLite file across releases (devicestore.py)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from kubeedge_cloud.devices import ReportedTwin
from kubeedge_cloud.devicestore import DeviceStore

# cloud_device as the first release created it (before the report versions and state timestamps).
FIRST_RELEASE_TABLE = """
CREATE TABLE "cloud_device" (
    "id" INTEGER NOT NULL PRIMARY KEY, "namespace" VARCHAR(255) NOT NULL, "name" VARCHAR(255) NOT NULL,
    "node" VARCHAR(255) NOT NULL, "version" INTEGER NOT NULL, "body" TEXT NOT NULL, "reported" TEXT NOT NULL,
    "state" VARCHAR(255) NOT NULL, "last_online" VARCHAR(255) NOT NULL, "updated_at" REAL NOT NULL)
"""


def test_a_database_of_the_first_release_keeps_its_devices_and_orders_reports_from_then_on(tmp_path: Path) -> None:
    path = tmp_path / "cloud.db"
    reported = {"temperature": {"value": "24", "metadata": {"timestamp": 100, "type": "string"}}}
    with sqlite3.connect(path) as connection:
        connection.execute(FIRST_RELEASE_TABLE)
        connection.execute(
            "INSERT INTO cloud_device VALUES (1, 'default', 'thermometer', 'edge-1', 3, '{}', ?, 'online', '', 0)", [json.dumps(reported)]
        )
    store = DeviceStore(path)

    store.open()
    try:
        before = store.on_node("edge-1", "thermometer")
        newer = ReportedTwin({"value": "25", "metadata": {"timestamp": 200, "type": "string"}}, (0, 4))
        store.set_reported("default", "thermometer", {"temperature": newer})
        after = store.on_node("edge-1", "thermometer")
    finally:
        store.close()

    assert before is not None and (before.reported, before.reported_versions, before.state, before.state_timestamp_ms) == (
        reported,
        {},
        "online",
        0,
    )
    assert after is not None and after.reported_versions == {"temperature": (0, 4)} and after.reported["temperature"]["value"] == "25"
