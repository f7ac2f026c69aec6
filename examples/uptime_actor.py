"""A module of your own beside the built-in ones: it reports the site's uptime.

Consumes:
    ``query`` on ``<ns>/uptime`` (sync): replied with ``{"uptime_s": <seconds>}``.
Produces:
    every ``interval_s`` seconds, a ``publish`` to the ``eventbus`` module for the MQTT topic
    ``site/uptime`` (the bus publishes it on the local broker).

Run it inside the edge core with ``python examples/embed_uptime.py``; its tests are in
``examples/test_uptime_actor.py``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from actors.protocol import Group, Module, Operation
from kubeedge_actors import Config, Message, ModuleActor, Router, UnknownResourceError, handles


@dataclass(frozen=True)
class ReportUptime:
    """Timer tick: time to publish the uptime."""


class UptimeActor(ModuleActor):
    module_name = "uptime"
    module_group = Group.USER

    def __init__(self, router: Router, config: Config | None = None, *, interval_s: float = 60.0, **kwargs: Any) -> None:
        super().__init__(router, config, **kwargs)  # no I/O here: this runs on the caller's thread
        self.interval_s = interval_s
        self.started_at = 0.0

    def on_start(self) -> None:
        self.started_at = time.monotonic()
        self.module_tell_every(self.interval_s, ReportUptime())

    def handle_message(self, message: Message) -> None:
        if message.operation != Operation.QUERY or not message.resource.endswith("/uptime"):
            raise UnknownResourceError(f"uptime: cannot {message.operation} {message.resource!r}")
        self.module_router.send_resp(message.reply({"uptime_s": round(self.uptime_s(), 3)}))

    @handles(ReportUptime)
    def _report_uptime(self, _: ReportUptime) -> None:
        report = Message.new(
            source=self.module_name,
            group=Group.BUS,
            operation=Operation.PUBLISH,
            resource="site/uptime",
            content=f"{self.uptime_s():.0f}",
        )
        self.module_router.send(Module.BUS, report)

    def uptime_s(self) -> float:
        return time.monotonic() - self.started_at
