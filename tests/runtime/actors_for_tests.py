"""Small module actors the runtime tests drive."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, ClassVar

from kubeedge_actors import Message, MessageRejected, ModuleActor, Outcome, UnknownResourceError, handles


@dataclass(frozen=True)
class Tick:
    n: int


@dataclass(frozen=True)
class WorkDone:
    outcome: Outcome[int]


class EchoActor(ModuleActor):
    """Consumes: ``echo`` (replies with the content), ``bad`` (rejected), ``crash`` (raises).

    Produces: replies through ``send_resp``; everything it handled is in ``journal``.
    """

    module_name = "echo"
    module_group = "echo"
    journal: ClassVar[list[tuple[str, Any]]] = []
    lifecycle: ClassVar[list[str]] = []

    def on_start(self) -> None:
        self.lifecycle.append(f"start {self.module_name}")

    def on_stop(self) -> None:
        self.lifecycle.append(f"stop {self.module_name}")
        super().on_stop()

    def handle_message(self, message: Message) -> None:
        self.journal.append((self.module_name, message.content))
        if message.operation == "crash":
            raise RuntimeError("boom")
        if message.operation == "bad":
            raise UnknownResourceError(f"no resource {message.resource!r} here")
        if message.operation == "reject-plain":
            raise MessageRejected("plain rejection")
        if message.is_sync:
            self.module_router.send_resp(message.reply(message.content))

    @handles(Tick, WorkDone)
    def _record(self, event: Tick | WorkDone) -> None:
        self.journal.append((self.module_name, event))


class FailingStartActor(ModuleActor):
    module_name = "failing"
    module_group = "failing"
    starts: ClassVar[int] = 0

    def on_start(self) -> None:
        type(self).starts += 1
        raise RuntimeError("cannot open the database")


class SlowStopActor(ModuleActor):
    module_name = "slow"
    module_group = "slow"
    release: ClassVar[threading.Event] = threading.Event()

    def on_stop(self) -> None:
        self.release.wait(30)
        super().on_stop()
