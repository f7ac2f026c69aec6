"""Running probes and hooks (docs/protocol.md#7.8): a small bounded prober, and each probe's state.

The kubelet runs one goroutine per probe; 100 probed containers must not need 100 threads
here. :class:`Prober` runs every probe edged has on a fixed few threads::

    actor thread ── ProbeDue (a scheduler timer) ──► Prober.submit
        exec:            a pool of ``exec_workers`` threads, each a Docker exec with the timeout
        httpGet, tcpSocket: one asyncio loop on one thread, any number at once (netprobes.py)
    ◄── ProbeDone (module_tell_self) ── the result, handed over as a message

:class:`ContainerProbes` is what edged keeps about the probes of one running container (in
its pod's record, on the actor's thread): the Kubernetes thresholds, and whether it has
started, is ready, or must be restarted. Hooks (postStart, preStop) run on the sync job's
worker, blocking, through :func:`run_handler`.
"""

from __future__ import annotations

import http.client
import itertools
import logging
import socket
import ssl
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from actors.edged.errors import ContainerNotFoundError, ContainerRuntimeError, RuntimeUnavailableError
from actors.edged.model import ContainerRuntime
from actors.edged.podspec_lifecycle import ContainerLifecycle, Handler, Probe
from kubeedge_actors.scheduler import TimerHandle

if TYPE_CHECKING:
    from actors.edged.netprobes import NetworkProbeLoop

logger = logging.getLogger(__name__)

_PROBERS = itertools.count(1)  # numbers each prober's threads (edged-prober-exec-<n>_<i>, edged-prober-net-<n>)

#: The kubelet's User-Agent on HTTP probes.
USER_AGENT = "kube-probe/1.10"


@dataclass(frozen=True, slots=True)
class ProbeOutcome:
    """One run of a probe or hook: whether it succeeded, and what it said when it did not."""

    ok: bool
    message: str = ""
    #: Docker could not be asked (down, or the container is gone): neither success nor
    #: failure, so it counts towards no threshold (a daemon restart restarts no container).
    unknown: bool = False


# --- one probe or hook, run -------------------------------------------------------------------


def run_handler(runtime: ContainerRuntime, container_id: str, handler: Handler, host: str, timeout_s: float) -> ProbeOutcome:
    """Run ``handler`` now, blocking (a worker's call: hooks, exec probes)."""
    if handler.kind == "exec":
        return _exec(runtime, container_id, handler, timeout_s)
    target = handler.host or host or "127.0.0.1"
    try:
        if handler.kind == "tcpSocket":
            socket.create_connection((target, handler.port), timeout=timeout_s).close()
            return ProbeOutcome(True)
        connection = (
            http.client.HTTPSConnection(target, handler.port, timeout=timeout_s, context=_insecure_context())
            if handler.scheme == "HTTPS"
            else http.client.HTTPConnection(target, handler.port, timeout=timeout_s)
        )
        try:
            connection.request("GET", handler.path, headers={"User-Agent": USER_AGENT, **dict(handler.headers)})
            code = connection.getresponse().status
        finally:
            connection.close()
    except (OSError, http.client.HTTPException) as exc:
        return ProbeOutcome(False, f"{handler.describe()}: {exc or type(exc).__name__}")
    return _http_outcome(handler, code)


def _http_outcome(handler: Handler, code: int) -> ProbeOutcome:
    # The kubelet: 200 <= code < 400 is success (a redirect it does not follow counts too).
    if 200 <= code < 400:
        return ProbeOutcome(True)
    return ProbeOutcome(False, f"{handler.describe()}: HTTP probe failed with statuscode: {code}")


def _exec(runtime: ContainerRuntime, container_id: str, handler: Handler, timeout_s: float) -> ProbeOutcome:
    try:
        result = runtime.exec_command(container_id, handler.command, timeout_s)
    except (RuntimeUnavailableError, ContainerNotFoundError) as exc:
        return ProbeOutcome(False, f"{handler.describe()}: {exc}", unknown=True)
    except ContainerRuntimeError as exc:
        return ProbeOutcome(False, f"{handler.describe()}: {exc}")
    if result.timed_out:
        return ProbeOutcome(False, f"{handler.describe()}: timed out after {timeout_s:g}s")
    if result.exit_code != 0:
        return ProbeOutcome(False, f"{handler.describe()}: exit code {result.exit_code}: {result.output.strip()[-200:]}")
    return ProbeOutcome(True)


def _insecure_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the kubelet does not verify a probe's certificate
    return context


# --- the bounded prober -------------------------------------------------------------------------


