"""List + watch of one kind through the official ``kubernetes`` client, on a thread of its own
(docs/architecture.md#1.5).

The thread only converts and hands over: a full list becomes :class:`Listed` (every object of
the kind, so the owner can tell what went while nobody watched), each watch event a
:class:`Watched`. It keeps the last resourceVersion it saw and watches on from it; a ``410
Gone`` (the server's window passed it, or the server restarted) lists again; an unreachable or
failing server is tried again with a doubling back-off (0.2 s to 10 s).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import kubernetes.client
from kubernetes.client.exceptions import ApiException

from kubeedge_actors.errors import KubeEdgeActorsError

logger = logging.getLogger(__name__)

Obj = dict[str, Any]
#: How long one watch request lasts on the server before the watcher asks again.
WATCH_SECONDS = 50
_BACKOFF_FIRST_S = 0.2
_BACKOFF_MAX_S = 10.0


class WatchError(KubeEdgeActorsError):
    """The server ended a watch with an ``ERROR`` event (its ``Status``: code and reason)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Listed:
    """Every object of ``kind`` at ``resource_version``."""

    kind: str
    objects: tuple[Obj, ...]


@dataclass(frozen=True, slots=True)
class Watched:
    """One watch event: ``type`` ADDED, MODIFIED or DELETED."""

    kind: str
    type: str
    obj: Obj


WatchEvent = Listed | Watched
#: ``list(**kwargs)`` of the official client for one kind (``watch=True`` among the kwargs to watch).
ListCall = Callable[..., Any]


#: The kinds of ``devices.kubeedge.io/v1alpha1`` (docs/protocol.md#11.1), by plural.
DEVICE_PLURALS = {"Device": "devices", "DeviceModel": "devicemodels"}
DEVICE_GROUP, DEVICE_VERSION = "devices.kubeedge.io", "v1alpha1"


def list_call(api_client: kubernetes.client.ApiClient, kind: str) -> ListCall:
    """The official client's list-all-namespaces call of a kind."""
    if kind in DEVICE_PLURALS:
        custom = kubernetes.client.CustomObjectsApi(api_client)
        plural = DEVICE_PLURALS[kind]
        return lambda **kwargs: custom.list_cluster_custom_object(DEVICE_GROUP, DEVICE_VERSION, plural, **kwargs)
    core = kubernetes.client.CoreV1Api(api_client)
    calls: dict[str, ListCall] = {
        "Node": core.list_node,
        "Pod": core.list_pod_for_all_namespaces,
        "ConfigMap": core.list_config_map_for_all_namespaces,
        "Secret": core.list_secret_for_all_namespaces,
    }
    return calls[kind]


class Watcher:
    """Lists and watches ``kind`` between :meth:`start` and :meth:`stop`; ``hand_over`` gets the events."""

    def __init__(self, kind: str, call: ListCall, hand_over: Callable[[WatchEvent], None], *, api_version: str = "v1") -> None:
        self.kind = kind
        self.api_version = api_version
        self._call = call
        self._hand_over = hand_over
        self._stop = threading.Event()
        self._response: Any = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        #: Lists made (the first, and one per 410), and requests that failed otherwise: for tests and introspection.
        self.lists = 0
        self.failures = 0
        #: The resourceVersion to watch from: the last list's, then each event's (None: list first).
        self.version: str | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"kube-watch-{self.kind.lower()}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            response = self._response
        if response is not None:
            _interrupt(response)
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        backoff = _BACKOFF_FIRST_S
        while not self._stop.is_set():
            try:
                if self.version is None:
                    self.version = self._list()
                self._watch(self.version)
                backoff = _BACKOFF_FIRST_S
            except (ApiException, WatchError) as exc:
                if exc.status == 404 and self.version is None:
                    # The kind is not served (a cluster without the device CRDs): none of it, for now.
                    logger.info("kube-watch %s: not served (404); asking again in %.1f s", self.kind, _BACKOFF_MAX_S)
                    self._hand_over(Listed(self.kind, ()))
                    self._stop.wait(_BACKOFF_MAX_S)
                    continue
                if exc.status == 410:
                    logger.info("kube-watch %s: 410 Gone, listing again", self.kind)
                    self.version = None
                    continue
                logger.warning("kube-watch %s: %s %s; trying again in %.1f s", self.kind, exc.status, exc.reason, backoff)
                self.failures += 1
                backoff = self._pause(backoff)
            except Exception as exc:  # the server away or restarting: the same watch again after a pause
                if self._stop.is_set():
                    return
                logger.info("kube-watch %s: %s; trying again in %.1f s", self.kind, type(exc).__name__, backoff)
                self.failures += 1
                backoff = self._pause(backoff)

    def _pause(self, backoff: float) -> float:
        self._stop.wait(backoff)
        return min(backoff * 2, _BACKOFF_MAX_S)

    def _list(self) -> str:
        response = self._call(_preload_content=False, _request_timeout=30)
        body = json.loads(response.data)
        self.lists += 1
        items = tuple(_with_kind(item, self.kind, self.api_version) for item in body.get("items") or [])
        self._hand_over(Listed(self.kind, items))
        return str(body["metadata"]["resourceVersion"])

    def _watch(self, version: str) -> None:
        """Watch from ``version`` until the server ends the request; :attr:`version` follows each
        event, so a broken watch goes on from the last one handed over."""
        response = self._call(
            watch=True,
            resource_version=version,
            allow_watch_bookmarks=True,
            timeout_seconds=WATCH_SECONDS,
            _preload_content=False,
            _request_timeout=(10, WATCH_SECONDS + 10),
        )
        with self._lock:
            self._response = response
        try:
            for line in _lines(response):
                if self._stop.is_set():
                    break
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    raise WatchError(int(obj.get("code") or 500), str(obj.get("reason") or obj.get("message")))
                if kind in ("ADDED", "MODIFIED", "DELETED"):
                    self._hand_over(Watched(self.kind, kind, _with_kind(obj, self.kind, self.api_version)))
                self.version = str((obj.get("metadata") or {}).get("resourceVersion") or self.version)
        finally:
            with self._lock:
                self._response = None
            response.release_conn()


def _interrupt(response: Any) -> None:
    """End a read blocked on a quiet watch: closing the response alone does not wake it."""
    sock = getattr(getattr(response, "connection", None), "sock", None)
    try:
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed
    response.close()


def _lines(response: Any) -> Any:
    buffered = b""
    for chunk in response.stream(amt=None, decode_content=False):
        buffered += chunk
        *complete, buffered = buffered.split(b"\n")
        yield from (line for line in complete if line.strip())
    if buffered.strip():
        yield buffered


def _with_kind(obj: Obj, kind: str, api_version: str) -> Obj:
    """A list's items carry no kind; the edge's objects must (docs/protocol.md#12.2: v1.Pod etc.)."""
    obj.setdefault("apiVersion", api_version)
    obj.setdefault("kind", kind)
    return obj


__all__ = ["DEVICE_GROUP", "DEVICE_PLURALS", "DEVICE_VERSION", "Listed", "WatchError", "WatchEvent", "Watched", "Watcher", "list_call"]
