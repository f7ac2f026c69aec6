"""Builds, starts, supervises and stops the modules.

A crashed module is restarted with beehive's restart policy::

    crash ─► attempts += 1 (reset to 0 after `reset_after_s` of running)
      │
      ├─ attempts > retries (retries > 0) ─► given up: unregistered, held messages dead-lettered
      └─ otherwise wait min(interval_s · grow_rate^(attempts-1), max_interval_s)
             └─► start a new actor, register it under the same name (held messages go first)

While a module is down, messages for it are held by the router (up to beehive's 1024), so a
restart loses only the message that crashed it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pykka

from kubeedge_actors.actor import ModuleActor, _Ping
from kubeedge_actors.backoff import Backoff
from kubeedge_actors.config import Config
from kubeedge_actors.errors import InvalidArgumentError
from kubeedge_actors.metrics import MetricsSettings
from kubeedge_actors.router import Router

if TYPE_CHECKING:
    from kubeedge_actors.metrics_server import MetricsServer

logger = logging.getLogger(__name__)

START_TIMEOUT_S = 30.0
#: :attr:`ModuleSpec.start_order` of a spec that does not say.
DEFAULT_START_ORDER = 50


@dataclass(frozen=True)
class ModuleSpec:
    """How to build one module.

    Attributes:
        actor_class: the :class:`ModuleActor` subclass.
        name: the wire name; defaults to ``actor_class.module_name``.
        group: the group; defaults to ``actor_class.module_group``.
        make_kwargs: extra constructor arguments (adapters), made anew for every (re)start.
        start_order: lower starts first, and stops last; equal numbers start in the order the
            specs were given. The composition root decides (the edge's: storage first, the
            cloud link last); the runtime only follows.
        load: instead of ``actor_class``, imports and returns it when the module first starts,
            so a module that is not enabled costs no memory; such a spec names its ``name``
            and ``group``.

    Raises:
        InvalidArgumentError: neither or both of ``actor_class`` and ``load``; ``load``
            without ``name`` and ``group``.
    """

    actor_class: type[ModuleActor] | None = None
    name: str = ""
    group: str = ""
    make_kwargs: Callable[[Config], Mapping[str, Any]] | None = None
    start_order: int = DEFAULT_START_ORDER
    load: Callable[[], type[ModuleActor]] | None = None

    def __post_init__(self) -> None:
        if (self.actor_class is None) == (self.load is None):
            raise InvalidArgumentError("a module spec needs either actor_class or load")
        if self.load is not None and not (self.name and self.group):
            raise InvalidArgumentError("a module spec with load needs its name and group: its class is imported only at start")

    @property
    def module_name(self) -> str:
        return self.name or self.module_class().module_name

    @property
    def module_group(self) -> str:
        return self.group or self.module_class().module_group

    def module_class(self) -> type[ModuleActor]:
        """The actor class; a spec made with ``load`` imports it now."""
        if self.actor_class is not None:
            return self.actor_class
        assert self.load is not None  # __post_init__: one of the two
        return self.load()


@dataclass(frozen=True)
class RestartPolicy:
    """Beehive's restart policy: initial interval, growth factor, cap and retry limit."""

    retries: int = 5
    interval_s: float = 1.0
    grow_rate: float = 2.0
    max_interval_s: float = 30.0
    reset_after_s: float = 60.0

    @classmethod
    def from_config(cls, config: Config) -> RestartPolicy:
        return cls(
            retries=config.integer("modules.restart.retries"),
            interval_s=config.number("modules.restart.interval"),
            grow_rate=config.number("modules.restart.grow-rate"),
            max_interval_s=config.number("modules.restart.max-interval"),
            reset_after_s=config.number("modules.restart.reset-after"),
        )

    def new_backoff(self) -> Backoff:
        """The waits between restarts of one module."""
        return Backoff(initial_s=self.interval_s, max_s=self.max_interval_s, factor=self.grow_rate)

    def gives_up_at(self, attempt: int) -> bool:
        return self.retries > 0 and attempt > self.retries


