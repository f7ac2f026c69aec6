"""The edged actor: the mini-kubelet that runs the cloud's pods as Docker containers (docs/protocol.md#7).

How one pod moves, all on the actor's thread except the work in brackets::

    meta's pod ──► plan_pod (lifecycle.py) ──► [run_pod_sync on a worker: volumes, pull,
    Docker event ─┘      ▲                       create, start, stop; sync.py]
    slow listing ─┘      └──── PodSynced: observations applied, failures counted ◄─┘
                                   └──► pod status to meta when it changed (reporting.py)

This file is longer than the others on purpose: its handlers share the actor's state (the
pods meta gave, the containers Docker has, the work in flight); every decision that needs no
state is a pure function beside it (lifecycle, status, containers, pods, gc).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable
from functools import partial
from typing import Any, ClassVar

from actors.edged.events import (
    CollectContainers,
    CollectImages,
    ContainerChanged,
    ContainerInspected,
    ContainersCollected,
    ContainersListed,
    EventsEnded,
    EventsOpened,
    ImagesCollected,
    NodeFactsRead,
    PodSynced,
    Poll,
    QueryPods,
    ReconnectEvents,
    ReportNode,
    WakePod,
)
from actors.edged.gc import PulledImages, collect_images, dead_containers_to_remove, disk_usage_percent
from actors.edged.inventory import ContainerInventory
from actors.edged.jobs import collect_containers, list_and_inspect, read_node
from actors.edged.lifecycle import StartGates, plan_pod
from actors.edged.metaclient import MetaObjectSource, meta_request, query_objects
from actors.edged.model import ContainerRuntime, EventWatch, RuntimeUnavailableError
from actors.edged.node import interface_ipv4
from actors.edged.pods import ObjectRef, Pod, PodRejected, Problem, parse_pod, placed_by_containers
from actors.edged.reporting import NodeReports, PodReports, edged_figures
from actors.edged.runtime import DockerContainerRuntime
from actors.edged.server import PodListServer
from actors.edged.status import pod_status_body
from actors.edged.sync import ContainerOutcome, FetchObject, SyncContext, run_pod_sync
from actors.edged.timings import EdgedTimings
from actors.edged.volumes import PodFiles
from actors.keys import EDGE_KEYS
from actors.protocol import Group, Module, Operation, ResourceType, parse_edge_resource
from kubeedge_actors.actor import ModuleActor
from kubeedge_actors.backoff import Backoff
from kubeedge_actors.config import Config
from kubeedge_actors.errors import UnknownResourceError
from kubeedge_actors.handover import Handover
from kubeedge_actors.message import Message
from kubeedge_actors.router import Router
from kubeedge_actors.scheduler import TimerHandle

logger = logging.getLogger(__name__)


class EdgedActor(ModuleActor):
    """Runs the pods meta hands over as Docker containers and reports their status.

    Consumes:
        ``insert`` / ``update`` / ``delete`` on ``<ns>/pod/<name>`` (meta forwards the cloud's
        message, docs/architecture.md#4.3): run, update (a changed container spec recreates it; a deletionTimestamp
        stops it) or remove a pod.
        ``insert`` / ``update`` / ``delete`` on ``<ns>/configmap/<name>`` and
        ``<ns>/secret/<name>``: rewrite the volumes of the pods using it; a pod waiting for it
        starts at once.
        ``response`` on ``<ns>/pod`` that no waiter took: a pod list, each pod added.
    Produces (to ``metaManager``, all sync, docs/architecture.md#4.3):
        ``query <edged.register-node-namespace>/pod`` at start (retried with back-off);
        ``query <ns>/configmap/<name>`` and ``<ns>/secret/<name>`` for volumes and environment,
        ``<node ns>/secret/<name>`` for image pull secrets;
        ``update <ns>/podstatus/<pod>`` ``{"UID", "Name", "Status"}`` on every status change;
        ``update <node ns>/nodestatus/<hostname-override>`` ``{"UID", "Status",
        "ExtendResources"}`` every ``edged.node-status-update-frequency`` seconds.
    Serves ``GET http://127.0.0.1:<edged.server-port>/pods`` (0: off).
    Manages only containers labelled with its node id (docs/protocol.md#13.9).
    """

    module_name = Module.EDGED
    module_group = Group.EDGED
    module_config_keys = EDGE_KEYS
    module_worker_count = 10  # the original runs 5 addition and 5 deletion workers

    def __init__(
        self,
        router: Router,
        config: Config | None = None,
        *,
        runtime: ContainerRuntime | None = None,
        files: PodFiles | None = None,
        fetch_object: FetchObject | None = None,
        pulled_images: PulledImages | None = None,
        timings: EdgedTimings | None = None,
        clock: Callable[[], float] = time.time,
        disk_usage: Callable[[], float] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(router, config, **kwargs)
        cfg = self.module_config
        self.node_id: str = cfg["edgehub.controller.node-id"]
        self.node_name: str = cfg["edged.hostname-override"]
        self.node_namespace: str = cfg["edged.register-node-namespace"]
        self.timings = timings or EdgedTimings()
        root = cfg.path("edged.root-directory")
        self.runtime: ContainerRuntime = runtime or DockerContainerRuntime(cfg["edged.docker-address"], self.node_id)
        self.files = files or PodFiles(root)
        self.fetch_object: FetchObject = fetch_object or MetaObjectSource(router, self.timings.meta_timeout_s).fetch
        self.pulled_images = pulled_images or PulledImages(root / "images.json", clock)
        self._clock = clock
        self._disk_usage = disk_usage
        self.server_port = 0
        self._server: PodListServer | None = None
        self.host_ip = ""
        # Desired state, from meta.
        self._pods: dict[str, Pod] = {}
        self._uid_by_key: dict[str, str] = {}
        self._pods_loaded = False
        self._deleted: dict[str, float] = {}  # uid → grace period of a pod deleted, not yet cleaned
        self._refresh: set[str] = set()
        # Observed state, from Docker.
        self._inventory = ContainerInventory()
        self._inventory_ready = False
        self._listing = False
        self._list_again = False
        self._resync_after_listing = False
        self._docker_down = False
        # Work in flight and what it left behind.
        self._busy: set[str] = set()
        self._dirty: set[str] = set()
        self._gates = StartGates(
            self.timings.restart_backoff_initial_s, self.timings.restart_backoff_max_s, self.timings.restart_backoff_reset_s
        )
        self._failures: dict[str, dict[str, Problem]] = {}
        self._waiting: dict[str, dict[str, Problem]] = {}
        self._wakes: dict[str, tuple[float, TimerHandle]] = {}
        # Reports.
        self._reports = PodReports()
        self._node_reports = NodeReports()
        self._pods_query_backoff = Backoff(self.timings.pod_query_retry_initial_s, self.timings.pod_query_retry_max_s)
        self._events_backoff = Backoff(self.timings.events_reconnect_initial_s, self.timings.events_reconnect_max_s, jitter=0.2)
        self._events_generation = 0
        self._watch: EventWatch | None = None
        self._handover = Handover(self.module_tell_self, 1000, "edged: docker events")
        self._stopping = threading.Event()
        self._drops_seen = 0

    # --- lifecycle --------------------------------------------------------------------------

    def on_start(self) -> None:
        cfg = self.module_config
        self.host_ip = interface_ipv4(cfg["edged.interface-name"])
        if cfg["edged.server-port"]:
            self._server = PodListServer(cfg["edged.server-port"])
            self.server_port = self._server.start()
        self._watch_events()
        self._query_pods()
        timings = self.timings
        self.module_tell_every(timings.poll_interval_s, Poll())
        self.module_tell_self(ReportNode())
        self.module_tell_every(cfg["edged.node-status-update-frequency"], ReportNode())
        self.module_tell_every(timings.container_gc_interval_s, CollectContainers())
        self.module_tell_every(timings.image_gc_interval_s, CollectImages())
        logger.info("edged: started for node %s (pods under %s)", self.node_id, self.files.pods_dir)

    def on_stop(self) -> None:
        self._stopping.set()  # pod syncs under way start nothing new (sync.py)
        if self._watch is not None:
            self._watch.close()
            self._watch = None
        if self._server is not None:
            self._server.stop()
            self._server = None
        # Lets the running syncs end (a create, a start) before closing what they use; one
        # stuck in a pull is left behind, and the next start adopts what it made.
        super().on_stop()
        self.runtime.close()

    # --- messages from meta -----------------------------------------------------------------

    def handle_message(self, message: Message) -> None:
        resource = parse_edge_resource(message.resource)
        operation = message.operation
        if resource.type == ResourceType.POD:
            if not resource.name and operation == Operation.RESPONSE:
                self._pods_listed(query_objects(message), message.id)
            elif resource.name and operation in (Operation.INSERT, Operation.UPDATE):
                self._apply_pod(parse_pod(message.content, resource.namespace), message.id)
            elif resource.name and operation == Operation.DELETE:
                self._delete_pod(resource.namespace, resource.name, message)
            else:
                raise UnknownResourceError(f"edged: cannot {operation} {message.resource!r}")
        elif resource.type in (ResourceType.CONFIGMAP, ResourceType.SECRET) and resource.name:
            if operation in (Operation.INSERT, Operation.UPDATE, Operation.DELETE):
                self._object_changed(resource.namespace, ObjectRef(resource.type, resource.name), message.id)
            else:
                logger.debug("edged: ignored %s on %s (%s)", operation, message.resource, message.id)
        else:
            raise UnknownResourceError(f"edged: cannot {operation} {message.resource!r}")

    def _apply_pod(self, pod: Pod, message_id: str) -> None:
        if not self._settle_assumed(pod, message_id):
            return
        earlier_uid = self._uid_by_key.get(pod.key)
        if earlier_uid is not None and earlier_uid != pod.uid:
            self._forget_pod(earlier_uid, self._pods[earlier_uid].stop_grace_s)  # replaced under the same name
        known = pod.uid in self._pods
        # The cloud sends every pod again on each reconnect: an unchanged one is no news.
        changed = self._pods.get(pod.uid) != pod
        log = logger.info if changed else logger.debug
        self._pods[pod.uid] = pod
        self._uid_by_key[pod.key] = pod.uid
        self._deleted.pop(pod.uid, None)
        self._reports.pod_seen(pod.uid)
        log("edged: pod %s %s (%s)", pod.key, "updated" if known else "added", message_id)
        for note in pod.notes if changed else ():
            logger.warning("edged: pod %s: %s (%s)", pod.key, note, message_id)
        if pod.problem is not None:
            logger.warning("edged: pod %s cannot run: %s (%s)", pod.key, pod.problem.message, message_id)
        self._sync_pod(pod.uid)
        self._report(pod.uid)

    def _delete_pod(self, namespace: str, name: str, message: Message) -> None:
        uid = self._uid_by_key.get(f"{namespace}/{name}")
        grace = None
        try:
            deleted = parse_pod(message.content, namespace)
            grace = deleted.stop_grace_s
            if not deleted.uid_derived or uid is None:
                uid = deleted.uid  # the uid names the pod; a name may be reused
        except PodRejected:
            pass  # a delete may carry no pod: the name is enough
        if uid is not None and (uid in self._pods or self._inventory.of_pod(uid)):
            uids = [uid]
        else:  # meta's list could not say where a pod without metadata.namespace was: this one
            uids = [p.uid for p in self._pods.values() if p.namespace_assumed and p.name == name]
        if not uids:
            logger.info("edged: delete of unknown pod %s/%s ignored (%s)", namespace, name, message.id)
            return
        for uid in uids:
            pod = self._pods.get(uid)
            self._forget_pod(uid, grace if grace is not None else pod.stop_grace_s if pod else 30.0)
        logger.info("edged: pod %s/%s deleted (%s)", namespace, name, message.id)

    def _settle_assumed(self, pod: Pod, message_id: str) -> bool:
        """Keep one pod per name where meta's list had to assume a namespace: a pod whose message
        placed it replaces the assumed one (whose containers, if any, go); an assumed one is not
        added beside it. Returns whether ``pod`` is to be applied."""
        rivals = [
            p for p in self._pods.values() if p.name == pod.name and p.uid != pod.uid and p.namespace_assumed != pod.namespace_assumed
        ]
        if pod.namespace_assumed and rivals:
            logger.debug("edged: pod %s from meta's list is known as %s (%s)", pod.name, rivals[0].key, message_id)
            return False
        for rival in rivals:
            logger.info("edged: pod %s, listed without a namespace, is %s (%s)", rival.key, pod.key, message_id)
            self._forget_pod(rival.uid, rival.stop_grace_s)
        return True

    def _forget_pod(self, uid: str, grace_s: float) -> None:
        pod = self._pods.pop(uid, None)
        if pod is not None and self._uid_by_key.get(pod.key) == uid:
            del self._uid_by_key[pod.key]
        self._deleted[uid] = grace_s
        for state in (self._failures, self._waiting):
            state.pop(uid, None)
        self._reports.forget(uid)
        self._gates.forget_pod(uid)
        self._sync_pod(uid)
        self._publish_pods()

    def _object_changed(self, namespace: str, ref: ObjectRef, message_id: str) -> None:
        for pod in [p for p in self._pods.values() if p.namespace == namespace and p.uses(ref)] + self._pulling_with(namespace, ref):
            if ref in pod.volume_refs():
                self._refresh.add(pod.uid)
            for container in pod.containers:
                self._gates.release((pod.uid, container.name))
            logger.info("edged: %s %s/%s changed: pod %s resynced (%s)", ref.kind, namespace, ref.name, pod.key, message_id)
            self._sync_pod(pod.uid)

    def _pulling_with(self, namespace: str, ref: ObjectRef) -> list[Pod]:
        if ref.kind != "secret" or namespace != self.node_namespace:
            return []
        return [p for p in self._pods.values() if ref.name in p.pull_secrets and p.namespace != namespace]

    # --- the pod list at start (docs/protocol.md#7.1, without the original's 10 s sleep: docs/protocol.md#13.8) ---

    def _ask_meta(
        self, operation: str, resource: str, content: Any, answered: Callable[[str, Message | None, BaseException | None], None]
    ) -> None:
        """A sync request to meta; ``answered(request_id, reply, error)`` runs on this thread."""
        request = meta_request(operation, resource, content)
        future = self.module_router.send_sync(Module.META, request, self.timings.meta_timeout_s)
        self.module_on_reply(future, lambda reply, error: answered(request.id, reply, error))

    def _query_pods(self) -> None:
        self._ask_meta(Operation.QUERY, f"{self.node_namespace}/{ResourceType.POD}", None, self._pods_answered)

    def _pods_answered(self, request_id: str, reply: Message | None, error: BaseException | None) -> None:
        try:
            if error is not None:
                raise error
            assert reply is not None
            objects = query_objects(reply)
        except Exception as exc:  # any failure: ask again later, keep every container meanwhile
            delay = self._pods_query_backoff.next_delay()
            if self._pods_query_backoff.attempts == 1:
                logger.warning("edged: pod query %s to meta failed (%s); retrying with back-off", request_id, exc)
            self.module_tell_later(delay, QueryPods())
            return
        self._pods_listed(objects, request_id)

    def _pods_listed(self, objects: list[dict[str, Any]], message_id: str) -> None:
        for obj in objects:
            try:
                pod = parse_pod(obj)
            except PodRejected as exc:
                logger.warning("edged: skipped a stored pod (%s): %s", message_id, exc)
                continue
            if self._inventory_ready:
                pod = placed_by_containers(pod, self._inventory.all())
            if self._pods.get(pod.uid) != pod:
                self._apply_pod(pod, message_id)
        if not self._pods_loaded:
            self._pods_loaded = True
            logger.info("edged: %d pods from meta (%s)", len(self._pods), message_id)
            self._housekeep()

    # --- internal events --------------------------------------------------------------------

    def handle_internal(self, event: Any) -> None:
        handler = self._handlers.get(type(event))
        if handler is None:
            super().handle_internal(event)
            return
        handler(self, event)

    def _on_query_pods(self, _: QueryPods) -> None:
        self._query_pods()

    def _on_poll(self, _: Poll) -> None:
        self._resync_after_listing = True
        self._relist()

    def _on_wake(self, event: WakePod) -> None:
        self._wakes.pop(event.uid, None)
        self._sync_pod(event.uid)
        self._report(event.uid)

    # --- Docker's events: a library thread hands them over; a dropped stream is redialled ----

    def _watch_events(self) -> None:
        self._events_generation += 1
        generation = self._events_generation
        self._watch = self.runtime.watch_events(
            on_open=lambda: self.module_tell_self(EventsOpened(generation)),
            on_event=lambda event: self._offer(ContainerChanged(event.container_id, event.action)),
            on_end=lambda reason: self.module_tell_self(EventsEnded(generation, reason)),
        )

    def _offer(self, event: ContainerChanged) -> None:
        self._handover.offer(event)

    def _on_events_opened(self, event: EventsOpened) -> None:
        if event.generation != self._events_generation:
            return
        if self._docker_down:
            logger.warning("edged: Docker is reachable again; reconciling every pod")
        self._docker_down = False
        self._events_backoff.reset()
        self._resync_after_listing = True
        self._relist()

    def _on_events_ended(self, event: EventsEnded) -> None:
        if event.generation != self._events_generation:
            return
        if not self._docker_down:
            logger.warning("edged: lost Docker (%s); reconnecting with back-off", event.reason)
        self._docker_down = True
        self._watch = None
        self.module_tell_later(self._events_backoff.next_delay(), ReconnectEvents(event.generation))

    def _on_reconnect(self, event: ReconnectEvents) -> None:
        if event.generation == self._events_generation and self._watch is None:
            self._watch_events()

    def _on_container_changed(self, event: ContainerChanged) -> None:
        self._handover.taken()
        if self._handover.dropped != self._drops_seen:
            self._drops_seen = self._handover.dropped
            self._relist()
        seq = self._inventory.next_seq()
        if event.action == "destroy":
            self._observed(self._inventory.apply(seq, event.container_id, None))
            return
        runtime = self.runtime
        self.module_run_in_background(
            lambda: runtime.inspect_container(event.container_id),
            lambda outcome: ContainerInspected(seq, event.container_id, outcome),
        )

    def _on_container_inspected(self, event: ContainerInspected) -> None:
        if event.outcome.ok:
            self._observed(self._inventory.apply(event.seq, event.container_id, event.outcome.value))

    def _observed(self, uid: str | None) -> None:
        if uid is None:
            return
        self._sync_pod(uid)
        self._report(uid)

    # --- listing: the first inventory, reconnects and the slow poll -------------------------

    def _relist(self) -> None:
        if self._listing:
            self._list_again = True
            return
        self._listing = True
        known = self._inventory.statuses()
        runtime, next_seq = self.runtime, self._inventory.next_seq
        self.module_run_in_background(lambda: list_and_inspect(runtime, known, next_seq), ContainersListed)

    def _on_listed(self, event: ContainersListed) -> None:
        self._listing = False
        if not event.outcome.ok:
            if not isinstance(event.outcome.error, RuntimeUnavailableError):
                logger.warning("edged: listing containers failed: %s", event.outcome.error)
            return
        assert event.outcome.value is not None
        seq, present, inspected = event.outcome.value
        changed = self._inventory.apply_listing(seq, present, inspected)
        first = not self._inventory_ready
        self._inventory_ready = True
        if first:
            logger.info("edged: %d containers of node %s found in Docker", len(self._inventory), self.node_id)
            for pod in [p for p in self._pods.values() if p.namespace_assumed]:  # listed before Docker was
                placed = placed_by_containers(pod, self._inventory.all())
                if placed is not pod:
                    self._apply_pod(placed, "Docker's containers")
        if first or self._resync_after_listing:
            self._resync_after_listing = False
            changed |= set(self._pods)
        for uid in changed:
            self._sync_pod(uid)
            self._report(uid)
        self._housekeep()
        if self._list_again:
            self._list_again = False
            self._relist()

    def _housekeep(self) -> None:
        """Containers of pods meta no longer has go (docs/protocol.md#7.1 housekeeping)."""
        if self._pods_loaded and self._inventory_ready:
            for uid in (self._inventory.pod_uids() | set(self._deleted)) - set(self._pods):
                self._sync_pod(uid)

    # --- one pod: plan on this thread, work on a worker, apply the result here ---------------

    def _sync_pod(self, uid: str, fresh_failures: Collection[str] = ()) -> None:
        if not self._inventory_ready or self._docker_down:
            return
        if uid in self._busy:
            self._dirty.add(uid)
            return
        pod = self._pods.get(uid)
        containers = self._inventory.of_pod(uid)
        if pod is None and not containers and uid not in self._deleted:
            return
        if pod is None and not self._pods_loaded and uid not in self._deleted:
            return  # not known yet is not deleted: wait for meta's list before removing anything
        decision = plan_pod(
            pod,
            uid,
            containers,
            self._gates,
            self._clock(),
            grace_s=self._deleted.get(uid),
            refresh_volumes=uid in self._refresh,
            failures=self._failures.get(uid),
        )
        if pod is not None:
            waiting = dict(decision.waiting)
            failures = self._failures.get(uid, {})
            for name in fresh_failures:  # a new failure shows before its back-off
                if name in failures and name in waiting:
                    waiting[name] = failures[name]
            self._waiting[uid] = waiting
        if decision.wake_at is not None:
            self._wake(uid, decision.wake_at)
        plan = decision.plan
        if plan.empty:
            return
        logger.debug(
            "edged: pod %s: kill %s, start %s",
            pod.key if pod else uid,
            [(k.container_id[:12], k.remove) for k in plan.kills],
            [(st.spec.name, st.restart_count) for st in plan.starts],
        )
        self._refresh.discard(uid)
        self._busy.add(uid)
        seq = self._inventory.next_seq()  # names this attempt, for counting its failures once
        context = self._sync_context()
        self.module_run_in_background(lambda: run_pod_sync(plan, pod, context), lambda outcome: PodSynced(uid, seq, outcome))

    def _sync_context(self) -> SyncContext:
        return SyncContext(
            self.runtime,
            self.files,
            self.fetch_object,
            self.node_namespace,
            self.host_ip,
            self._inventory.next_seq,
            self.pulled_images.record,
            self._stopping,
        )

    def _wake(self, uid: str, at: float) -> None:
        current = self._wakes.get(uid)
        if current is not None and current[0] <= at:
            return
        if current is not None:
            current[1].cancel()
        self._wakes[uid] = (at, self.module_tell_later(max(at - self._clock(), 0.0), WakePod(uid)))

    def _on_pod_synced(self, event: PodSynced) -> None:
        uid = event.uid
        self._busy.discard(uid)
        if not event.outcome.ok:
            logger.error("edged: syncing pod %s failed unexpectedly", uid, exc_info=event.outcome.error)
            return
        result = event.outcome.value
        assert result is not None
        for seq, container_id, info in result.observations:
            self._inventory.apply(seq, container_id, info)
        pod = self._pods.get(uid)
        fresh: set[str] = set()  # containers that failed in this attempt
        if pod is not None:
            fresh = self._note_outcomes(pod, event.seq, result.outcomes)
        elif uid in self._deleted and not self._inventory.of_pod(uid) and not result.failed_kills:
            del self._deleted[uid]  # cleaned up
        retry_now = not result.runtime_down and not result.failed_kills
        if uid in self._dirty or retry_now:
            self._dirty.discard(uid)
            self._sync_pod(uid, fresh)
        self._report(uid)

    def _note_outcomes(self, pod: Pod, seq: int, outcomes: Iterable[ContainerOutcome]) -> set[str]:
        """Count each failed start against its back-off; returns the containers that failed."""
        failures = self._failures.setdefault(pod.uid, {})
        failed = set()
        for outcome in outcomes:
            if outcome.problem is None:
                failures.pop(outcome.name, None)
                logger.info("edged: pod %s: container %s started", pod.key, outcome.name)
                continue
            if failures.get(outcome.name) != outcome.problem:
                problem = outcome.problem
                logger.warning("edged: pod %s: container %s: %s: %s", pod.key, outcome.name, problem.reason, problem.message)
            failures[outcome.name] = outcome.problem
            failed.add(outcome.name)
            until = self._gates.note_failure((pod.uid, outcome.name), f"sync-{seq}", self._clock())
            flip = min(self.timings.pull_backoff_flip_s, max(until - self._clock(), 0.0) / 2)
            self._wake(pod.uid, self._clock() + flip)
        return failed

    # --- status -----------------------------------------------------------------------------

    def _report(self, uid: str) -> None:
        """Send the pod's status to meta if it changed (docs/protocol.md#7.5; on change, not on a 10 s tick)."""
        pod = self._pods.get(uid)
        if pod is None or (pod.namespace_assumed and not self._inventory_ready):
            return  # where it belongs shows once Docker's containers are known
        status = self._reports.changed_status(pod, self._inventory.of_pod(uid), self._waiting.get(uid, {}), self.host_ip)
        if status is None:
            return
        self._publish_pods()
        resource = f"{pod.namespace}/{ResourceType.PODSTATUS}/{pod.name}"
        self._ask_meta(Operation.UPDATE, resource, pod_status_body(pod, status), partial(self._status_answered, uid, status))

    def _status_answered(
        self, uid: str, status: dict[str, Any], request_id: str, reply: Message | None, error: BaseException | None
    ) -> None:
        if error is None and reply is not None and not reply.is_error:
            return
        reason = error if error is not None else reply.content if reply is not None else "no reply"
        logger.warning("edged: pod status %s not stored by meta (%s); resent at the next poll", request_id, reason)
        self._reports.not_stored(uid, status)

    def _publish_pods(self) -> None:
        if self._server is None:
            return
        self._server.publish(self._reports.pod_list(self._pods.values()))

    def _on_report_node(self, _: ReportNode) -> None:
        runtime, interface = self.runtime, self.module_config["edged.interface-name"]
        self.module_run_in_background(lambda: read_node(runtime, interface), NodeFactsRead)

    def _on_node_facts(self, event: NodeFactsRead) -> None:
        if not event.outcome.ok or event.outcome.value is None:
            logger.warning("edged: reading node facts failed: %s", event.outcome.error)
            return
        facts, version, docker_error = event.outcome.value
        if facts.ip != self.host_ip:
            self.host_ip = facts.ip
            for uid in list(self._pods):
                self._report(uid)
        body = self._node_reports.body(
            facts,
            docker_version=version,
            docker_error=docker_error,
            kubelet_version=self.module_config["edged.version"],
            server_port=self.server_port,
        )
        resource = f"{self.node_namespace}/{ResourceType.NODESTATUS}/{self.node_name}"
        self._ask_meta(Operation.UPDATE, resource, body, self._node_reports.answered)

    def module_metrics(self) -> dict[str, float]:
        """Pods by phase, containers by state and why they wait, and whether Docker answers."""
        waiting = [self._waiting.get(uid, {}) for uid in self._pods]
        return edged_figures(
            self._reports.phases(self._pods),
            self._inventory.all(),
            waiting,
            docker_connected=0.0 if self._docker_down or not self._inventory_ready else 1.0,
            pod_syncs_running=float(len(self._busy)),
            pods_terminating=float(len(self._deleted)),
        )

    # --- garbage collection (docs/protocol.md#7.4) ------------------------------------------

    def _on_collect_containers(self, _: CollectContainers) -> None:
        if not (self._pods_loaded and self._inventory_ready) or self._docker_down:
            return
        cfg = self.module_config
        doomed = dead_containers_to_remove(
            self._inventory.all(),
            set(self._pods),
            cfg["edged.maximum-dead-containers-per-container"],
            self.timings.container_gc_min_age_s,
            self._clock(),
        )
        keep_dirs = set(self._pods) | self._inventory.pod_uids() | self._busy | set(self._deleted)
        runtime, files = self.runtime, self.files
        self.module_run_in_background(lambda: collect_containers(runtime, files, doomed, keep_dirs), ContainersCollected)

    def _on_containers_collected(self, event: ContainersCollected) -> None:
        if not event.outcome.ok or event.outcome.value is None:
            logger.info("edged: container GC incomplete: %s", event.outcome.error)
            return
        removed, dirs = event.outcome.value
        for container_id in removed:
            self._inventory.apply(self._inventory.next_seq(), container_id, None)  # gone is final
        if removed or dirs:
            logger.info("edged: container GC removed %d dead containers and %d orphaned pod folders", len(removed), len(dirs))

    def _on_collect_images(self, _: CollectImages) -> None:
        if self._docker_down:
            return
        cfg, runtime, pulled, timings = self.module_config, self.runtime, self.pulled_images, self.timings
        usage = self._disk_usage or (lambda: disk_usage_percent(runtime.root_dir()))
        self.module_run_in_background(
            lambda: collect_images(
                runtime,
                pulled,
                high_percent=cfg["edged.image-gc-high-threshold"],
                low_percent=cfg["edged.image-gc-low-threshold"],
                min_age_s=timings.image_gc_min_age_s,
                usage=usage,
            ),
            ImagesCollected,
        )

    def _on_images_collected(self, event: ImagesCollected) -> None:
        if not event.outcome.ok or event.outcome.value is None:
            logger.debug("edged: image GC skipped: %s", event.outcome.error)
        elif event.outcome.value.removed:
            result = event.outcome.value
            logger.info("edged: image GC removed %s; disk now %.0f%% full", ", ".join(result.removed), result.usage_percent)

    _handlers: ClassVar[dict[type, Callable[[EdgedActor, Any], None]]] = {
        QueryPods: _on_query_pods,
        Poll: _on_poll,
        WakePod: _on_wake,
        EventsOpened: _on_events_opened,
        EventsEnded: _on_events_ended,
        ReconnectEvents: _on_reconnect,
        ContainerChanged: _on_container_changed,
        ContainerInspected: _on_container_inspected,
        ContainersListed: _on_listed,
        PodSynced: _on_pod_synced,
        ReportNode: _on_report_node,
        NodeFactsRead: _on_node_facts,
        CollectContainers: _on_collect_containers,
        ContainersCollected: _on_containers_collected,
        CollectImages: _on_collect_images,
        ImagesCollected: _on_images_collected,
    }


__all__ = ["EdgedActor", "EdgedTimings"]
