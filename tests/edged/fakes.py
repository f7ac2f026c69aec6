"""A fake container runtime for tier-1 tests: in memory, and loud about anything unexpected."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from actors.edged.errors import ContainerNotFoundError, ContainerRuntimeError, ImagePullError, RuntimeUnavailableError
from actors.edged.model import NODE_ID_LABEL, ContainerConfig, ContainerEvent, ContainerInfo, ContainerSummary, ExecResult, RegistryAuth
from actors.edged.podspec_lifecycle import Probe
from actors.edged.probes import ProbeOutcome, Prober, run_handler
from actors.edged.timefmt import k8s_time


def docker_time(epoch_s: float) -> str:
    return (k8s_time(epoch_s) or "").replace("Z", ".000000000Z")


class FakeWatch:
    def __init__(
        self, runtime: FakeRuntime, on_open: Callable[[], None], on_event: Callable[[ContainerEvent], None], on_end: Callable[[str], None]
    ):
        self.runtime, self.on_open, self.on_event, self.on_end = runtime, on_open, on_event, on_end
        self.closed = False

    def close(self) -> None:
        self.closed = True


class FakeRuntime:
    """Containers and images in dicts. Images must be declared (``images``/``registry``);
    a call the test did not prepare for raises instead of answering a default."""

    def __init__(self, clock: Callable[[], float], node_id: str = "node-a") -> None:
        self.clock = clock
        self.node_id = node_id
        self.containers: dict[str, ContainerInfo] = {}
        self.configs: dict[str, ContainerConfig] = {}
        self.images: set[str] = set()
        self.registry: dict[str, str | None] = {}  # image → required username (None: anonymous)
        self.pulls: list[tuple[str, RegistryAuth | None]] = []
        self.stops: list[tuple[str, float]] = []
        self.calls: list[str] = []
        self.fail_create: str = ""
        self.fail_start: str = ""
        self.down = False
        self.only_node = ""  # like the label filter of the real runtime
        #: Like Docker, tell the open watch of its own creates, starts, stops and removals (off:
        #: the test emits what it wants edged to hear, when it wants).
        self.emits_events = True
        self.watches: list[FakeWatch] = []
        self.closed = False
        self.exec_answers: dict[tuple[str, ...], ExecResult] = {}  # command → what it gives
        self.execs: list[tuple[str, tuple[str, ...]]] = []
        self._ids = itertools.count(1)

    # --- test controls ---------------------------------------------------------------------

    @property
    def watch(self) -> FakeWatch:
        return self.watches[-1]

    def open_events(self) -> None:
        self.watch.on_open()

    def emit(self, container_id: str, action: str) -> None:
        known = self.containers.get(container_id)
        self.watch.on_event(ContainerEvent(container_id, action, known.name if known else ""))

    def inspections(self, container_id: str) -> int:
        return self.calls.count(f"inspect {container_id}")

    def _emit_own(self, container_id: str, action: str, name: str) -> None:
        if self.emits_events and self.watches and not self.watch.closed:
            self.watch.on_event(ContainerEvent(container_id, action, name))

    def exit(self, container_id: str, code: int, *, emit: bool = True) -> None:
        info = self.containers[container_id]
        self.containers[container_id] = replace(info, status="exited", exit_code=code, finished_at=docker_time(self.clock()))
        if emit:
            self.emit(container_id, "die")

    def add_container(self, info: ContainerInfo) -> None:
        self.containers[info.id] = info

    def running(self) -> list[ContainerInfo]:
        return [c for c in self.containers.values() if c.is_running]

    def of_container(self, name: str) -> list[ContainerInfo]:
        return sorted((c for c in self.containers.values() if c.container_name == name), key=lambda c: c.restart_count)

    # --- ContainerRuntime ------------------------------------------------------------------

    def _check(self, call: str) -> None:
        self.calls.append(call)
        if self.down:
            raise RuntimeUnavailableError(f"{call}: Docker is not reachable")

    def version(self) -> str:
        self._check("version")
        return "20.10.24"

    def root_dir(self) -> str:
        raise AssertionError("root_dir: tests hand in disk_usage")

    def list_containers(self) -> list[ContainerSummary]:
        self._check("list")
        mine = [c for c in self.containers.values() if not self.only_node or c.labels.get(NODE_ID_LABEL) == self.only_node]
        return [ContainerSummary(c.id, c.labels, c.status) for c in mine]

    def inspect_container(self, container_id: str) -> ContainerInfo | None:
        self._check(f"inspect {container_id}")
        return self.containers.get(container_id)

    def create_container(self, config: ContainerConfig) -> str:
        self._check(f"create {config.name}")
        if self.fail_create:
            raise ContainerRuntimeError(self.fail_create)
        if config.image not in self.images:
            raise AssertionError(f"create with image {config.image} that was never pulled or declared")
        if any(c.name == config.name for c in self.containers.values()):
            raise ContainerRuntimeError(f"Conflict. The container name {config.name} is already in use")
        container_id = f"c{next(self._ids):04d}"
        labels = {**config.labels, NODE_ID_LABEL: self.node_id}
        now = docker_time(self.clock())
        self.containers[container_id] = ContainerInfo(
            container_id, config.name, labels, config.image, f"sha256:{config.image}", "created", created_at=now
        )
        self.configs[container_id] = config
        self._emit_own(container_id, "create", config.name)
        return container_id

    def start_container(self, container_id: str) -> None:
        self._check(f"start {container_id}")
        info = self._get(container_id)
        if self.fail_start:
            self.containers[container_id] = replace(info, exit_code=127, error=self.fail_start)
            raise ContainerRuntimeError(self.fail_start)
        self.containers[container_id] = replace(info, status="running", started_at=docker_time(self.clock()))
        self._emit_own(container_id, "start", info.name)

    def stop_container(self, container_id: str, grace_s: float) -> None:
        self._check(f"stop {container_id}")
        info = self._get(container_id)
        self.stops.append((container_id, grace_s))
        if info.is_running:
            self.containers[container_id] = replace(info, status="exited", exit_code=143, finished_at=docker_time(self.clock()))
            self._emit_own(container_id, "die", info.name)

    def exec_command(self, container_id: str, command: tuple[str, ...], timeout_s: float) -> ExecResult:
        """The answer set in ``exec_answers`` for the command; any other command fails the test."""
        self._check(f"exec {container_id}")
        self.execs.append((container_id, command))
        if command not in self.exec_answers:
            raise AssertionError(f"exec of {command} in {container_id}: no answer set")
        return self.exec_answers[command]

    def remove_container(self, container_id: str) -> None:
        self._check(f"remove {container_id}")
        info = self._get(container_id)
        del self.containers[container_id]
        self._emit_own(container_id, "destroy", info.name)

    def image_present(self, image: str) -> bool:
        self._check(f"image_present {image}")
        return image in self.images

    def image_id(self, image: str) -> str | None:
        self._check(f"image_id {image}")
        return f"sha256:{image}" if image in self.images else None

    def pull_image(self, image: str, auth: RegistryAuth | None) -> None:
        self._check(f"pull {image}")
        self.pulls.append((image, auth))
        if image not in self.registry:
            raise ImagePullError(f"pull {image}: manifest unknown")
        user = self.registry[image]
        if user is not None and (auth is None or auth.username != user):
            raise ImagePullError(f"pull {image}: no basic auth credentials")
        self.images.add(image)

    def used_image_ids(self) -> set[str]:
        self._check("used_image_ids")
        return {c.image_id for c in self.containers.values()}

    def remove_image(self, image: str) -> None:
        self._check(f"remove_image {image}")
        self.images.discard(image)

    def watch_events(
        self, on_open: Callable[[], None], on_event: Callable[[ContainerEvent], None], on_end: Callable[[str], None]
    ) -> FakeWatch:
        watch = FakeWatch(self, on_open, on_event, on_end)
        self.watches.append(watch)
        return watch

    def close(self) -> None:
        self.closed = True

    def _get(self, container_id: str) -> ContainerInfo:
        if container_id not in self.containers:
            raise ContainerNotFoundError(f"no such container {container_id}")
        return self.containers[container_id]


class FakeObjects:
    """Configmaps and secrets as meta would return them; counts every fetch."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.fetches: list[str] = []

    def put(self, namespace: str, kind: str, name: str, obj: dict[str, Any]) -> None:
        self.objects[f"{namespace}/{kind}/{name}"] = obj

    def answer(self, resource: str) -> list[str]:
        """meta's answer to a query of ``<ns>/<kind>/<name>``: a JSON array of JSON strings."""
        self.fetches.append(resource)
        found = self.objects.get(resource)
        return [json.dumps(found)] if found is not None else []


class InlineProber(Prober):
    """Runs each probe at once, on the caller's thread (the harness's), through the fake runtime."""

    def __init__(self, runtime: FakeRuntime) -> None:
        super().__init__(runtime)
        self.runtime = runtime
        self.runs: list[tuple[str, Probe]] = []

    def submit(self, container_id: str, probe: Probe, host: str, done: Callable[[ProbeOutcome], None]) -> None:
        self.runs.append((container_id, probe))
        done(run_handler(self.runtime, container_id, probe.handler, host, probe.timeout_s))
