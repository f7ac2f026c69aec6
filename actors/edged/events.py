"""The edged actor's own events: timer ticks, worker results, Docker's event stream, and the
protocol its helpers (observer, collector) use to reach the actor's mailbox and workers."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from kubeedge_actors.actor import Outcome
from kubeedge_actors.message import Message
from kubeedge_actors.router import Router
from kubeedge_actors.scheduler import TimerHandle

if TYPE_CHECKING:
    import threading

    from actors.edged.gc import ImageGcResult, PulledImages
    from actors.edged.model import ContainerInfo, ContainerRuntime
    from actors.edged.node import NodeReading
    from actors.edged.probes import ProbeOutcome
    from actors.edged.sync import PodSyncResult
    from actors.edged.volumes import PodFiles

T = TypeVar("T")


class Host(Protocol):
    """What the actor's helpers (observer, syncer, collector) use of it: its router, mailbox,
    timers and workers. A :class:`ModuleActor` is one."""

    module_router: Router

    def module_run_in_background(
        self, work: Callable[[], T], done: Callable[[Outcome[T]], object], *, discard: Callable[[T], None] | None = None
    ) -> None: ...

    def module_tell_self(self, event: object) -> None: ...

    def module_tell_later(self, delay_s: float, event: object) -> TimerHandle: ...

    def module_on_reply(self, future: Future[Message], callback: Callable[[Message | None, BaseException | None], None]) -> None: ...


@dataclass(frozen=True)
class Tools:
    """What the helpers' jobs work with."""

    runtime: ContainerRuntime
    files: PodFiles
    pulled_images: PulledImages
    #: Set when edged stops: a job still running makes nothing new.
    stopping: threading.Event


@dataclass(frozen=True)
class QueryPods:
    """Ask meta for the pod list again (the last query failed)."""


@dataclass(frozen=True)
class Poll:
    """The slow safety net: list Docker's containers and reconcile every pod."""


@dataclass(frozen=True)
class WakePod:
    """A back-off of one of the pod's containers is over: look at the pod again."""

    uid: str


@dataclass(frozen=True)
class ReportNode:
    """Time for a node status."""


@dataclass(frozen=True)
class CollectContainers:
    """Time for container GC and orphaned pod folders."""


@dataclass(frozen=True)
class CollectImages:
    """Time for image GC."""


@dataclass(frozen=True)
class EventsOpened:
    """Docker's event stream is open (from the watch thread)."""

    generation: int


@dataclass(frozen=True)
class EventsEnded:
    """Docker's event stream ended or could not open (from the watch thread)."""

    generation: int
    reason: str


@dataclass(frozen=True)
class ReconnectEvents:
    """The back-off after a lost event stream is over."""

    generation: int


@dataclass(frozen=True)
class ContainerChanged:
    """Docker said something happened to one of our containers (from the watch thread)."""

    container_id: str
    action: str
    name: str = ""  # the container's name, as the event gives it


#: A full listing: its observation number, the ids Docker has, and (number, state) of each
#: container that was new or changed state.
Listing = tuple[int, set[str], list[tuple[int, "ContainerInfo"]]]


@dataclass(frozen=True)
class ContainerInspected:
    seq: int
    container_id: str
    outcome: Outcome[ContainerInfo | None]


@dataclass(frozen=True)
class ContainersListed:
    outcome: Outcome[Listing]


@dataclass(frozen=True)
class PodSynced:
    """A pod's job ended; ``names`` are the containers it was to make."""

    uid: str
    seq: int
    names: tuple[str, ...]
    outcome: Outcome[PodSyncResult]


@dataclass(frozen=True)
class NodeFactsRead:
    outcome: Outcome[NodeReading]


@dataclass(frozen=True)
class ContainersCollected:
    """Container GC ended: the containers and the pod folders it removed."""

    outcome: Outcome[tuple[list[str], list[str]]]


@dataclass(frozen=True)
class ImagesCollected:
    outcome: Outcome[ImageGcResult]


@dataclass(frozen=True)
class ProbeDue:
    """Time to run one probe of one container (a scheduler timer)."""

    uid: str
    name: str  # the container's name in the pod
    container_id: str
    kind: str  # "startup", "liveness" or "readiness"


@dataclass(frozen=True)
class ProbeDone:
    """A probe ran (from a prober thread)."""

    uid: str
    name: str
    container_id: str
    kind: str
    outcome: ProbeOutcome
