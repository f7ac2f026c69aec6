"""Small blocking jobs of the edged actor, run on its workers; they touch no actor state."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from actors.edged.model import ContainerInfo, ContainerNotFoundError, ContainerRuntime, ContainerSummary, RuntimeUnavailableError
from actors.edged.node import HostFacts, read_host_facts
from actors.edged.volumes import PodFiles


def list_and_inspect(
    runtime: ContainerRuntime, known: dict[str, str], next_seq: Callable[[], int]
) -> tuple[int, set[str], list[tuple[int, ContainerInfo]]]:
    """List this node's containers and inspect those that are new or changed state."""
    list_seq = next_seq()
    summaries: list[ContainerSummary] = runtime.list_containers()
    inspected = []
    for summary in summaries:
        if known.get(summary.id) != summary.status:
            seq = next_seq()
            info = runtime.inspect_container(summary.id)
            if info is not None:
                inspected.append((seq, info))
    return list_seq, {s.id for s in summaries}, inspected


def read_node(runtime: ContainerRuntime, interface: str) -> tuple[HostFacts, str | None, str]:
    """The host's facts, and Docker's version or why it did not answer."""
    facts = read_host_facts(interface)
    try:
        return facts, runtime.version(), ""
    except RuntimeUnavailableError as exc:
        return facts, None, str(exc)


def collect_containers(runtime: ContainerRuntime, files: PodFiles, doomed: list[str], keep_dirs: set[str]) -> tuple[list[str], list[str]]:
    removed = []
    for container_id in doomed:
        with contextlib.suppress(ContainerNotFoundError):
            runtime.remove_container(container_id)
        removed.append(container_id)
    orphans = sorted(files.pod_uids() - keep_dirs)
    for uid in orphans:
        files.remove_pod(uid)
    return removed, orphans


__all__ = ["collect_containers", "list_and_inspect", "read_node"]
