"""The Prometheus endpoint for a running :class:`~kubeedge_actors.runtime.Runtime` (off by default;
imported only when ``metrics.enabled``, see :mod:`kubeedge_actors.metrics`).

Figures are gathered at scrape time: the router's dead letters and held messages, each
module's mailbox depth and restarts, and whatever each module reports from
:meth:`~kubeedge_actors.actor.ModuleActor.module_metrics`, asked on the module's own thread;
plus the process's own (``process_resident_memory_bytes``, ``process_cpu_seconds_total``,
open files, ``python_info``) and its thread count.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIServer

import pykka
from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kubeedge_actors.actor import _MetricsRequest
from kubeedge_actors.metrics import MetricsSettings, parse_figure_key

if TYPE_CHECKING:
    from kubeedge_actors.runtime import Runtime

logger = logging.getLogger(__name__)

SCRAPE_ASK_TIMEOUT_S = 1.0

_Family = CounterMetricFamily | GaugeMetricFamily
#: A reported figure's family, by name, and the label names its series carry.
_Families = dict[str, tuple[_Family, list[str]]]


class RuntimeCollector(Collector):
    """Reads a runtime's figures on every scrape."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._failed: set[str] = set()  # modules whose figures failed once: warned about already

    def collect(self) -> Iterator[Metric]:
        runtime = self._runtime
        router = runtime.router
        up = GaugeMetricFamily("kubeedge_module_up", "1 while the module's actor runs", labels=["module"])
        depth = GaugeMetricFamily("kubeedge_mailbox_depth", "messages waiting in the module's mailbox", labels=["module"])
        held = GaugeMetricFamily("kubeedge_held_messages", "messages held while the module restarts", labels=["module"])
        restarts = CounterMetricFamily("kubeedge_module_restarts", "restarts after a crash", labels=["module"])
        reported: _Families = {}
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
        threads = GaugeMetricFamily("kubeedge_threads", "threads alive in the process")
        threads.add_metric([], float(threading.active_count()))
        yield from (up, depth, held, restarts, dead, pending, threads, *(family for family, _labels in reported.values()))

    def _add_reported(self, families: _Families, module: str, ref: pykka.ActorRef[Any]) -> None:
        try:
            figures = ref.ask(_MetricsRequest(), block=True, timeout=SCRAPE_ASK_TIMEOUT_S)
        except (pykka.ActorDeadError, pykka.Timeout):
            return
        except Exception as exc:  # a module's bug must not take the other modules' figures with it
            log = logger.debug if module in self._failed else logger.warning
            self._failed.add(module)
            log("metrics: %s could not report its figures: %r", module, exc)
            return
        for key, value in figures.items():
            parsed = parse_figure_key(key)
            if parsed is None:
                logger.debug("metrics: %s reported an unusable name %r", module, key)
                continue
            name, labels = parsed
            label_names = ["module", *sorted(labels)]
            if name not in families:
                family: _Family
                if name.endswith("_total"):
                    family = CounterMetricFamily(f"kubeedge_{name[: -len('_total')]}", name, labels=label_names)
                else:
                    family = GaugeMetricFamily(f"kubeedge_{name}", name, labels=label_names)
                families[name] = (family, label_names)
            family, expected = families[name]
            if expected != label_names:
                logger.debug("metrics: %s reported %r with labels other than %s", module, key, expected[1:])
                continue
            family.add_metric([module, *(labels[label] for label in label_names[1:])], float(value))


class MetricsServer:
    """The HTTP endpoint: ``start()`` serves ``/metrics`` on a daemon thread, ``stop()`` closes it."""

    def __init__(self, runtime: Runtime, settings: MetricsSettings) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(RuntimeCollector(runtime))
        ProcessCollector(registry=self.registry)  # RSS, CPU seconds, open files, start time
        PlatformCollector(registry=self.registry)  # python_info
        self._address, self._port = settings.address, settings.port
        self._server: WSGIServer | None = None

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
