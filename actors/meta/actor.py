"""The metaManager: the edge's metadata in SQLite, so the edge works on while the cloud is away."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any

from actors.keys import EDGE_KEYS
from actors.meta.content import (
    REMOTE_TYPES,
    MetaRejected,
    decode_value,
    encode_value,
    pod_key_of_status,
    target_of,
)
from actors.meta.store import MetaStorage, MetaStore
from actors.protocol import (
    NODE_CONNECTION_RESOURCE,
    STREAM_OPERATIONS,
    CloudGroup,
    CloudState,
    Group,
    Module,
    Operation,
    Resource,
    ResourceType,
    cloud_connected,
    cloud_connection_view,
    is_cloud_away_reply,
)
from kubeedge_actors import Config, Message, ModuleActor, Router, handles
from kubeedge_actors.metrics import labelled

logger = logging.getLogger(__name__)

CONTROLLER = "controller"  # source of the cloud's pushes (docs/protocol.md#9.2)
MAX_BATCH_WRITES = 500


@dataclass(frozen=True)
class MetaSettings:
    """What meta reads from the configuration, once.

    Attributes:
        database, journal_mode: ``database.source`` and ``database.journal-mode``.
        edgesite: ``metamanager.edgesite``: the cloud counts as connected until the hub says otherwise.
        remote_query_timeout_s: how long a question to the cloud waits for its answer. The
            original waits 60 s (docs/protocol.md#6.3), but its hub drops the reply keeper after
            one heartbeat (docs/protocol.md#3.8): a later answer never reached it. So one
            ``edgehub.controller.heartbeat``, and edged gets its answer well within its own timeout.
        resync_interval_s: ``meta.sync.podstatus.interval``.
        max_batch_writes: writes committed together at most.
    """

    database: Path
    journal_mode: str
    edgesite: bool
    remote_query_timeout_s: float
    resync_interval_s: float
    max_batch_writes: int = MAX_BATCH_WRITES

    @classmethod
    def from_config(cls, config: Config) -> MetaSettings:
        return cls(
            database=config.path("database.source"),
            journal_mode=config["database.journal-mode"],
            edgesite=config["metamanager.edgesite"],
            remote_query_timeout_s=config["edgehub.controller.heartbeat"],
            resync_interval_s=config["meta.sync.podstatus.interval"],
        )


@dataclass(frozen=True, slots=True)
class FlushWrites:
    """Commit the open batch: every write the mailbox held before this marker is in it."""


@dataclass(frozen=True, slots=True)
class ResyncPodStatus:
    """Timer tick: send the stored pod statuses to the cloud (docs/protocol.md#6.4)."""


@dataclass(frozen=True, slots=True)
class _Outgoing:
    """A send that waits for the batch's commit; ``module`` None means ``send_resp``."""

    module: str | None
    message: Message


class MetaActor(ModuleActor):
    """Stores what the cloud and edged send in the ``meta`` table and answers queries (docs/protocol.md#6).

    Consumes:
        - ``insert`` / ``update`` / ``delete`` / ``response`` on ``<ns>/<type>/<name>``, from
          the cloud (source ``controller``, group ``resource``) and from edged (source
          ``edged``, group ``meta``: ``update`` on ``<ns>/podstatus/<pod>`` and
          ``<ns>/nodestatus/<node>``, usually sync). ``insert`` never overwrites; ``update``
          and ``response`` replace; ``delete`` removes by key.
        - ``query`` on ``<ns>/<type>/<name>`` (by key) or ``<ns>/<type>`` (every row of the
          type, all namespaces), usually sync.
        - ``publish`` on ``node/connection`` from the hub: ``cloud_connected`` /
          ``cloud_disconnected``: the cue to act on the hub's ``CloudConnectionView`` (the one
          word on the connection; meta keeps no flag of its own, and reads it at start too).
        - ``meta-internal-sync``: resync pod statuses now.
        - ``stream_*`` (logs and exec, docs/protocol.md#9.5): forwarded to ``edged`` unchanged,
          never stored.
    Produces (every write is committed before anything about it is sent):
        - to ``edged``: the cloud's insert/update/delete/response, unchanged
          (``send_resp`` instead when the message is sync).
        - to ``websocket``: ``msg.reply("OK")`` for each cloud insert/update/delete; edged's
          status updates, unchanged; remote queries (a copy of a query with a new id, by
          ``send_sync``) for a configmap/secret missing locally while connected; every
          ``meta.sync.podstatus.interval`` s while connected, one ``update`` per namespace on
          ``<ns>/podstatus`` whose content is the array of that namespace's statuses.
        - to the requester (``send_resp`` for sync requests, else ``edged`` when it asked,
          else ``websocket``): query answers (``response``, source ``metaManager``, content
          a JSON array of the stored JSON strings, ``[]`` when nothing matches), ``"OK"`` to
          edged's updates, and ``error`` replies to bad sync requests.
    """

    module_name = Module.META
    module_group = Group.META
    module_config_keys = EDGE_KEYS

    def __init__(
        self,
        router: Router,
        config: Config | None = None,
        *,
        store: MetaStorage | None = None,
        remote_query_timeout_s: float | None = None,
        max_batch_writes: int = MAX_BATCH_WRITES,
        **kwargs: str | None,
    ) -> None:
        super().__init__(router, config, **kwargs)
        settings = MetaSettings.from_config(self.module_config)
        self.settings = settings = replace(
            settings, remote_query_timeout_s=remote_query_timeout_s or settings.remote_query_timeout_s, max_batch_writes=max_batch_writes
        )
        self.store: MetaStorage = store if store is not None else MetaStore(settings.database, settings.journal_mode)
        self._cloud = cloud_connection_view(router)
        self._acted_on: CloudState | None = None  # the hub's state this actor last acted on
        self._outgoing: list[_Outgoing] = []
        self._batch_writes = 0
        self._flush_told = False
        self._remote_waiting: dict[str, list[Message]] = {}
        self._crashed = False
        # Counters, for the metrics endpoint.
        self.writes = 0
        self.commits = 0
        self.remote_queries = 0
        self.remote_queries_unanswered = 0
        self._writes: dict[str, Callable[[Message, Resource, str | None], None]] = {
            Operation.INSERT: self._insert,
            Operation.UPDATE: self._update,
            Operation.DELETE: self._delete,
            Operation.RESPONSE: self._store_response,
        }

    # --- lifecycle --------------------------------------------------------------------------

    def on_start(self) -> None:
        self.store.open()
        self.module_tell_every(self.settings.resync_interval_s, ResyncPodStatus())
        logger.info("meta: serving; cloud %s", "connected (edge site)" if self.connected else "not connected yet")
        self._act_on_connection("start")  # after a restart the hub may be connected already

    def on_stop(self) -> None:
        if self._crashed:
            # Nothing in the open batch was acknowledged: it goes with the crash (close rolls back).
            self._outgoing.clear()
        else:
            self._flush()
        self.store.close()
        super().on_stop()

    def on_failure(
        self, exception_type: type[BaseException] | None, exception_value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._crashed = True
        super().on_failure(exception_type, exception_value, traceback)  # runs on_stop

    # --- dispatch ---------------------------------------------------------------------------

    def handle_message(self, message: Message) -> None:
        if message.operation in STREAM_OPERATIONS:
            # docs/architecture.md#4.8: logs and exec pass through to edged, never stored.
            self.module_router.send(Module.EDGED, message)
            return
        write = self._writes.get(message.operation)
        if write is not None:
            self._batched(write, message)
            return
        self._flush()  # whatever else happens sees, and is sent after, every earlier write
        if message.operation == Operation.QUERY:
            self._query(message)
        elif message.operation == Operation.PUBLISH:
            self._publish(message)
        elif message.operation == Operation.META_INTERNAL_SYNC:
            self._resync_pod_status()
        else:
            raise MetaRejected(f"unknown operation {message.operation!r}")

    @handles(FlushWrites)
    def _on_flush_writes(self, _: FlushWrites) -> None:
        self._flush_told = False
        self._flush()

    @handles(ResyncPodStatus)
    def _on_resync_pod_status(self, _: ResyncPodStatus) -> None:
        self._flush()
        self._resync_pod_status()

    # --- batched writes ---------------------------------------------------------------------

    def _batched(self, write: Callable[[Message, Resource, str | None], None], message: Message) -> None:
        """Apply one write inside the open batch; its sends wait for the commit."""
        target = target_of(message, name_required=True)
        # Checked before the batch is touched: bad input changes nothing stored.
        value = None if message.operation == Operation.DELETE else encode_value(message.content)
        if not self.store.in_batch:
            self.store.begin()
        write(message, target, value)
        self._batch_writes += 1
        self.writes += 1
        if self._batch_writes >= self.settings.max_batch_writes:
            self._flush()
        elif not self._flush_told:
            # Lands behind what the mailbox holds now: all of that joins this batch.
            self._flush_told = True
            self.module_tell_self(FlushWrites())

    def _flush(self) -> None:
        """Commit the batch, then send what its writes produced, in order."""
        if self.store.in_batch:
            self.store.commit()
            self.commits += 1
            logger.debug("meta: committed %d writes", self._batch_writes)
        self._batch_writes = 0
        outgoing, self._outgoing = self._outgoing, []
        for item in outgoing:
            if item.module is None:
                self.module_router.send_resp(item.message)
            else:
                self.module_router.send(item.module, item.message)

    def _after_commit(self, module: str | None, message: Message) -> None:
        self._outgoing.append(_Outgoing(module, message))

    # --- the operations of docs/protocol.md#6.2 ---------------------------------------------

    def _insert(self, message: Message, target: Resource, value: str | None) -> None:
        assert value is not None
        if not self.store.save(target.key, target.type, value):
            logger.debug("meta: %s insert of stored %s kept the stored row (docs/protocol.md#6.2)", message.id, target.key)
        self._to_edged(message)
        self._after_commit(Module.HUB, message.reply("OK"))

    def _update(self, message: Message, target: Resource, value: str | None) -> None:
        assert value is not None
        if target.type == ResourceType.PODSTATUS and self.store.get(target.key) == value:
            self._reply_to_edged(message, "OK")  # docs/protocol.md#6.2: an unchanged pod status goes no further
            return
        self.store.upsert(target.key, target.type, value)
        if message.source == Module.EDGED:
            # The forwarded copy keeps its id and sync flag: answer edged's waiter first, so a
            # cloud reply to that copy can never take the place of meta's "OK".
            self._reply_to_edged(message, "OK")
            self._after_commit(Module.HUB, message)
        elif message.source == CONTROLLER:
            self._to_edged(message)
            self._after_commit(Module.HUB, message.reply("OK"))
        # any other source: stored only (docs/protocol.md#6.2)

    def _delete(self, message: Message, target: Resource, _value: str | None) -> None:
        self.store.delete(target.key)
        self._to_edged(message)
        self._after_commit(Module.HUB, message.reply("OK"))

    def _store_response(self, message: Message, target: Resource, value: str | None) -> None:
        assert value is not None
        self.store.upsert(target.key, target.type, value)
        if message.source == CONTROLLER:  # docs/protocol.md#6.2, v1.0.0
            self._to_edged(message)
        else:
            self._after_commit(Module.HUB, message)

    def _to_edged(self, message: Message) -> None:
        self._after_commit(None if message.is_sync else Module.EDGED, message)

    def _reply_to_edged(self, request: Message, content: Any) -> None:
        self._after_commit(None if request.is_sync else Module.EDGED, request.reply(content))

    # --- queries (docs/protocol.md#6.3) -----------------------------------------------------

    def _query(self, message: Message) -> None:
        target = target_of(message, name_required=False)
        values = self._local_values(target)
        if not values and target.name and target.type in REMOTE_TYPES and self.connected:
            self._query_cloud(message, target)
            return
        self._answer(message, values)

    def _local_values(self, target: Resource) -> list[str]:
        if not target.name:
            # docs/protocol.md#6.3: by type across all namespaces; edged's start-up query relies on it.
            return self.store.values_of_type(target.type)
        value = self.store.get(target.key)
        return [] if value is None else [value]

    def _answer(self, request: Message, values: list[str]) -> None:
        self._send_to_requester(request, request.reply(values).with_route(source=Module.META))

    def _send_to_requester(self, request: Message, reply: Message) -> None:
        if request.is_sync:
            self.module_router.send_resp(reply)
        elif request.source == Module.EDGED:
            self.module_router.send(Module.EDGED, reply)
        else:
            self.module_router.send(Module.HUB, reply)

    def _query_cloud(self, request: Message, target: Resource) -> None:
        """Ask the cloud for a missing configmap/secret; one question per key in flight."""
        waiting = self._remote_waiting.get(target.key)
        if waiting is not None:
            waiting.append(request)
            return
        self._remote_waiting[target.key] = [request]
        self.remote_queries += 1
        copy = request.clone()  # docs/protocol.md#6.3: a copy with a new id
        logger.debug("meta: %s asks the cloud for %s as %s", request.id, target.key, copy.id)
        future = self.module_router.send_sync(Module.HUB, copy, self.settings.remote_query_timeout_s)
        self.module_on_reply(future, lambda reply, error: self._on_cloud_answer(target, copy, reply, error))

    def _on_cloud_answer(self, target: Resource, copy: Message, reply: Message | None, error: BaseException | str | None) -> None:
        self._flush()
        waiting = self._remote_waiting.pop(target.key, [])
        if reply is not None and is_cloud_away_reply(reply):
            error = reply.content  # the cloud went away before the hub took the question
            reply = None
        if reply is not None and reply.operation == Operation.RESPONSE:
            try:
                value = encode_value(reply.content)
            except MetaRejected as rejected:
                logger.warning("meta: the cloud's answer %s for %s cannot be stored: %s", reply.id, target.key, rejected)
                for request in waiting:
                    self._send_to_requester(request, request.error_reply(f"meta: the cloud's answer for {target.key}: {rejected}"))
                return
            self.store.upsert(target.key, target.type, value)
            for request in waiting:
                self._answer(request, [value])  # docs/protocol.md#6.3 item 4 fixed: the shape of a local answer
            return
        if reply is not None:
            logger.warning("meta: the cloud answered %s for %s with %s", copy.id, target.key, reply.operation)
            for request in waiting:
                reason = f"meta: the cloud answered the query for {target.key} with {reply.operation}: {reply.content}"
                self._send_to_requester(request, request.error_reply(reason))
            return
        # No answer (the cloud sends nothing for an object it does not have) or no hub:
        # answer from SQLite, as if disconnected; usually [] (a push may have come meanwhile).
        self.remote_queries_unanswered += 1
        logger.info("meta: no answer from the cloud for %s (%s); answering locally", target.key, error)
        values = self._local_values(target)
        for request in waiting:
            self._answer(request, values)

    # --- metrics ----------------------------------------------------------------------------

    def module_metrics(self) -> dict[str, float]:
        """Rows stored per type, writes and commits, and the questions put to the cloud."""
        figures = {labelled("rows", type=resource_type): float(count) for resource_type, count in self.store.count_by_type().items()}
        figures.update(
            {
                "writes_total": float(self.writes),
                "commits_total": float(self.commits),
                "remote_queries_total": float(self.remote_queries),
                "remote_queries_unanswered_total": float(self.remote_queries_unanswered),
                "remote_queries_waiting": float(len(self._remote_waiting)),
                "cloud_connected": 1.0 if self.connected else 0.0,
            }
        )
        return figures

    # --- connection events and pod-status resync --------------------------------------------

    @property
    def connected(self) -> bool:
        """The hub's word on the cloud connection; ``metamanager.edgesite`` until the hub has spoken."""
        state = self._cloud.state
        return self.settings.edgesite if state is None else state.connected

    def _publish(self, message: Message) -> None:
        if message.resource != NODE_CONNECTION_RESOURCE:
            raise MetaRejected(f"cannot publish on {message.resource!r}: only {NODE_CONNECTION_RESOURCE!r}")
        cloud_connected(message.content)  # a bad event is refused; what it says, the hub's view says
        self._act_on_connection(f"event {message.id}")

    def _act_on_connection(self, cue: str) -> None:
        """Act once on each change of the hub's state: an event heard twice (the original sends
        each twice, docs/protocol.md#3.9) or late, or meta's own start, changes nothing more."""
        state, previous = self._cloud.state, self._acted_on
        if state is None or state == previous:
            return
        self._acted_on = state
        if state.connected == (self.settings.edgesite if previous is None else previous.connected):
            return
        logger.info("meta: cloud %s (%s)", "connected" if state.connected else "disconnected", cue)
        if state.connected:
            self._resync_pod_status()  # what changed while away, without waiting for the tick

    def _resync_pod_status(self) -> None:
        """docs/protocol.md#6.4, fixed: drop statuses of pods that are gone; one update per namespace."""
        pods = self.store.keys_of_type(ResourceType.POD)
        statuses: list[tuple[str, str]] = []
        orphans: list[str] = []
        for key, value in self.store.items_of_type(ResourceType.PODSTATUS):
            pod_key = pod_key_of_status(key)
            if pod_key is None:
                continue  # not <ns>/podstatus/<pod>: not ours to judge
            if pod_key in pods:
                statuses.append((key, value))
            else:
                orphans.append(key)
        if orphans:
            self.store.delete_many(orphans)
            logger.info("meta: dropped %d pod statuses of pods that no longer exist", len(orphans))
        if not self.connected:
            return  # sent on reconnection instead of piling up in the hub's queue
        by_namespace: dict[str, list[Any]] = defaultdict(list)
        for key, value in statuses:
            try:
                by_namespace[key.split("/", 1)[0]].append(decode_value(value))
            except ValueError:
                logger.warning("meta: stored pod status %s is not JSON; not sent", key)
        for namespace in sorted(by_namespace):
            update = Message.new(
                source=Module.META,
                group=CloudGroup.RESOURCE,
                operation=Operation.UPDATE,
                resource=f"{namespace}/{ResourceType.PODSTATUS}",
                content=by_namespace[namespace],
            )
            self.module_router.send(Module.HUB, update)


__all__ = ["MAX_BATCH_WRITES", "FlushWrites", "MetaActor", "ResyncPodStatus"]
