"""An edged actor object driven on the test's thread, with a fake Docker, and meta's answers to
its configmap and secret queries given at once from fake objects."""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from actors.edged import EdgedActor, EdgedTimings
from actors.edged.gc import PulledImages
from actors.keys import edge_defaults
from actors.protocol import Module
from actors.testing import cloud_message
from kubeedge_actors.message import Message
from kubeedge_actors.scheduler import Scheduler
from kubeedge_actors.testing import ActorHarness, RecordingRouter
from tests.edged.builders import as_meta_answer
from tests.edged.fakes import FakeObjects, FakeRuntime, InlineProber

BUSYBOX = "kubeedge-actors/busybox:test"
EPOCH = 1_800_000_000.0


class ObjectAnsweringRouter(RecordingRouter):
    """The recording router, answering queries for configmaps and secrets as meta does
    (docs/architecture.md#4.3), from ``objects``; everything else waits for the test."""

    def __init__(self, objects: FakeObjects, scheduler: Scheduler) -> None:
        super().__init__(scheduler)
        self.objects = objects
        self.answering = True  # False: the queries wait for the test (reply_to, fail)

    def send_sync(self, module: str, message: Message, timeout_s: float | None = None) -> Future[Message]:
        future = super().send_sync(module, message, timeout_s)
        if self.answering and is_object_query(module, message):
            self.reply_to(message, self.objects.answer(message.resource))
        return future


def is_object_query(module: str, message: Message) -> bool:
    return module == Module.META and message.operation == "query" and message.resource.split("/")[1:2] in (["configmap"], ["secret"])


class Edge:
    """edged with a fake runtime; its clock is the harness's manual clock."""

    def __init__(self, tmp_path: Path, runtime: FakeRuntime | None = None, **config: Any) -> None:
        self.tmp_path = tmp_path
        self.disk_percent = 10.0
        values = {"edgehub.controller.node-id": "node-a", "edged.root-directory": str(tmp_path / "edged"), "edged.server-port": 0}
        values.update(config)
        self.runtime = runtime or FakeRuntime(self.clock)
        self.runtime.images.add(BUSYBOX)
        self.objects = FakeObjects()
        self.harness: ActorHarness[EdgedActor] = ActorHarness(
            EdgedActor,
            edge_defaults().with_values(values),
            runtime=self.runtime,
            pulled_images=PulledImages(tmp_path / "images.json", self.clock),
            timings=EdgedTimings(),
            clock=self.clock,
            disk_usage=lambda: self.disk_percent,
            prober=InlineProber(self.runtime),
        )
        # meta's answers come from the router: the harness's own is swapped before the start.
        self.router = ObjectAnsweringRouter(self.objects, self.harness.scheduler)
        self.harness.router = self.harness.actor.module_router = self.router
        self.root = tmp_path / "edged"

    @property
    def actor(self) -> EdgedActor:
        return self.harness.actor

    def clock(self) -> float:
        return EPOCH + self.harness.scheduler.now_s if hasattr(self, "harness") else EPOCH

    def start(self, *pods: dict[str, Any]) -> None:
        """Start; Docker's events open, meta answers the pod query with ``pods``."""
        self.harness.start()
        self.runtime.open_events()
        self.harness.run_pending()
        [query] = [s.message for s in self.harness.router.sent if s.kind == "sync" and s.message.resource.endswith("/pod")]
        self.harness.router.reply_to(query, as_meta_answer(*pods))
        self.harness.run_pending()

    def restarted(self) -> Edge:
        """A new edged on the same Docker and folders, as after a process restart (not started)."""
        self.harness.stop()
        second = Edge(self.tmp_path, self.runtime)
        self.runtime.clock = second.clock
        second.harness.scheduler.now_s = self.harness.scheduler.now_s
        return second

    def watches_opened(self) -> list[object]:
        return list(self.runtime.watches)

    def deliver(self, operation: str, pod: dict[str, Any], kind: str = "pod") -> None:
        meta = pod["metadata"]
        self.harness.deliver(cloud_message(operation, f"{meta.get('namespace', 'default')}/{kind}/{meta['name']}", pod))

    def advance(self, seconds: float) -> None:
        self.harness.advance(seconds)

    def exit_running(self, exit_code: int) -> None:
        """The first running container exits with ``exit_code``; edged hears of it."""
        self.runtime.exit(self.runtime.running()[0].id, exit_code)
        self.harness.run_pending()

    def object_queries(self) -> list[Message]:
        return [s.message for s in self.harness.router.sent if s.kind == "sync" and is_object_query(s.destination, s.message)]

    def sent_to_meta(self, resource_part: str) -> list[Message]:
        return [s.message for s in self.harness.router.sent if s.destination == Module.META and resource_part in s.message.resource]

    def statuses(self, name: str = "web") -> list[dict[str, Any]]:
        return [m.content["Status"] for m in self.sent_to_meta(f"/podstatus/{name}")]

    def status(self, name: str = "web") -> dict[str, Any]:
        return self.statuses(name)[-1]

    def container_state(self, name: str = "web", index: int = 0) -> dict[str, Any]:
        return self.status(name)["containerStatuses"][index]["state"]

    def waiting_reason(self, name: str = "web") -> str:
        return self.container_state(name).get("waiting", {}).get("reason", "")


@pytest.fixture
def edge(tmp_path: Path) -> Edge:
    return Edge(tmp_path)
