"""The child of test_meta_crash: a started meta actor fed a burst of cloud writes.

``python -m tests.integration.meta_burst DB [JOURNAL_MODE]`` starts meta on DB (in
``database.journal-mode`` JOURNAL_MODE, default ``wal``) with stand-ins for the hub and
edged in a real router, prints ``ready``, then sends through the router, for pod after pod
``p<i>``: an insert, an update for every third, a delete for every fifth — without end, keeping
up to :data:`IN_FLIGHT` writes unacknowledged, so meta is always in the middle of a burst when
the parent kills it. The hub stand-in prints ``ack <key>`` for every "OK" it gets (meta sends
an ack only after its commit): what the parent read is exactly what was acknowledged.
"""

from __future__ import annotations

import itertools
import sys
import threading
from typing import Any

from actors.keys import edge_defaults
from actors.meta import MetaActor
from actors.protocol import Group, Module
from actors.testing import cloud_message
from kubeedge_actors import Message, ModuleActor, Router

IN_FLIGHT = 5_000


def pod_version(index: int, version: int) -> dict[str, Any]:
    name = f"p{index}"
    return {
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{index}", "resourceVersion": str(version)},
        "spec": {"containers": [{"name": "main", "image": "busybox", "args": ["sleep", str(index)]}]},
    }


def operations(index: int) -> list[tuple[str, dict[str, Any]]]:
    """The writes sent for pod ``p<index>``, in order."""
    ops = [("insert", pod_version(index, 1))]
    if index % 3 == 0:
        ops.append(("update", pod_version(index, 2)))
    if index % 5 == 0:
        ops.append(("delete", pod_version(index, 2)))
    return ops


class AckPrinter(ModuleActor):
    module_name = Module.HUB
    module_group = Group.HUB
    acked = 0
    condition = threading.Condition()

    def handle_message(self, message: Message) -> None:
        if message.operation == "response" and message.content == "OK":
            sys.stdout.write(f"ack {message.resource}\n")
            sys.stdout.flush()
            with self.condition:
                AckPrinter.acked += 1
                self.condition.notify()


class Sink(ModuleActor):
    module_name = Module.EDGED
    module_group = Group.EDGED

    def handle_message(self, message: Message) -> None:
        pass


def main(db_path: str, journal_mode: str = "wal") -> None:
    router = Router()
    router.register(Module.HUB, Group.HUB, AckPrinter.start(router))
    router.register(Module.EDGED, Group.EDGED, Sink.start(router))
    config = edge_defaults().with_values({"database.source": db_path, "database.journal-mode": journal_mode})
    router.register(Module.META, Group.META, MetaActor.start(router, config))
    print("ready", flush=True)
    sent = 0
    for index in itertools.count():
        for operation, content in operations(index):
            router.send(Module.META, cloud_message(operation, f"default/pod/p{index}", content))
            sent += 1
        with AckPrinter.condition:
            while sent - AckPrinter.acked >= IN_FLIGHT:
                AckPrinter.condition.wait()


if __name__ == "__main__":
    main(*sys.argv[1:3])
