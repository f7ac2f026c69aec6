"""The edged actor's own events: timer ticks, worker results, Docker's event stream."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubeedge_actors.actor import Outcome


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


@dataclass(frozen=True)
class ContainerInspected:
    seq: int
    container_id: str
    outcome: Outcome[Any]


@dataclass(frozen=True)
class ContainersListed:
    outcome: Outcome[Any]


@dataclass(frozen=True)
class PodSynced:
    uid: str
    seq: int
    outcome: Outcome[Any]


@dataclass(frozen=True)
class NodeFactsRead:
    outcome: Outcome[Any]


@dataclass(frozen=True)
class ContainersCollected:
    outcome: Outcome[Any]


@dataclass(frozen=True)
class ImagesCollected:
    outcome: Outcome[Any]
