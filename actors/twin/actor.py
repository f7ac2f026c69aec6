"""The device twin module (docs/protocol.md#5): devices, attributes and twins in SQLite, in sync with the
device apps over MQTT (through the bus) and with the cloud (through the hub).

Handling one message::

    classify (docs/protocol.md#5.3) ─► handler builds Effects ─► one SQLite transaction (rows + outbox)
        ─► device map updated ─► MQTT publishes to the eventbus ─► outbox flushed if connected

A failed write changes nothing in memory (SQLite stays the truth) and a Rest request gets 500.
Whether the cloud is connected is the hub's to say: the twin reads the hub's
``CloudConnectionView`` and keeps no flag of its own; the hub's ``node/connection`` events
tell it when to act (docs/architecture.md#4.1).
"""

from __future__ import annotations

import logging
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from actors.keys import EDGE_KEYS
from actors.protocol import (
    NODE_CONNECTION_RESOURCE,
    NODE_CONNECTION_SOURCE,
    PUBLISH_QUEUE_RESOURCE,
    CloudState,
    DeliveryReport,
    Group,
    Module,
    Operation,
    bus_publisher,
    cloud_connected,
    cloud_connection_view,
    decode_topic,
    is_delivery_report,
)
from actors.twin.handlers import DeviceTwins, Effects, MembershipPlan, membership_detail_request
from actors.twin.model import to_json_bytes
from actors.twin.outbox import CloudOutbox
from actors.twin.store import OutboxRecord, SqliteTwinStore, StoreBatch, StoreError, TwinStore
from kubeedge_actors.actor import ModuleActor, handles
from kubeedge_actors.backoff import Backoff
from kubeedge_actors.config import Config
from kubeedge_actors.errors import MessageRejected, UnknownResourceError
from kubeedge_actors.message import Message, now_ms
from kubeedge_actors.router import Router
from kubeedge_actors.scheduler import TimerHandle

logger = logging.getLogger(__name__)

CLOUD_SOURCES = frozenset({"edgemgr", "devicecontroller"})  # v0.2 and v1.0.0 clouds (docs/protocol.md#5.3)
TIDY_DELAY_S = 1.0
#: How long the twin waits for the bus to take a membership slice's publishes before it goes on
#: anyway (a bus that is gone or stuck must not stop a membership).
BUS_QUEUE_TIMEOUT_S = 30.0
#: The edges (by router) whose cloud has been seen to confirm reports: a twin the runtime
#: restarts keeps every report until confirmed at once, not from the cloud's next confirmation
#: on (a report written into a link that breaks meanwhile would be lost). A new process, which
#: may talk to another cloud, learns it again.
_CONFIRMING_CLOUDS: weakref.WeakSet[Router] = weakref.WeakSet()


@dataclass(frozen=True)
class TwinSettings:
    """What the twin reads from the configuration, once; the rest are its tuning defaults.

    Attributes:
        database, journal_mode: ``database.source`` and ``database.journal-mode``.
        node_id: ``edgehub.controller.node-id``.
        resend_initial_s, resend_max_s, resend_limit: back-off and bound of resending an
            awaited message that has no reply.
        outbox_limit: messages kept for the cloud at most.
        hand_over_batch: messages handed to the hub at once.
        membership_slice: devices of a membership applied in one transaction; a larger
            membership goes slice by slice, each after the bus has taken the publishes of the
            one before (docs/architecture.md#4.4).
    """

    database: Path
    journal_mode: str
    node_id: str
    resend_initial_s: float = 30.0
    resend_max_s: float = 300.0
    resend_limit: int = 5
    outbox_limit: int = 100_000
    hand_over_batch: int = 1_000
    membership_slice: int = 200

    @classmethod
    def from_config(cls, config: Config) -> TwinSettings:
        return cls(config.path("database.source"), config["database.journal-mode"], config["edgehub.controller.node-id"])


@dataclass(frozen=True, slots=True)
class ResendDue:
    """Timer: an awaited message for the cloud has had no reply yet."""

    msg_id: str


@dataclass(eq=False)
class _MembershipJob:
    """A membership being applied slice by slice; the messages it holds back, in order."""

    plan: MembershipPlan
    detail: bool  # a membership detail: confirms the detail requests sent before it started
    started_ms: int
    failed: bool = False
    slices: int = 0
    bus_silent: bool = False  # the bus did not answer a publish-queue query (said once)
    held: deque[Message] = field(default_factory=deque)


@dataclass(frozen=True, slots=True)
class FlushOutbox:
    """Timer: try again to hand the backlog to the hub."""