class Prober:
    """Runs probes off the actor's thread on ``exec_workers`` threads plus one asyncio loop.

    ``submit`` returns at once; ``done(outcome)`` is called on a prober thread and must only
    hand over (the actor's ``module_tell_self``).
    """

    def __init__(self, runtime: ContainerRuntime, *, exec_workers: int = 4) -> None:
        self._runtime = runtime
        self._exec_workers = exec_workers
        self._pool: ThreadPoolExecutor | None = None
        self._network: NetworkProbeLoop | None = None
        self._lock = threading.Lock()
        number = next(_PROBERS)
        self._names = (f"edged-prober-exec-{number}", f"edged-prober-net-{number}")

    def submit(self, container_id: str, probe: Probe, host: str, done: Callable[[ProbeOutcome], None]) -> None:
        handler = probe.handler
        if handler.kind == "exec":
            pool = self._exec_pool()
            future = pool.submit(run_handler, self._runtime, container_id, handler, host, probe.timeout_s)
        else:
            future = self._network_loop().submit(handler, host, probe.timeout_s)
        future.add_done_callback(lambda f: done(_result(f, handler)))

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
            network, self._network = self._network, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        if network is not None:
            network.close()

    def thread_count(self) -> int:
        """This prober's threads alive now (at most ``exec_workers`` + 1)."""
        exec_prefix, net_name = self._names[0] + "_", self._names[1]
        return sum(1 for thread in threading.enumerate() if thread.name.startswith(exec_prefix) or thread.name == net_name)

    def _exec_pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._exec_workers, thread_name_prefix=self._names[0])
            return self._pool

    def _network_loop(self) -> NetworkProbeLoop:
        with self._lock:
            if self._network is None:
                # Imported here: asyncio is loaded only by an edge that has network probes.
                from actors.edged.netprobes import NetworkProbeLoop  # noqa: PLC0415 - asyncio with the first network probe

                self._network = NetworkProbeLoop(self._names[1])
            return self._network


def _result(future: Future[ProbeOutcome], handler: Handler) -> ProbeOutcome:
    if future.cancelled():
        return ProbeOutcome(False, f"{handler.describe()}: cancelled")
    error = future.exception()
    if error is not None:  # a bug in a probe must not lose the result: it counts as a failure
        logger.warning("edged: probe %s failed unexpectedly: %s", handler.describe(), error)
        return ProbeOutcome(False, f"{handler.describe()}: {error}")
    return future.result()


# --- what edged keeps about one container's probes ----------------------------------------------


@dataclass
class ProbeCounter:
    """One probe of one container: the Kubernetes thresholds over consecutive results."""

    probe: Probe
    result: bool | None = None  # None: no verdict yet
    successes: int = 0
    failures: int = 0
    timer: TimerHandle | None = None
    running: bool = False  # a run is under way: the next is scheduled when it ends

    def count(self, outcome: ProbeOutcome) -> bool:
        """Count one outcome; returns whether the verdict changed."""
        if outcome.unknown:
            return False
        if outcome.ok:
            self.successes, self.failures = self.successes + 1, 0
            verdict = True if self.successes >= self.probe.success_threshold else self.result
        else:
            self.successes, self.failures = 0, self.failures + 1
            verdict = False if self.failures >= self.probe.failure_threshold else self.result
        changed = verdict != self.result
        self.result = verdict
        return changed

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


@dataclass
class ContainerProbes:
    """The probes of one running container (by its Docker id), in its pod's record.

    Kubernetes' rules: a startup probe holds the others back until it succeeds; a container
    with a readiness probe is not ready until it succeeds; a failed startup or liveness probe
    restarts the container (``unhealthy``).
    """

    container_id: str
    lifecycle: ContainerLifecycle
    counters: dict[str, ProbeCounter] = field(default_factory=dict)
    unhealthy: str = ""  # why it is to be restarted ("" : it is not)

    @property
    def started(self) -> bool:
        startup = self.counters.get("startup")
        return self.lifecycle.startup is None or (startup is not None and startup.result is True)

    @property
    def ready(self) -> bool:
        readiness = self.counters.get("readiness")
        return self.started and (self.lifecycle.readiness is None or (readiness is not None and readiness.result is True))

    def cancel(self) -> None:
        for counter in self.counters.values():
            counter.cancel()


@dataclass(frozen=True, slots=True)
class ProbeView:
    """What the status shows of a probed container: started, ready (for one container id)."""

    container_id: str
    started: bool
    ready: bool


__all__ = [
    "USER_AGENT",
    "ContainerProbes",
    "ProbeCounter",
    "ProbeOutcome",
    "ProbeView",
    "Prober",
    "run_handler",
]
