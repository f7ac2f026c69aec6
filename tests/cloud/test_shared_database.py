"""Tier 1: the controller's and the device controller's stores share one SQLite file."""

from __future__ import annotations

import threading
from pathlib import Path

from kubeedge_cloud.devicestore import DeviceStore
from kubeedge_cloud.store import CloudStore


def test_a_transaction_that_reads_then_writes_is_not_failed_by_the_other_stores_write(tmp_path: Path) -> None:
    path = tmp_path / "cloud.db"
    devices = DeviceStore(path)
    devices.open()
    CloudStore(path).open()  # both schemas exist before the race
    errors: list[BaseException] = []

    def other_controller_writes() -> None:  # on its own thread, as the other actor
        store = CloudStore(path)
        try:
            store.open()
            store.set_connected("edge-1", True)
        except BaseException as error:
            errors.append(error)
        finally:
            store.close()

    other = threading.Thread(target=other_controller_writes)
    with devices.transaction():
        devices.get("default", "thermometer")  # a read first: the transaction has a snapshot
        other.start()
        other.join(0.5)  # its write waits for this transaction (or, wrongly, commits in between)
        version = devices.next_version()  # then a write
    other.join(15)

    assert version == 1
    assert errors == [] and not other.is_alive()
    devices.close()