@dataclass(frozen=True, slots=True)
class CheckpointDone:
    """A worker checkpointed the WAL (``error`` when it could not)."""

    error: BaseException | None


@dataclass(frozen=True, slots=True)
class TidyOutbox:
    """Timer: delete the rows of delivered messages when no other write did."""


class TwinActor(ModuleActor):
    """The twin module.

    Consumes:
        from the bus (source ``bus``, resource = base64url topic, content = payload text):
        ``$hw/events/device/<id>/twin/update|get|cloud_updated``, ``…/state/update`` and
        ``$hw/events/node/<any>/membership/get|updated|detail/result``.
        From the cloud (source ``devicecontroller`` or ``edgemgr``, group ``twin``):
        ``membership``, ``membership/detail``, ``device/<id>/twin/cloud_updated`` and
        ``…updated`` on ``device/<id>`` (attributes); any message's ``parent_msg_id``
        confirms an awaited message for the cloud; a ``response`` to a report
        (``device/<id>/twin/edge_updated``, ``device/<id>/state``) only confirms it, and
        from then on reports are kept until confirmed (see outbox.py).
        From the hub: ``node/connection`` ``cloud_connected`` / ``cloud_disconnected`` (asked
        for at start when the hub already runs).
    Produces:
        to ``eventbus`` (source ``twin``, group ``bus``, operation ``publish``, resource =
        topic, content = JSON bytes): the result, document, delta, ``updated`` and membership
        topics of docs/protocol.md#5.4. To ``websocket``, kept until delivered: ``device/<id>/twin/edge_updated``,
        ``device/<id>/state`` and the ``membership/detail`` request after each connect.

    Args:
        store: the tables (default: SQLite at ``database.source``).
        resend_initial_s, resend_max_s, resend_limit, outbox_limit, hand_over_batch: see
            :class:`TwinSettings`.
    """

    module_name = Module.TWIN
    module_group = Group.TWIN
    module_config_keys = EDGE_KEYS

    def __init__(
        self,
        router: Router,
        config: Config | None = None,
        *,
        store: TwinStore | None = None,
        resend_initial_s: float = TwinSettings.resend_initial_s,
        resend_max_s: float = TwinSettings.resend_max_s,
        resend_limit: int = TwinSettings.resend_limit,
        outbox_limit: int = TwinSettings.outbox_limit,
        hand_over_batch: int = TwinSettings.hand_over_batch,
        membership_slice: int = TwinSettings.membership_slice,
        **kwargs: str | None,
    ) -> None:
        super().__init__(router, config, **kwargs)
        self.settings = settings = replace(
            TwinSettings.from_config(self.module_config),
            resend_initial_s=resend_initial_s,
            resend_max_s=resend_max_s,
            resend_limit=resend_limit,
            outbox_limit=outbox_limit,
            hand_over_batch=hand_over_batch,
            membership_slice=membership_slice,
        )
        self.store: TwinStore = store if store is not None else SqliteTwinStore(settings.database, settings.journal_mode)
        self.twins = DeviceTwins(settings.node_id)
        self._cloud = cloud_connection_view(router)
        self._bus = bus_publisher(router)
        self._acted_on: CloudState | None = None  # the hub's state this actor last acted on
        self.outbox = CloudOutbox(
            send=lambda message: self.module_router.send(Module.HUB, message),
            resend_after=lambda delay_s, msg_id: self.module_tell_later(delay_s, ResendDue(msg_id)),
            new_backoff=lambda: Backoff(settings.resend_initial_s, settings.resend_max_s, jitter=0.2),
            resend_limit=settings.resend_limit,
            limit=settings.outbox_limit,
            batch=settings.hand_over_batch,
            keep_until_confirmed=router in _CONFIRMING_CLOUDS,
        )
        self.flush_backoff = Backoff(1.0, 30.0, jitter=0.2)
        self._flush_timer: TimerHandle | None = None
        self._tidy_timer: TimerHandle | None = None
        self.store_failures = 0
        self._checkpointing = False
        self.membership: _MembershipJob | None = None  # a membership not yet wholly applied

    @property
    def connected(self) -> bool:
        """The hub's word on the cloud connection (the twin keeps none of its own)."""
        return self._cloud.connected

    # --- lifecycle ------------------------------------------------------------------------

    def on_start(self) -> None:
        self.store.open()
        self.twins.devices = self.store.load_devices()
        self.outbox.restore(self.store.load_outbox())
        logger.info("twin: %d devices loaded; %d messages wait for the cloud", len(self.twins.devices), len(self.outbox))
        self._act_on_connection()  # after a restart the hub may be connected already

    def on_stop(self) -> None:
        try:
            self._tidy()
        finally:
            self.store.close()
            super().on_stop()

    # --- envelopes ------------------------------------------------------------------------

    def handle_message(self, message: Message) -> None:
        if is_delivery_report(message):
            self._reported(DeliveryReport.of(message))
            return
        if message.parent_id and self.outbox.confirm(message.parent_id):
            self._schedule_tidy()
        if self.membership is not None and _waits_for_membership(message):
            self.membership.held.append(message)  # handled, in order, once the membership is applied
            return
        source = message.source
        if source == "bus":
            self._from_device(message)
        elif source in CLOUD_SOURCES and _confirms_a_report(message):
            self._cloud_confirms_reports()
        elif source in CLOUD_SOURCES:
            self._from_cloud(message)
        elif source == NODE_CONNECTION_SOURCE and message.resource == NODE_CONNECTION_RESOURCE:
            cloud_connected(message.content)  # a bad event is refused; what it says, the hub's view says
            self._act_on_connection()
        elif not message.parent_id:
            raise UnknownResourceError(f"twin: nothing handles {message.operation} {message.resource!r} from {source!r}")

    def _cloud_confirms_reports(self) -> None:
        """docs/protocol.md#5.8: the original waits for these replies; a cloud that sends them lets the
        twin keep every report until it is confirmed, so a link that breaks loses none."""
        if not self.outbox.keep_until_confirmed:
            self.outbox.keep_until_confirmed = True
            _CONFIRMING_CLOUDS.add(self.module_router)
            logger.info("twin: the cloud confirms reports; each is kept until confirmed and resent after a link loss")

    def _from_device(self, message: Message) -> None:
        """docs/protocol.md#5.3, source ``bus``: the topic names the action."""
        topic = decode_topic(message.resource)
        parts = topic.split("/")
        if len(parts) == 4 and parts[2] in ("connected", "disconnected"):
            logger.debug("twin: device %s event %s ignored", parts[3], parts[2])
            return
        if len(parts) < 5 or parts[0] != "$hw" or parts[1] != "events":
            raise UnknownResourceError(f"twin: topic {topic!r} is not a device or node topic")
        # The original found the identity by its first occurrence in the topic, which breaks
        # for an id like "dev" (inside "device"); path parts do not.
        kind, identity, action = parts[2], parts[3], "/".join(parts[4:])
        handler = self._device_actions(kind, identity).get(action)
        if handler is None:
            raise UnknownResourceError(f"twin: no action for topic {topic!r}")
        self._apply(handler(_text(message.content)))

    def _device_actions(self, kind: str, identity: str) -> dict[str, Callable[[Any], Effects]]:
        twins = self.twins
        if kind == "device":
            return {
                "twin/update": lambda payload: twins.twin_update(identity, payload),
                "twin/get": lambda payload: twins.twin_get(identity, payload),
                "twin/cloud_updated": lambda payload: twins.cloud_updated(identity, payload),
                "state/update": lambda payload: twins.state_update(identity, payload),
            }
        if kind == "node":
            return {
                "membership/get": twins.membership_get,
                "membership/updated": lambda payload: self._membership(twins.membership_update_plan(payload), detail=False),
                "membership/detail/result": lambda payload: self._membership(twins.membership_detail_plan(payload), detail=True),
            }
        return {}

    def _from_cloud(self, message: Message) -> None:
        """docs/protocol.md#5.3, sources ``edgemgr`` / ``devicecontroller``: rules in this order."""
        resource, content = message.resource, message.content
        parts = resource.split("/")
        if "membership/detail" in resource:
            effects = self._membership(self.twins.membership_detail_plan(content), detail=True)
        elif "membership" in resource:
            effects = self._membership(self.twins.membership_update_plan(content), detail=False)
        elif "twin/cloud_updated" in resource and len(parts) > 1:
            effects = self.twins.cloud_updated(parts[1], content)
        elif Operation.UPDATED in message.operation and len(parts) == 2 and parts[0] == "device":
            effects = self.twins.attributes_updated(parts[1], content)
        elif message.parent_id:
            # docs/protocol.md#5.3: a reply only confirms (a cloud may answer edge_updated, e.g. this project's).
            logger.debug("twin: %s answers %s (%s)", message.id, message.parent_id, resource)
            return
        else:
            raise UnknownResourceError(f"twin: nothing handles {message.operation} {resource!r} from the cloud")
        self._apply(effects)

    # --- memberships, slice by slice ---------------------------------------------------------

    def _membership(self, plan: MembershipPlan, *, detail: bool) -> Effects:
        """Start applying a parsed membership (docs/architecture.md#4.4): its first slice now,
        each next one once the bus has taken the publishes of the one before. Until its last
        slice is committed, cloud messages and node topics wait (device traffic does not)."""
        self.membership = _MembershipJob(plan, detail, now_ms())
        self._membership_slice()
        return Effects()  # every slice was applied on its own

    def _membership_slice(self) -> None:
        job = self.membership
        assert job is not None
        effects = self.twins.membership_slice(job.plan, self.settings.membership_slice)
        job.failed |= not self._apply(effects)
        job.slices += 1
        if not job.plan.done:
            self._when_bus_took_publishes()
            return
        self.membership = None
        # A cloud that answers without parent_msg_id still answers the detail requests; only once
        # all of it is committed (a request left unconfirmed is sent again, and answered again).
        if job.detail and not job.failed and self.outbox.confirm_matching(lambda request: _detail_request_before(request, job.started_ms)):
            self._schedule_tidy()
        if job.slices > 1:
            logger.info("twin: membership applied in %d slices%s", job.slices, " (some writes failed)" if job.failed else "")
        self._handle_held(job.held)

    def _when_bus_took_publishes(self) -> None:
        """Ask the bus to answer once its queues have room; the next slice comes with the answer,
        behind whatever the mailbox holds by then (device updates interleave)."""
        query = Message.new(source="twin", group=Group.BUS, operation=Operation.QUERY, resource=PUBLISH_QUEUE_RESOURCE, content=None)
        future = self.module_router.send_sync(Module.BUS, query, timeout_s=BUS_QUEUE_TIMEOUT_S)
        self.module_on_reply(future, self._bus_answered)

    def _bus_answered(self, reply: Message | None, error: BaseException | None) -> None:
        job = self.membership
        if job is None:
            return
        if error is not None and not job.bus_silent:
            job.bus_silent = True
            logger.warning("twin: the bus did not say it took a membership slice (%s); going on without waiting for it", error)
        self._membership_slice()

    def _handle_held(self, held: deque[Message]) -> None:
        """Messages held back during a membership, in order; a new membership holds the rest."""
        while held:
            if self.membership is not None:
                self.membership.held.extendleft(reversed(held))
                return
            message = held.popleft()
            try:
                self.handle_message(message)
            except MessageRejected as error:
                self.handle_rejection(message, error)

    def _confirm_detail_requests(self) -> None:
        if self.outbox.confirm_matching(lambda request: request.resource == "membership/detail"):
            self._schedule_tidy()

    def _act_on_connection(self) -> None:
        """The hub's state changed (an event, or this actor's start): act once on each state.

        docs/protocol.md#5.6 lifecycle: on connect, ask for the membership detail, then send the
        backlog; on disconnect, reports the cloud has not confirmed wait to be sent again.
        """
        state, previous = self._cloud.state, self._acted_on
        if state is None or state == previous:
            return  # no hub has said anything yet, or this state was acted on
        self._acted_on = state
        if state.connected:
            # A disconnect this actor did not see (the link flapped meanwhile) lost what it wrote too.
            self.outbox.reset_unconfirmed(written_before=state.change)
            self._confirm_detail_requests()  # the new request supersedes any from an earlier connection
            effects = Effects()
            effects.cloud.append((membership_detail_request(self.twins.node_id), True))
            self._apply(effects)
            logger.info("twin: cloud connected; %d messages to send", len(self.outbox))
            self._flush()
        else:
            if previous is not None and previous.connected:
                logger.info("twin: cloud disconnected; messages for it are kept")
            self.outbox.reset_unconfirmed()

    def _reported(self, report: DeliveryReport) -> None:
        """The hub's word on what it wrote and what it gave back: the next batch goes."""
        self.outbox.reported(report)
        if self.outbox.has_delivered:
            self._schedule_tidy()
        self._flush()

    # --- carrying out effects --------------------------------------------------------------

    def _apply(self, effects: Effects) -> bool:
        """Store, then install, publish and send; False (nothing changed) when the write failed."""
        batch = effects.batch
        batch.outbox_added.extend(OutboxRecord(message, awaited) for message, awaited in effects.cloud)
        delivered = self.outbox.take_delivered()
        batch.outbox_removed.extend(delivered)
        try:
            self.store.commit(batch)
        except StoreError as error:
            self.store_failures += 1
            self.outbox.give_back(delivered)
            logger.warning("twin: write failed, nothing changed [%d so far]: %s", self.store_failures, error)
            self._publish([(topic, to_json_bytes(document)) for topic, document in effects.on_store_failure])
            return False
        self.twins.install(effects)
        for message, awaited in effects.cloud:
            self.outbox.add(message, awaited)
        self._publish(effects.publishes)
        if effects.cloud:
            self._flush()
        if not self._checkpointing and self.store.checkpoint_due():
            self._checkpointing = True
            self.module_run_in_background(self.store.checkpoint, lambda outcome: CheckpointDone(outcome.error))
        return True

    @handles(CheckpointDone)
    def _on_checkpoint_done(self, event: CheckpointDone) -> None:
        self._checkpointing = False
        if event.error is not None:
            logger.warning("twin: checkpoint failed; the next one tries again: %s", event.error)

    def _publish(self, publishes: list[tuple[str, bytes]]) -> None:
        # docs/architecture.md#4.4: straight to the bus's clients from this thread while a bus
        # runs (one hand-over less to the device app); a publish message while none does.
        bus = self._bus
        for topic, payload in publishes:
            if not bus.publish(topic, payload):
                request = Message.new(source="twin", group=Group.BUS, operation=Operation.PUBLISH, resource=topic, content=payload)
                self.module_router.send(Module.BUS, request)

    def _flush(self) -> None:
        state = self._cloud.state
        if state is None or not state.connected or self._flush_timer is not None:
            return
        if state != self._acted_on:
            # A state the events have not brought yet: act on it first, so what the link that
            # went away wrote is sent again before anything newer (this calls _flush again).
            self._act_on_connection()
            return
        if self.outbox.flush():
            self.flush_backoff.reset()
        else:
            self._flush_timer = self.module_tell_later(self.flush_backoff.next_delay(), FlushOutbox())
        if self.outbox.has_delivered:
            self._schedule_tidy()

    def _schedule_tidy(self) -> None:
        if self._tidy_timer is None:
            self._tidy_timer = self.module_tell_later(TIDY_DELAY_S, TidyOutbox())

    def _tidy(self) -> None:
        self._tidy_timer = None
        delivered = self.outbox.take_delivered()
        if not delivered:
            return
        try:
            self.store.commit(StoreBatch(outbox_removed=delivered))
        except StoreError as error:
            self.outbox.give_back(delivered)
            logger.warning("twin: cannot delete %d delivered messages yet: %s", len(delivered), error)

    @handles(ResendDue)
    def _on_resend_due(self, event: ResendDue) -> None:
        self.outbox.resend_due(event.msg_id, self._cloud.connected)
        if self.outbox.has_delivered:
            self._schedule_tidy()
        self._flush()

    @handles(FlushOutbox)
    def _on_flush_outbox(self, _: FlushOutbox) -> None:
        self._flush_timer = None
        self._flush()

    @handles(TidyOutbox)
    def _on_tidy_outbox(self, _: TidyOutbox) -> None:
        self._tidy()

    def module_metrics(self) -> dict[str, float]:
        """Devices served, and the cloud backlog with what happened to it."""
        stats = self.outbox.stats
        return {
            "devices": float(len(self.twins.devices)),
            "device_twins": float(sum(len(device.twins) for device in self.twins.devices.values())),
            "outbox_depth": float(len(self.outbox)),
            "outbox_sent_total": float(stats.sent),
            "outbox_resent_total": float(stats.resent),
            "outbox_given_up_total": float(stats.given_up),
            "outbox_dropped_total": float(stats.dropped),
            "store_failures_total": float(self.store_failures),
        }


def _confirms_a_report(message: Message) -> bool:
    """A reply from the cloud naming an ``edge_updated`` or ``state`` report the twin sent."""
    parts = message.resource.split("/")
    is_report = len(parts) >= 3 and parts[0] == "device" and (parts[2:] == ["twin", "edge_updated"] or parts[2:] == ["state"])
    return bool(message.parent_id) and message.operation == Operation.RESPONSE and is_report


def _detail_request_before(request: Message, started_ms: int) -> bool:
    return request.resource == "membership/detail" and request.header.timestamp_ms <= started_ms


def _waits_for_membership(message: Message) -> bool:
    """Held back while a membership is applied: what the cloud sends (but replies confirming
    reports) and node topics from device apps; device topics are not held."""
    if message.source in CLOUD_SOURCES:
        return not _confirms_a_report(message)
    return message.source == "bus" and decode_topic(message.resource).startswith("$hw/events/node/")


def _text(content: Any) -> Any:
    return content.decode("utf-8", errors="replace") if isinstance(content, bytes | bytearray) else content


__all__ = ["CheckpointDone", "FlushOutbox", "ResendDue", "TidyOutbox", "TwinActor", "TwinSettings"]
