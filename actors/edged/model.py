"""What edged and its container runtime tell each other: plain values, errors, the protocol.

The actor and the sync jobs speak only these types; :mod:`actors.edged.runtime` converts them
to and from the docker SDK, and tests hand in a fake that implements :class:`ContainerRuntime`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

# docs/protocol.md#7.2: the labels of every container edged makes.
POD_NAME_LABEL = "io.kubernetes.pod.name"
POD_NAMESPACE_LABEL = "io.kubernetes.pod.namespace"
POD_UID_LABEL = "io.kubernetes.pod.uid"
CONTAINER_NAME_LABEL = "io.kubernetes.container.name"
CONTAINER_HASH_LABEL = "io.kubernetes.container.hash"
RESTART_COUNT_LABEL = "io.kubernetes.container.restartCount"
TERMINATION_MESSAGE_PATH_LABEL = "io.kubernetes.container.terminationMessagePath"
TERMINATION_MESSAGE_POLICY_LABEL = "io.kubernetes.container.terminationMessagePolicy"
GRACE_PERIOD_LABEL = "io.kubernetes.pod.terminationGracePeriod"  # the kubelet's, for orphans
#: Ours: the node (edgehub.controller.node-id) whose edged made the container. edged manages
#: only containers carrying its own node id (docs/protocol.md#13.9: the original took over every container
#: labelled with a pod uid, other agents' too).
NODE_ID_LABEL = "io.kubeedge-actors.node-id"

RUNNING_STATES = frozenset({"running", "restarting", "paused"})


@dataclass(frozen=True, slots=True)
class Mount:
    """A bind mount of a host path into the container."""

    source: str
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class ContainerConfig:
    """Everything needed to create one container (built by :mod:`actors.edged.containers`)."""

    name: str
    image: str
    labels: Mapping[str, str]
    entrypoint: tuple[str, ...] | None = None
    command: tuple[str, ...] | None = None
    env: tuple[str, ...] = ()
    working_dir: str | None = None
    mounts: tuple[Mount, ...] = ()
    tty: bool = False
    stdin_open: bool = False
    privileged: bool = False
    user: str | None = None
    cpu_shares: int | None = None
    cpu_quota: int | None = None
    cpu_period: int | None = None
    memory_limit: int | None = None


@dataclass(frozen=True)
class ContainerInfo:
    """One container as Docker describes it (inspect)."""

    id: str
    name: str
    labels: Mapping[str, str]
    image: str
    image_id: str
    status: str  # created, running, paused, restarting, removing, exited, dead
    exit_code: int = 0
    error: str = ""
    oom_killed: bool = False
    created_at: str = ""
    started_at: str = ""
    finished_at: str = ""
    termination_message: str = ""  # read once it stopped (docs/protocol.md#7.8)

    @property
    def pod_uid(self) -> str:
        return self.labels.get(POD_UID_LABEL, "")

    @property
    def container_name(self) -> str:
        return self.labels.get(CONTAINER_NAME_LABEL, "")

    @property
    def spec_hash(self) -> str:
        return self.labels.get(CONTAINER_HASH_LABEL, "")

    @property
    def restart_count(self) -> int:
        try:
            return int(self.labels.get(RESTART_COUNT_LABEL, "0"))
        except ValueError:
            return 0

    @property
    def is_running(self) -> bool:
        return self.status in RUNNING_STATES

    @property
    def never_started(self) -> bool:
        """Created and not (yet) started, with no start failure recorded."""
        return self.status == "created" and not self.error and self.exit_code == 0

    @property
    def grace_period_s(self) -> float:
        try:
            return float(self.labels.get(GRACE_PERIOD_LABEL, "30"))
        except ValueError:
            return 30.0


@dataclass(frozen=True, slots=True)
class ContainerSummary:
    """One container as Docker lists it: enough to see whether it changed."""

    id: str
    labels: Mapping[str, str]
    status: str


@dataclass(frozen=True, slots=True)
class ContainerEvent:
    """A Docker event about one managed container (``start``, ``die``, ``destroy``...)."""

    container_id: str
    action: str
    name: str = ""  # the container's name, from the event's attributes


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """A local image: its id and tags."""

    id: str
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RegistryAuth:
    """Credentials for one registry, from an image pull secret."""

    username: str
    password: str
    server: str

    def __repr__(self) -> str:  # never print a password in a log line or a test failure
        return f"RegistryAuth(username={self.username!r}, server={self.server!r})"


@dataclass(frozen=True, slots=True)
class ExecResult:
    """A command run in a container: its exit code (None: unknown, it timed out) and output."""

    exit_code: int | None
    output: str = ""
    timed_out: bool = False


class EventWatch(Protocol):
    def close(self) -> None: ...


class ContainerRuntime(Protocol):
    """The Docker operations edged needs; every call may block, so only workers make them."""

    def version(self) -> str: ...
    def root_dir(self) -> str: ...
    def list_containers(self) -> list[ContainerSummary]: ...
    def inspect_container(self, container_id: str) -> ContainerInfo | None: ...
    def create_container(self, config: ContainerConfig) -> str: ...
    def start_container(self, container_id: str) -> None: ...
    def stop_container(self, container_id: str, grace_s: float) -> None: ...
    def remove_container(self, container_id: str) -> None: ...
    def exec_command(self, container_id: str, command: tuple[str, ...], timeout_s: float) -> ExecResult: ...
    def image_present(self, image: str) -> bool: ...
    def pull_image(self, image: str, auth: RegistryAuth | None) -> None: ...
    def image_id(self, image: str) -> str | None: ...
    def used_image_ids(self) -> set[str]: ...
    def remove_image(self, image: str) -> None: ...
    def watch_events(
        self,
        on_open: Callable[[], None],
        on_event: Callable[[ContainerEvent], None],
        on_end: Callable[[str], None],
    ) -> EventWatch: ...
    def close(self) -> None: ...
