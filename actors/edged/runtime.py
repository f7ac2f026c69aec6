"""The narrow Docker adapter: the docker SDK (7.2) behind :class:`ContainerRuntime`.

Every call blocks, so the actor makes them only through ``module_run_in_background``. Clients
are made on first use, not in ``__init__``: the SDK asks the daemon for its API version when a
client is built (we leave the version unset, ENVIRONMENT.md), and edged must start while the
daemon is down. Library errors become :mod:`actors.edged.errors` here, at the edge.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from typing import Any

import docker
import docker.errors
import requests
from docker.types import Mount as DockerMount

from actors.edged.errors import ContainerNotFoundError, ContainerRuntimeError, ImagePullError, RuntimeUnavailableError
from actors.edged.images import parse_image_ref
from actors.edged.model import (
    NODE_ID_LABEL,
    TERMINATION_MESSAGE_PATH_LABEL,
    TERMINATION_MESSAGE_POLICY_LABEL,
    ContainerConfig,
    ContainerEvent,
    ContainerInfo,
    ContainerSummary,
    ExecResult,
    ImageInfo,
    RegistryAuth,
)

logger = logging.getLogger(__name__)

#: Docker actions that change what edged reports; the rest (exec_*, attach...) are noise.
WATCHED_ACTIONS = frozenset({"create", "start", "die", "destroy", "oom", "pause", "unpause", "restart"})


@contextmanager
def _converted(what: str) -> Iterator[None]:
    try:
        yield
    except docker.errors.NotFound as exc:
        raise ContainerNotFoundError(f"{what}: {exc.explanation or exc}") from exc
    except docker.errors.APIError as exc:
        raise ContainerRuntimeError(f"{what}: {exc.explanation or exc}") from exc
    except (requests.exceptions.ConnectionError, docker.errors.DockerException, OSError) as exc:
        raise RuntimeUnavailableError(f"{what}: Docker is not reachable: {exc}") from exc
    except requests.exceptions.RequestException as exc:
        raise RuntimeUnavailableError(f"{what}: {exc}") from exc


class DockerContainerRuntime:
    """Docker through the SDK's low-level client; sees only containers of ``node_id``.

    Args:
        base_url: the daemon endpoint (``edged.docker-address``).
        node_id: value of the node-id label on every container edged makes.
        timeout_s: per-request timeout (docs/protocol.md#7.2: 2 min); a stop adds its grace period.
        max_pool_size: connections kept to the daemon (one per worker thread).
    """

    def __init__(self, base_url: str, node_id: str, *, timeout_s: float = 120.0, max_pool_size: int = 16) -> None:
        self.base_url = base_url
        self.node_id = node_id
        self.timeout_s = timeout_s
        self.max_pool_size = max_pool_size
        self._lock = threading.Lock()
        self._client: docker.APIClient | None = None
        self._watches: set[_EventWatch] = set()

    @property
    def node_filter(self) -> dict[str, Any]:
        return {"label": f"{NODE_ID_LABEL}={self.node_id}"}

    def _api(self) -> docker.APIClient:
        with self._lock:
            client = self._client
        if client is not None:
            return client
        # Built outside the lock: building asks the daemon for its version, and a hung daemon
        # must not hold up watch_events and close, which the actor calls on its own thread.
        with _converted("connect"):
            client = self.new_client()
        with self._lock:
            if self._client is None:
                self._client = client
                return client
            kept = self._client  # another worker connected meanwhile
        client.close()
        return kept

    def new_client(self) -> docker.APIClient:
        return docker.APIClient(base_url=self.base_url, timeout=self.timeout_s, max_pool_size=self.max_pool_size)

    # --- daemon ---------------------------------------------------------------------------

    def version(self) -> str:
        with _converted("version"):
            return str(self._api().version()["Version"])

    def root_dir(self) -> str:
        with _converted("info"):
            return str(self._api().info().get("DockerRootDir", "/var/lib/docker"))

    # --- containers -----------------------------------------------------------------------

    def list_containers(self) -> list[ContainerSummary]:
        with _converted("list containers"):
            rows = self._api().containers(all=True, filters=self.node_filter)
        return [ContainerSummary(row["Id"], row.get("Labels") or {}, row.get("State", "")) for row in rows]

    def inspect_container(self, container_id: str) -> ContainerInfo | None:
        try:
            with _converted(f"inspect {container_id[:12]}"):
                data = self._api().inspect_container(container_id)
        except ContainerNotFoundError:
            return None
        info = container_info(data)
        if info.status in ("exited", "dead"):
            info = replace(info, termination_message=self._termination_message(info, data))
        return info

    def _termination_message(self, info: ContainerInfo, data: dict[str, Any]) -> str:
        """docs/protocol.md#7.8: what the container wrote to its terminationMessagePath (the host
        file edged bound there), or with FallbackToLogsOnError and a failure, its last log lines."""
        path = info.labels.get(TERMINATION_MESSAGE_PATH_LABEL, "")
        source = next((m.get("Source", "") for m in data.get("Mounts") or [] if isinstance(m, dict) and m.get("Destination") == path), "")
        message = ""
        if path and source:
            try:
                with open(source, "rb") as stream:
                    message = stream.read(TERMINATION_MESSAGE_LIMIT).decode("utf-8", errors="replace")
            except OSError:
                message = ""
        fallback = info.labels.get(TERMINATION_MESSAGE_POLICY_LABEL) == "FallbackToLogsOnError"
        if not message and fallback and (info.exit_code != 0 or info.error):
            with suppress(ContainerRuntimeError), _converted(f"logs {info.id[:12]}"):
                tail = self._api().logs(info.id, stdout=True, stderr=True, tail=FALLBACK_LOG_LINES)
                message = tail[-FALLBACK_LOG_BYTES:].decode("utf-8", errors="replace")
        return message

    def create_container(self, config: ContainerConfig) -> str:
        api = self._api()
        with _converted(f"create {config.name}"):
            host_config = api.create_host_config(
                network_mode="host",  # docs/protocol.md#7.2: every container of a pod shares the host's network
                mounts=[DockerMount(m.target, m.source, type="bind", read_only=m.read_only) for m in config.mounts],
                privileged=config.privileged,
                cpu_shares=config.cpu_shares,
                cpu_quota=config.cpu_quota,
                cpu_period=config.cpu_period,
                mem_limit=config.memory_limit,
            )
            created = api.create_container(
                config.image,
                command=list(config.command) if config.command is not None else None,
                entrypoint=list(config.entrypoint) if config.entrypoint is not None else None,
                environment=list(config.env),
                labels={**config.labels, NODE_ID_LABEL: self.node_id},
                name=config.name,
                working_dir=config.working_dir,
                tty=config.tty,
                stdin_open=config.stdin_open,
                user=config.user,
                host_config=host_config,
            )
        return str(created["Id"])

    def start_container(self, container_id: str) -> None:
        with _converted(f"start {container_id[:12]}"):
            self._api().start(container_id)

    def stop_container(self, container_id: str, grace_s: float) -> None:
        # Docker sends the stop signal (SIGTERM unless the image says otherwise), waits the
        # grace period, then kills; the SDK adds the grace period to the request timeout.
        with _converted(f"stop {container_id[:12]}"):
            self._api().stop(container_id, timeout=max(0, round(grace_s)))

    def remove_container(self, container_id: str) -> None:
        with _converted(f"remove {container_id[:12]}"):
            self._api().remove_container(container_id, v=True, force=True)

    def exec_command(self, container_id: str, command: tuple[str, ...], timeout_s: float) -> ExecResult:
        """Run ``command`` in the container (a probe, a hook) and wait at most ``timeout_s``.

        The SDK's ``exec_start`` takes no timeout (only the client's, 2 min): the start is
        posted here with the probe's timeout, and without the upgrade ``exec_start`` asks for,
        so the output is a plain response body (Docker's multiplexed frames) read until the
        command ends. A command that outlives the timeout keeps running, as with the kubelet.
        """
        api = self._api()
        what = f"exec in {container_id[:12]}"
        deadline = time.monotonic() + timeout_s
        with _converted(what):
            exec_id = api.exec_create(container_id, list(command), stdout=True, stderr=True)["Id"]
        output = bytearray()
        try:
            with _converted(what):
                url = f"{api.base_url}/v{api.api_version}/exec/{exec_id}/start"
                with api.post(url, json={"Detach": False, "Tty": False}, stream=True, timeout=max(timeout_s, 0.05)) as response:
                    if response.status_code >= 400:
                        raise ContainerRuntimeError(f"{what}: {response.status_code} {response.text[:200]}")
                    for chunk in response.iter_content(4096):
                        if len(output) < EXEC_OUTPUT_LIMIT:
                            output += chunk
                        if time.monotonic() > deadline:
                            return ExecResult(None, _demux(output), timed_out=True)
        except RuntimeUnavailableError:
            # requests reports a read timeout while streaming as a ConnectionError: the clock says which
            if time.monotonic() >= deadline - 0.05:
                return ExecResult(None, _demux(output), timed_out=True)
            raise
        with _converted(what):
            exit_code = api.exec_inspect(exec_id).get("ExitCode")
        return ExecResult(exit_code if isinstance(exit_code, int) else None, _demux(output))

    # --- images ---------------------------------------------------------------------------

    def image_present(self, image: str) -> bool:
        return self.image_id(image) is not None

    def image_id(self, image: str) -> str | None:
        try:
            with _converted(f"inspect image {image}"):
                return str(self._api().inspect_image(image)["Id"])
        except ContainerNotFoundError:
            return None

    def pull_image(self, image: str, auth: RegistryAuth | None) -> None:
        ref = parse_image_ref(image)
        auth_config = {"username": auth.username, "password": auth.password, "serveraddress": auth.server} if auth else None
        try:
            with _converted(f"pull {image}"):
                # The daemon reports many failures inside a 200 stream: read it to the end.
                for line in self._api().pull(ref.repository, tag=ref.tag_or_digest, stream=True, decode=True, auth_config=auth_config):
                    if isinstance(line, dict) and line.get("error"):
                        raise ImagePullError(f"pull {image}: {line['error']}")
        except RuntimeUnavailableError:
            raise
        except ContainerRuntimeError as exc:
            raise ImagePullError(str(exc)) from exc

    def used_image_ids(self) -> set[str]:
        with _converted("list all containers"):
            return {row.get("ImageID", "") for row in self._api().containers(all=True)}

    def list_images(self) -> list[ImageInfo]:
        with _converted("list images"):
            return [ImageInfo(row["Id"], tuple(row.get("RepoTags") or ())) for row in self._api().images()]

    def remove_image(self, image: str) -> None:
        with _converted(f"remove image {image}"):
            self._api().remove_image(image)

    # --- events ---------------------------------------------------------------------------

    def watch_events(
        self,
        on_open: Callable[[], None],
        on_event: Callable[[ContainerEvent], None],
        on_end: Callable[[str], None],
    ) -> _EventWatch:
        """Follow Docker's events for this node's containers on a thread of their own.

        ``on_open`` runs once the stream is open, ``on_event`` for each watched event and
        ``on_end(reason)`` once when the stream ends (not after :meth:`_EventWatch.close`).
        They run on the watch thread: they must only hand over.
        """
        watch = _EventWatch(self, on_open, on_event, on_end)
        with self._lock:
            self._watches = {w for w in self._watches if w.is_alive()} | {watch}
        watch.start()
        return watch

    def forget_connections(self) -> None:
        """Docker went away: close the pooled connections to it (each holds a descriptor and
        would only be found dead when reused); the next call connects afresh."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def close(self) -> None:
        with self._lock:
            watches, self._watches = self._watches, set()
        for watch in watches:
            watch.close()
        self.forget_connections()


class _EventWatch(threading.Thread):
    """One connection to ``/events``; a new one is made for each reconnect."""

    def __init__(
        self,
        runtime: DockerContainerRuntime,
        on_open: Callable[[], None],
        on_event: Callable[[ContainerEvent], None],
        on_end: Callable[[str], None],
    ) -> None:
        super().__init__(name="edged-docker-events", daemon=True)
        self._runtime = runtime
        self._on_open = on_open
        self._on_event = on_event
        self._on_end = on_end
        self._closed = threading.Event()
        self._stream: Any = None
        self._client: docker.APIClient | None = None

    def run(self) -> None:
        reason = "event stream ended"
        try:
            # A client of its own: the stream holds its connection for as long as it lives.
            self._client = self._runtime.new_client()
            self._stream = self._client.events(decode=True, filters={"type": "container", **self._runtime.node_filter})
            if self._closed.is_set():
                return
            self._on_open()
            for raw in self._stream:
                event = _container_event(raw)
                if event is not None:
                    self._on_event(event)
        except Exception as exc:  # any failure ends this watch; the actor reconnects
            reason = f"event stream failed: {exc}"
        finally:
            self._close_connection()
        if not self._closed.is_set():
            self._runtime.forget_connections()  # the stream ended: the daemon went away
            self._on_end(reason)

    def close(self) -> None:
        self._closed.set()
        self._close_connection()

    def _close_connection(self) -> None:
        stream, self._stream = self._stream, None
        client, self._client = self._client, None
        try:
            if stream is not None:
                stream.close()
        except Exception:  # closing a broken stream may fail; it is gone either way
            logger.debug("edged: closing the docker event stream failed", exc_info=True)
        if client is not None:
            client.close()


#: The kubelet's limits on a termination message: the file's first 4 KiB, or the logs' last
#: 80 lines and 2 KiB.
TERMINATION_MESSAGE_LIMIT = 4096
FALLBACK_LOG_LINES = 80
FALLBACK_LOG_BYTES = 2048
#: How much of a probe's or hook's output is kept (the kubelet keeps 10 KiB too).
EXEC_OUTPUT_LIMIT = 10 * 1024


def _demux(raw: bytes | bytearray) -> str:
    """The text of Docker's multiplexed stream (8-byte frame headers: stream, 0, 0, 0, size)."""
    text, at = bytearray(), 0
    while at + 8 <= len(raw) and raw[at] in (0, 1, 2) and raw[at + 1 : at + 4] == b"\0\0\0":
        size = int.from_bytes(raw[at + 4 : at + 8], "big")
        text += raw[at + 8 : at + 8 + size]
        at += 8 + size
    if at == 0:
        text = bytearray(raw)  # not framed (a tty)
    return text.decode("utf-8", errors="replace")


def _container_event(raw: Any) -> ContainerEvent | None:
    if not isinstance(raw, dict) or raw.get("Type", "container") != "container":
        return None
    action = str(raw.get("Action") or raw.get("status") or "")
    actor = raw.get("Actor") or {}
    container_id = str(raw.get("id") or actor.get("ID") or "")
    if action not in WATCHED_ACTIONS or not container_id:
        return None
    return ContainerEvent(container_id, action, str((actor.get("Attributes") or {}).get("name") or ""))


def container_info(data: dict[str, Any]) -> ContainerInfo:
    """Convert ``docker inspect`` output."""
    state = data.get("State") or {}
    config = data.get("Config") or {}
    return ContainerInfo(
        id=str(data["Id"]),
        name=str(data.get("Name", "")).lstrip("/"),
        labels=dict(config.get("Labels") or {}),
        image=str(config.get("Image", "")),
        image_id=str(data.get("Image", "")),
        status=str(state.get("Status", "")),
        exit_code=int(state.get("ExitCode") or 0),
        error=str(state.get("Error") or ""),
        oom_killed=bool(state.get("OOMKilled")),
        created_at=str(data.get("Created", "")),
        started_at=str(state.get("StartedAt", "")),
        finished_at=str(state.get("FinishedAt", "")),
    )


__all__ = ["WATCHED_ACTIONS", "DockerContainerRuntime", "container_info"]
