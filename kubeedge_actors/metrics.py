"""A Prometheus endpoint for a running :class:`~kubeedge_actors.runtime.Runtime` (off by default).

Figures are gathered at scrape time: the router's dead letters and held messages, each
module's mailbox depth and restarts, and whatever each module reports from
:meth:`~kubeedge_actors.actor.ModuleActor.module_metrics`, asked on the module's own thread.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pykka
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from kubeedge_actors.actor import _MetricsRequest

if TYPE_CHECKING:
    from kubeedge_actors.runtime import Runtime

logger = logging.getLogger(__name__)

SCRAPE_ASK_TIMEOUT_S = 1.0
_NAME_OK = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class RuntimeCollector(Collector):
    """Reads a runtime's figures on every scrape."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def collect(self) -> Iterator[Any]:
        runtime = self._runtime
        router = runtime.router
        up = GaugeMetricFamily("kubeedge_module_up", "1 while the module's actor runs", labels=["module"])
        depth = GaugeMetricFamily("kubeedge_mailbox_depth", "messages waiting in the module's mailbox", labels=["module"])
        held = GaugeMetricFamily("kubeedge_held_messages", "messages held while the module restarts", labels=["module"])
        restarts = CounterMetricFamily("kubeedge_module_restarts", "restarts after a crash", labels=["module"])
        reported: dict[str, Any] = {}
        for name in runtime.running_modules():
            ref = runtime.actor_ref(name)
            alive = ref is not None and ref.is_alive()
            up.add_metric([name], 1.0 if alive else 0.0)
            depth.add_metric([name], float(ref.actor_inbox.qsize()) if ref is not None else 0.0)  # type: ignore[attr-defined]
            held.add_metric([name], float(router.held_count(name)))
            restarts.add_metric([name], float(runtime.restart_count(name)))
            if alive and ref is not None:
                self._add_reported(reported, name, ref)
        dead = CounterMetricFamily("kubeedge_dead_letters", "messages that reached no module", labels=["destination"])
        for destination, count in router.dead_letters().items():
            dead.add_metric([destination], float(count))
        pending = GaugeMetricFamily("kubeedge_pending_sync_requests", "send_sync requests waiting for a reply")
        pending.add_metric([], float(router.pending_sync_count()))
        yield from (up, depth, held, restarts, dead, pending, *reported.values())

    @staticmethod
    def _add_reported(families: dict[str, Any], module: str, ref: pykka.ActorRef[Any]) -> None:
        try:
            figures = ref.ask(_MetricsRequest(), block=True, timeout=SCRAPE_ASK_TIMEOUT_S)
        except (pykka.ActorDeadError, pykka.Timeout):
            return
        for key, value in figures.items():
            if not _NAME_OK.match(key):
                logger.debug("metrics: %s reported an unusable name %r", module, key)
                continue
            if key not in families:
                if key.endswith("_total"):
                    families[key] = CounterMetricFamily(f"kubeedge_{key[: -len('_total')]}", key, labels=["module"])
                else:
                    families[key] = GaugeMetricFamily(f"kubeedge_{key}", key, labels=["module"])
            families[key].add_metric([module], float(value))


class MetricsServer:
    """The HTTP endpoint: ``start()`` serves ``/metrics`` on a daemon thread, ``stop()`` closes it."""

    def __init__(self, runtime: Runtime, address: str, port: int) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(RuntimeCollector(runtime))
        self._address, self._port = address, port
        self._server: Any = None

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        return int(self._server.server_port) if self._server is not None else self._port

    def start(self) -> None:
        self._server, _thread = start_http_server(self._port, addr=self._address, registry=self.registry)
        logger.info("metrics: serving on http://%s:%d/metrics", self._address, self.port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


__all__ = ["MetricsServer", "RuntimeCollector"]