@dataclass(frozen=True)
class RuntimeSettings:
    """The runtime's own keys, read once: which modules run, how they restart and stop, metrics.

    Attributes:
        enabled: wire names of the modules to run (``modules.enabled``), each once, in order.
        restart: the restart policy of crashed modules (``modules.restart.*``).
        stop_timeout_s: how long each module gets to stop (``modules.stop-timeout``).
        metrics: the metrics endpoint (``metrics.*``).
    """

    enabled: tuple[str, ...]
    restart: RestartPolicy
    stop_timeout_s: float
    metrics: MetricsSettings

    @classmethod
    def from_config(cls, config: Config) -> RuntimeSettings:
        return cls(
            enabled=tuple(dict.fromkeys(config.strings("modules.enabled"))),
            restart=RestartPolicy.from_config(config),
            stop_timeout_s=config.number("modules.stop-timeout"),
            metrics=MetricsSettings.from_config(config),
        )


@dataclass(eq=False)
class _Supervised:
    spec: ModuleSpec
    backoff: Backoff
    ref: pykka.ActorRef[ModuleActor] | None = None
    started_at: float = 0.0
    restarts: int = 0
    given_up: bool = False


class Runtime:
    """The edge core: modules from ``modules.enabled``, started in order and supervised.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`::

        with Runtime(load_config("conf"), builtin_modules()) as runtime:
            runtime.add_module(ModuleSpec(MyActor))
            ...

    Args:
        config: the configuration (defaults when None).
        available: module implementations by wire name (the built-in ones come from
            ``actors.builtin_modules()``); an enabled name without one is skipped.
        router: the router to use; one is made (and closed on stop) when None.
    """

    def __init__(
        self, config: Config | None = None, available: Mapping[str, ModuleSpec] | None = None, *, router: Router | None = None
    ) -> None:
        self.config = config if config is not None else Config.defaults()
        self._available = dict(available or {})
        self._owns_router = router is None
        self.router = router if router is not None else Router()
        self.settings = RuntimeSettings.from_config(self.config)
        self.policy = self.settings.restart
        self._lock = threading.RLock()
        self._modules: dict[str, _Supervised] = {}
        self._extra: list[ModuleSpec] = []
        self.skipped: tuple[str, ...] = ()
        self._running = False
        self._stopping = False
        self.metrics: MetricsServer | None = None

    # --- public API -------------------------------------------------------------------------

    def add_module(self, spec: ModuleSpec | type[ModuleActor]) -> None:
        """Add a module beside the enabled ones; started now if the runtime runs."""
        if not isinstance(spec, ModuleSpec):
            spec = ModuleSpec(spec)
        with self._lock:
            if spec.module_name in self._modules or any(s.module_name == spec.module_name for s in self._extra):
                raise InvalidArgumentError(f"a module named {spec.module_name!r} is already present")
            self._extra.append(spec)
            if self._running:
                self._start_module(spec)

    def start(self) -> None:
        """Start every enabled module with an implementation, then the added ones, in order."""
        with self._lock:
            if self._running:
                return
            self.router.crash_listener = self._on_crash
            specs, self.skipped = self._plan()
            for name in self.skipped:
                logger.warning("runtime: module %s is enabled but has no implementation yet; skipped", name)
            self._running = True
            self._stopping = False
            for spec in specs:  # what one sends another that starts later waits for it
                self.router.reserve(spec.module_name, spec.module_group)
            for spec in specs:
                self._start_module(spec)
        if self.settings.metrics.enabled:
            from kubeedge_actors.metrics_server import MetricsServer  # noqa: PLC0415 - only when on (kubeedge_actors.metrics)

            self.metrics = MetricsServer(self, self.settings.metrics)
            self.metrics.start()
        logger.info("runtime: running %s", ", ".join(f"{n} ({s.spec.module_group})" for n, s in self._modules.items()) or "no modules")

    def stop(self) -> None:
        """Stop the modules in reverse start order, giving each ``modules.stop-timeout``."""
        with self._lock:
            if not self._running:
                return
            self._stopping = True
            modules = list(self._modules.items())
        if self.metrics is not None:
            self.metrics.stop()
            self.metrics = None
        for name, supervised in reversed(modules):
            self._stop_module(name, supervised)
        with self._lock:
            self._modules.clear()
            self._running = False
        if self._owns_router:
            self.router.close()
        logger.info("runtime: stopped")

    def __enter__(self) -> Runtime:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def running_modules(self) -> list[str]:
        """Names of the modules started and not given up, in start order."""
        with self._lock:
            return [name for name, s in self._modules.items() if not s.given_up]

    def restart_count(self, name: str) -> int:
        with self._lock:
            supervised = self._modules.get(name)
            return supervised.restarts if supervised else 0

    def actor_ref(self, name: str) -> pykka.ActorRef[ModuleActor] | None:
        """The current actor of a module (for tests and introspection; send through the router)."""
        with self._lock:
            supervised = self._modules.get(name)
            return supervised.ref if supervised else None

    # --- starting ---------------------------------------------------------------------------

    def _plan(self) -> tuple[list[ModuleSpec], tuple[str, ...]]:
        enabled = self.settings.enabled
        specs = [spec for name, spec in self._available.items() if name in enabled]  # in the order given
        skipped = tuple(name for name in enabled if name not in self._available)
        return sorted([*specs, *self._extra], key=lambda spec: spec.start_order), skipped

    def _start_module(self, spec: ModuleSpec) -> None:
        supervised = _Supervised(spec, self.policy.new_backoff())
        self._modules[spec.module_name] = supervised
        self._launch(supervised)

    def _launch(self, supervised: _Supervised) -> None:
        """Start one actor, register it and wait until its ``on_start`` has run."""
        spec = supervised.spec
        kwargs = dict(spec.make_kwargs(self.config)) if spec.make_kwargs else {}
        ref = spec.module_class().start(self.router, self.config, name=spec.module_name, group=spec.module_group, **kwargs)
        supervised.ref = ref
        supervised.started_at = time.monotonic()
        self.router.register(spec.module_name, spec.module_group, ref, supervised=True)
        try:
            ref.ask(_Ping(), timeout=START_TIMEOUT_S)
        except pykka.ActorDeadError:
            # on_start failed: pykka logged it and does not call on_failure, so report here.
            self._on_crash(spec.module_name, ref, None)
        except pykka.Timeout:
            logger.warning("runtime: %s did not finish starting within %g s", spec.module_name, START_TIMEOUT_S)

    # --- supervision ------------------------------------------------------------------------

    def _on_crash(self, name: str, ref: pykka.ActorRef[Any], error: BaseException | None) -> None:
        """Runs on the crashed actor's thread: decide, then schedule the restart elsewhere."""
        with self._lock:
            supervised = self._modules.get(name)
            if supervised is None or supervised.ref is not ref or self._stopping:
                return
            if time.monotonic() - supervised.started_at >= self.policy.reset_after_s:
                supervised.backoff.reset()
            delay = supervised.backoff.next_delay()
            attempt = supervised.backoff.attempts
            supervised.given_up = self.policy.gives_up_at(attempt)
        if supervised.given_up:
            logger.error("runtime: %s crashed (%r) %d times in a row; giving up", name, error, attempt)
            self.router.unregister(name)
            return
        limit = f" of {self.policy.retries}" if self.policy.retries else ""
        logger.warning("runtime: %s crashed (%r); restart %d%s in %.1f s", name, error, attempt, limit, delay)
        # Starting waits for on_start: never on the timer thread, which serves everyone.
        self.router.scheduler.call_later(
            delay, lambda: threading.Thread(target=self._restart, args=(name, ref), name=f"restart-{name}", daemon=True).start()
        )

    def _restart(self, name: str, crashed_ref: pykka.ActorRef[Any]) -> None:
        with self._lock:
            supervised = self._modules.get(name)
            if supervised is None or supervised.ref is not crashed_ref or self._stopping:
                return
            supervised.restarts += 1
            self._launch(supervised)
        logger.info("runtime: %s restarted", name)

    # --- stopping ---------------------------------------------------------------------------

    def _stop_module(self, name: str, supervised: _Supervised) -> None:
        ref = supervised.ref
        timeout_s = self.settings.stop_timeout_s
        if ref is not None and ref.is_alive():
            try:
                ref.stop(block=True, timeout=timeout_s)
            except pykka.Timeout:
                logger.warning("runtime: %s did not stop within %g s; left behind", name, timeout_s)
        self.router.unregister(name)


__all__ = ["DEFAULT_START_ORDER", "ModuleSpec", "RestartPolicy", "Runtime", "RuntimeSettings"]
