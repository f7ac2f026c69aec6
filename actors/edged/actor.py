"""The edged actor: the mini-kubelet that runs the cloud's pods as Docker containers (docs/protocol.md#7).

The actor only coordinates. Its state is one record per pod (records.py); its helpers run on
its thread and own no thread of their own (the work in brackets runs on its workers)::

    meta's messages ───────────► PodTable ──┐
    Docker's events, listings ─► observer ──┼─► syncer: plan (lifecycle.py), ask meta for the
      [list, inspect]                       │   objects (objects.py), [the job: sync.py], apply
    timers ─► collector [GC], node status   └─► pod status to meta when it changed (reporting.py)
    probe timers ─► probing [prober: exec workers, one asyncio loop] ─► started/ready, restarts

Decisions that need no state are pure functions (lifecycle, status, containers, pods, gc).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from actors.edged.collector import Collector
from actors.edged.errors import PodRejected
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
    ProbeDone,
    ProbeDue,
    QueryPods,
    ReconnectEvents,
    ReportNode,
    Tools,
    WakePod,
)
from actors.edged.gc import PulledImages
from actors.edged.lifecycle import StartGates
from actors.edged.metaclient import meta_request, query_objects
from actors.edged.model import ContainerRuntime
from actors.edged.node import interface_ipv4, read_node
from actors.edged.objects import ObjectKey
from actors.edged.observer import ContainerObserver, Observed
from actors.edged.pods import DEFAULT_GRACE_PERIOD_S, ObjectRef, Pod, parse_pod, placed_by_containers
from actors.edged.probes import Prober
from actors.edged.probing import ProbeEffect, ProbeKeeper
from actors.edged.records import PodTable
from actors.edged.reporting import NodeReports, changed_status, edged_figures, phases, pod_list, status_answered
from actors.edged.runtime import DockerContainerRuntime
from actors.edged.settings import EdgedSettings, EdgedTimings
from actors.edged.status import pod_status_body
from actors.edged.streams import DockerStreams, PodStreams, StreamChunk, StreamEnded, StreamEvent, StreamOpened, StreamOpener
from actors.edged.syncer import PodSyncer
from actors.edged.volumes import PodFiles
from actors.keys import EDGE_KEYS
from actors.protocol import STREAM_OPERATIONS, Group, Module, Operation, ResourceType, parse_edge_resource
from kubeedge_actors.actor import ModuleActor, handles
from kubeedge_actors.backoff import Backoff
from kubeedge_actors.config import Config
from kubeedge_actors.errors import UnknownResourceError
from kubeedge_actors.message import Message
from kubeedge_actors.router import Router

if TYPE_CHECKING:
    from actors.edged.server import PodListServer

logger = logging.getLogger(__name__)

#: ``answered(request_id, reply, error)``: meta's answer to a sync request, on the actor's thread.
Answered = Callable[[str, Message | None, BaseException | None], None]


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
        ``stream_open`` / ``stream_ack`` / ``stream_close`` on ``<ns>/podlogs|podexec/<pod>``
        (meta forwards them): logs and exec for the cloud (docs/protocol.md#9.5, streams.py).
    Produces (to ``metaManager``, all sync, docs/architecture.md#4.3):
        ``query <edged.register-node-namespace>/pod`` at start (retried with back-off);
        ``query <ns>/configmap/<name>`` and ``<ns>/secret/<name>`` for volumes and environment,
        ``<node ns>/secret/<name>`` for image pull secrets, before the pod's job starts;
        ``update <ns>/podstatus/<pod>`` ``{"UID", "Name", "Status"}`` on every status change;
        ``update <node ns>/nodestatus/<hostname-override>`` ``{"UID", "Status",
        "ExtendResources"}`` every ``edged.node-status-update-frequency`` seconds.
    Produces (to ``websocket``): ``stream_opened``, ``stream_data``, ``stream_end`` of those streams.
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
        pulled_images: PulledImages | None = None,
        timings: EdgedTimings | None = None,
        clock: Callable[[], float] = time.time,
        disk_usage: Callable[[], float] | None = None,
        prober: Prober | None = None,
        streams: StreamOpener | None = None,
        name: str | None = None,
        group: str | None = None,
    ) -> None:
        super().__init__(router, config, name=name, group=group)
        self.settings = settings = EdgedSettings.from_config(self.module_config)
        self.timings = timings = timings or EdgedTimings()
        self.runtime: ContainerRuntime = runtime or DockerContainerRuntime(settings.docker_address, settings.node_id)
        self.files = files or PodFiles(settings.root_directory)
        self.pulled_images = pulled_images or PulledImages(settings.root_directory / "images.json", clock)
        self._clock = clock
        gates = StartGates(timings.restart_backoff_initial_s, timings.restart_backoff_max_s, timings.restart_backoff_reset_s)
        self._table = PodTable(gates)
        self._observer = ContainerObserver(self.runtime, self, timings)
        self._stopping = threading.Event()
        tools = Tools(self.runtime, self.files, self.pulled_images, self._stopping)
        self._syncer = PodSyncer(
            self, self._table, self._observer, tools=tools, settings=settings, timings=timings, clock=clock, host_ip=lambda: self.host_ip
        )
        self._collector = Collector(self, tools=tools, settings=settings, timings=timings, clock=clock, disk_usage=disk_usage)
        self._node_reports = NodeReports()
        self._probes = ProbeKeeper(self, self._table, prober or Prober(self.runtime), lambda: self.host_ip)
        # docs/protocol.md#9.5: logs and exec for the cloud, on pump threads of their own.
        opener = streams or DockerStreams(settings.docker_address)
        self._streams = PodStreams(router, self.module_tell_self, self._table, self._observer.inventory, opener)
        self._pods_query_backoff = Backoff(timings.pod_query_retry_initial_s, timings.pod_query_retry_max_s)
        self._server: PodListServer | None = None
        self.server_port = 0
        self.host_ip = ""

    # --- lifecycle --------------------------------------------------------------------------

    def on_start(self) -> None:
        settings, timings = self.settings, self.timings
        self.host_ip = interface_ipv4(settings.interface_name)
        if settings.server_port:
            from actors.edged.server import PodListServer  # noqa: PLC0415 - http.server only when the endpoint is on

            self._server = PodListServer(settings.server_port)
            self.server_port = self._server.start()
        self._observer.open()
        self._query_pods()
        self.module_tell_every(timings.poll_interval_s, Poll())
        self.module_tell_self(ReportNode())
        self.module_tell_every(settings.node_status_interval_s, ReportNode())
        self.module_tell_every(timings.container_gc_interval_s, CollectContainers())
        self.module_tell_every(timings.image_gc_interval_s, CollectImages())
        logger.info("edged: started for node %s (pods under %s)", settings.node_id, self.files.pods_dir)

    def on_stop(self) -> None:
        self._stopping.set()  # pod syncs under way start nothing new (sync.py)
        self._streams.close_all()
        self._observer.close()
        self._probes.close()
        if self._server is not None:
            self._server.stop()
            self._server = None
        # Lets the running syncs end (a create, a start) before closing what they use; one
        # stuck in a pull is left behind, and the next start adopts what it made.
        super().on_stop()
        self.runtime.close()

    # --- messages from meta -----------------------------------------------------------------

    def handle_message(self, message: Message) -> None:
        if message.operation in STREAM_OPERATIONS:
            self._streams.handle(message)  # docs/protocol.md#9.5
            return
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
                self._object_changed(ObjectKey(resource.namespace, ObjectRef(resource.type, resource.name)), message.id)
            else:
                logger.debug("edged: ignored %s on %s (%s)", operation, message.resource, message.id)
        else:
            raise UnknownResourceError(f"edged: cannot {operation} {message.resource!r}")

    @handles(StreamOpened, StreamChunk, StreamEnded)
    def _on_stream_event(self, event: StreamEvent) -> None:
        self._streams.on_event(event)

    def _apply_pod(self, pod: Pod, message_id: str) -> None:
        if not self._settle_assumed(pod, message_id):
            return
        earlier = self._table.uid_of(pod.key)
        if earlier is not None and earlier != pod.uid:
            self._forget_pod(earlier, self._stop_grace_s(earlier))  # replaced under the same name
        known = self._table.pod(pod.uid) is not None
        _, changed = self._table.set_pod(pod)
        # The cloud sends every pod again on each reconnect: an unchanged one is no news.
        log = logger.info if changed else logger.debug
        log("edged: pod %s %s (%s)", pod.key, "updated" if known else "added", message_id)
        for note in pod.notes if changed else ():
            logger.warning("edged: pod %s: %s (%s)", pod.key, note, message_id)
        if pod.problem is not None:
            logger.warning("edged: pod %s cannot run: %s (%s)", pod.key, pod.problem.message, message_id)
        self._syncer.sync(pod.uid)
        self._report(pod.uid)

    def _delete_pod(self, namespace: str, name: str, message: Message) -> None:
        uid = self._table.uid_of(f"{namespace}/{name}")
        grace = None
        try:
            deleted = parse_pod(message.content, namespace)
            grace = deleted.stop_grace_s
            if not deleted.uid_derived or uid is None:
                uid = deleted.uid  # the uid names the pod; a name may be reused
        except PodRejected:
            pass  # a delete may carry no pod: the name is enough
        if uid is not None and (self._table.pod(uid) is not None or self._observer.inventory.of_pod(uid)):
            uids = [uid]
        else:  # meta's list could not say where a pod without metadata.namespace was: this one
            uids = [p.uid for p in self._table.named(name) if p.namespace_assumed]
        if not uids:
            logger.info("edged: delete of unknown pod %s/%s ignored (%s)", namespace, name, message.id)
            return
        for uid in uids:
            self._forget_pod(uid, grace if grace is not None else self._stop_grace_s(uid))
        logger.info("edged: pod %s/%s deleted (%s)", namespace, name, message.id)

    def _settle_assumed(self, pod: Pod, message_id: str) -> bool:
        """Keep one pod per name where meta's list had to assume a namespace: a pod whose message
        placed it replaces the assumed one (whose containers, if any, go); an assumed one is not
        added beside it. Returns whether ``pod`` is to be applied."""
        rivals = self._table.rivals(pod)
        if pod.namespace_assumed and rivals:
            logger.debug("edged: pod %s from meta's list is known as %s (%s)", pod.name, rivals[0].key, message_id)
            return False
        for rival in rivals:
            logger.info("edged: pod %s, listed without a namespace, is %s (%s)", rival.key, pod.key, message_id)
            self._forget_pod(rival.uid, rival.stop_grace_s)
        return True

    def _stop_grace_s(self, uid: str) -> float:
        pod = self._table.pod(uid)
        return pod.stop_grace_s if pod is not None else DEFAULT_GRACE_PERIOD_S

    def _forget_pod(self, uid: str, grace_s: float) -> None:
        self._table.forget(uid, grace_s)
        self._syncer.sync(uid)
        self._publish_pods()

    def _object_changed(self, key: ObjectKey, message_id: str) -> None:
        for record in self._table.using(key, self.settings.node_namespace):
            assert record.pod is not None
            record.refresh_volumes |= key.ref in record.pod.volume_refs()
            for container in record.pod.containers:
                record.gates.release(container.name)
            record.objects.pop(key, None)
            if key in record.fetching:
                record.fetching[key] = True  # the answer under way may predate the change
            logger.info("edged: %s %s changed: pod %s resynced (%s)", key.ref.kind, key.resource, record.pod.key, message_id)
            self._syncer.sync(record.uid)

    # --- the pod list at start (docs/protocol.md#7.1, without the original's 10 s sleep: docs/protocol.md#13.8) ---

    def _ask_meta(self, operation: str, resource: str, content: Any, answered: Answered) -> None:
        """A sync request to meta; ``answered(request_id, reply, error)`` runs on this thread."""
        request = meta_request(operation, resource, content)
        future = self.module_router.send_sync(Module.META, request, self.timings.meta_timeout_s)
        self.module_on_reply(future, lambda reply, error: answered(request.id, reply, error))

    def _query_pods(self) -> None:
        self._ask_meta(Operation.QUERY, f"{self.settings.node_namespace}/{ResourceType.POD}", None, self._pods_answered)

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
            if self._observer.ready:
                pod = placed_by_containers(pod, self._observer.inventory.all())
            if self._table.pod(pod.uid) != pod:
                self._apply_pod(pod, message_id)
        if not self._table.loaded:
            self._table.loaded = True
            logger.info("edged: %d pods from meta (%s)", len(self._table.pods()), message_id)
            self._syncer.housekeep()

    @handles(QueryPods)
    def _on_query_pods(self, _: QueryPods) -> None:
        self._query_pods()

    @handles(WakePod)
    def _on_wake(self, event: WakePod) -> None:
        self._syncer.woke(event)
        self._report(event.uid)

    # --- Docker's news, through the observer ---------------------------------------------------

    @handles(Poll)
    def _on_poll(self, _: Poll) -> None:
        self._observer.poll()

    @handles(EventsOpened)
    def _on_events_opened(self, event: EventsOpened) -> None:
        self._observer.opened(event)

    @handles(EventsEnded)
    def _on_events_ended(self, event: EventsEnded) -> None:
        self._observer.ended(event)

    @handles(ReconnectEvents)
    def _on_reconnect(self, event: ReconnectEvents) -> None:
        self._observer.reconnect(event)

    @handles(ContainerChanged)
    def _on_container_changed(self, event: ContainerChanged) -> None:
        self._observed(self._observer.changed(event))

    @handles(ContainerInspected)
    def _on_container_inspected(self, event: ContainerInspected) -> None:
        self._observed(self._observer.inspected(event))

    @handles(ContainersListed)
    def _on_listed(self, event: ContainersListed) -> None:
        self._observed(self._observer.listed(event))

    def _observed(self, seen: Observed) -> None:
        inventory = self._observer.inventory
        if seen.first:
            logger.info("edged: %d containers of node %s found in Docker", len(inventory), self.settings.node_id)
            for pod in [p for p in self._table.pods() if p.namespace_assumed]:  # listed before Docker was
                placed = placed_by_containers(pod, inventory.all())
                if placed is not pod:
                    self._apply_pod(placed, "Docker's containers")
        for uid in seen.changed | (self._table.live_uids() if seen.resync_all else set()):
            self._syncer.sync(uid)
            self._report(uid)
        if seen.listing:
            self._syncer.housekeep()

    @handles(PodSynced)
    def _on_pod_synced(self, event: PodSynced) -> None:
        self._syncer.synced(event)
        self._report(event.uid)

    # --- probes (docs/protocol.md#7.8): timers here, runs on the prober, results back here ---------

    @handles(ProbeDue)
    def _on_probe_due(self, event: ProbeDue) -> None:
        self._probes.due(event)

    @handles(ProbeDone)
    def _on_probe_done(self, event: ProbeDone) -> None:
        effect = self._probes.done(event)
        if effect is ProbeEffect.RESTART:
            self._syncer.sync(event.uid)
        if effect is not ProbeEffect.NONE:
            self._report(event.uid)  # at once, not on a tick

    # --- status -----------------------------------------------------------------------------

    def _report(self, uid: str) -> None:
        """Send the pod's status to meta if it changed (docs/protocol.md#7.5; on change, not on a 10 s tick)."""
        record = self._table.get(uid)
        if record is None or record.pod is None or (record.pod.namespace_assumed and not self._observer.ready):
            return  # where it belongs shows once Docker's containers are known
        pod = record.pod
        containers = self._observer.inventory.of_pod(uid)
        self._probes.follow(record, containers)
        status = changed_status(record, containers, self.host_ip)
        if status is None:
            return
        self._publish_pods()
        resource = f"{pod.namespace}/{ResourceType.PODSTATUS}/{pod.name}"
        self._ask_meta(Operation.UPDATE, resource, pod_status_body(pod, status), partial(status_answered, record, status))

    def _publish_pods(self) -> None:
        if self._server is not None:
            self._server.publish(pod_list(self._table.live()))

    @handles(ReportNode)
    def _on_report_node(self, _: ReportNode) -> None:
        runtime, interface = self.runtime, self.settings.interface_name
        self.module_run_in_background(lambda: read_node(runtime, interface), NodeFactsRead)

    @handles(NodeFactsRead)
    def _on_node_facts(self, event: NodeFactsRead) -> None:
        if not event.outcome.ok or event.outcome.value is None:
            logger.warning("edged: reading node facts failed: %s", event.outcome.error)
            return
        reading, settings = event.outcome.value, self.settings
        if reading.facts.ip != self.host_ip:
            self.host_ip = reading.facts.ip
            for uid in self._table.live_uids():
                self._report(uid)
        body = self._node_reports.body(
            reading.facts,
            docker_version=reading.docker_version,
            docker_error=reading.docker_error,
            kubelet_version=settings.kubelet_version,
            server_port=self.server_port,
        )
        resource = f"{settings.node_namespace}/{ResourceType.NODESTATUS}/{settings.node_name}"
        self._ask_meta(Operation.UPDATE, resource, body, self._node_reports.answered)

    def module_metrics(self) -> dict[str, float]:
        """Pods by phase, containers by state and why they wait, and whether Docker answers."""
        live = list(self._table.live())
        return edged_figures(
            phases(live),
            self._observer.inventory.all(),
            [record.waiting for record in live],
            docker_connected=1.0 if self._observer.usable else 0.0,
            pod_syncs_running=float(self._table.busy_count()),
            pods_terminating=float(self._table.deleted_count()),
        )

    # --- garbage collection (docs/protocol.md#7.4), through the collector -----------------------

    @handles(CollectContainers)
    def _on_collect_containers(self, _: CollectContainers) -> None:
        if self._table.loaded and self._observer.usable:
            inventory = self._observer.inventory
            self._collector.collect_containers(inventory.all(), self._table.live_uids(), self._table.uids() | inventory.pod_uids())

    @handles(ContainersCollected)
    def _on_containers_collected(self, event: ContainersCollected) -> None:
        self._observer.removed(self._collector.containers_collected(event))

    @handles(CollectImages)
    def _on_collect_images(self, _: CollectImages) -> None:
        if not self._observer.docker_down:
            self._collector.collect_images()

    @handles(ImagesCollected)
    def _on_images_collected(self, event: ImagesCollected) -> None:
        self._collector.images_collected(event)


__all__ = ["EdgedActor"]
