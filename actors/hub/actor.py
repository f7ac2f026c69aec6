"""The edge end of the cloud link: edgehub (docs/protocol.md#3), wire name ``websocket``, group ``hub``."""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from dataclasses import dataclass

from actors.hub.delivery import SenderReports
from actors.hub.transport import CloudDialer, CloudLink, LinkSettings, WebsocketDialer
from actors.keys import EDGE_KEYS
from actors.protocol import (
    CLOUD_CONNECTED,
    CLOUD_DISCONNECTED,
    DURABLE_SENDERS,
    NODE_CONNECTION_RESOURCE,
    NODE_CONNECTION_SOURCE,
    CloudGroup,
    CloudState,
    DeliveryReport,
    Group,
    Module,
    Operation,
    cloud_away_reply,
    cloud_connection_view,
)
from kubeedge_actors import Config, Message, ModuleActor, Outcome, Router, handles
from kubeedge_actors.backoff import Backoff
from kubeedge_actors.errors import MessageDecodeError
from kubeedge_actors.handover import Handover
from kubeedge_actors.logs import RateLimitedWarning
from kubeedge_actors.message import decode_message, encode_message

logger = logging.getLogger(__name__)

#: docs/protocol.md#3.7: the cloud's route.group → the beehive group that gets the message.
INBOUND_GROUPS: dict[str, str] = {
    CloudGroup.RESOURCE: Group.META,
    CloudGroup.FUNC: Group.META,
    CloudGroup.TWIN: Group.TWIN,
    CloudGroup.USER: Group.BUS,
}
#: docs/protocol.md#3.9 (docs/architecture.md#4.1): who hears about every connect and disconnect.
CONNECTION_EVENT_GROUPS: tuple[str, ...] = (Group.META, Group.TWIN, Group.BUS)
#: Batches of frames (each at most 256) read from the cloud and not yet handled; beyond this
#: the reader's batches are dropped and counted.
INBOUND_LIMIT = 1_000
#: Each redial wait is spread uniformly over [wait·(1-jitter), wait]: at the cap, over
#: [heartbeat, 2 × heartbeat], so a thousand edges that lost the same cloud do not dial in step.
REDIAL_JITTER = 0.5
#: Recent redial waits, kept for tests and the link benchmark.
_KEPT_DELAYS = 64
_WARN_INTERVAL_S = 10.0


def redial_cap_s(max_interval_s: float, heartbeat_s: float) -> float:
    """The longest redial wait: ``edgehub.reconnect.max-interval``, but never over 2 × heartbeat,
    the original's fixed wait after a lost link (docs/protocol.md#3.5)."""
    return min(max_interval_s, 2 * heartbeat_s)


def redial_backoff(initial_s: float, max_interval_s: float, heartbeat_s: float) -> Backoff:
    """The hub's redial schedule (docs/protocol.md#3.3): ``initial_s`` doubling up to
    :func:`redial_cap_s`, each wait jittered down by up to :data:`REDIAL_JITTER`."""
    cap = redial_cap_s(max_interval_s, heartbeat_s)
    return Backoff(initial_s=min(initial_s, cap), max_s=cap, jitter=REDIAL_JITTER)


@dataclass(frozen=True)
class HubSettings:
    """The hub's ``edgehub.*`` keys, read once."""

    link: LinkSettings
    reconnect_initial_s: float
    reconnect_max_s: float
    heartbeat_s: float
    #: A link that held this long (one heartbeat) is not part of a streak of failures.
    stable_after_s: float
    outbox_size: int

    @classmethod
    def from_config(cls, config: Config) -> HubSettings:
        return cls(
            link=LinkSettings.from_config(config),
            reconnect_initial_s=config["edgehub.reconnect.initial-interval"],
            reconnect_max_s=config["edgehub.reconnect.max-interval"],
            heartbeat_s=config["edgehub.controller.heartbeat"],
            stable_after_s=config["edgehub.controller.heartbeat"],
            outbox_size=config["edgehub.outbox-size"],
        )


# --- internal events (library and worker threads hand these over) ----------------------------


@dataclass(frozen=True, slots=True)
class DialCloud:
    """Timer: time to dial (again)."""

    attempt: int


@dataclass(frozen=True, slots=True)
class DialFinished:
    """A worker finished dialling generation ``generation``."""

    generation: int
    outcome: Outcome[CloudLink]


@dataclass(frozen=True, slots=True)
class CloudFramesReceived:
    """The link's thread read these frames (text or binary), in order."""

    generation: int
    frames: list[str | bytes]


@dataclass(frozen=True, slots=True)
class FlushToCloud:
    """End of a turn of the mailbox: hand what it produced for the cloud to the link at once,
    and send the durable senders their reports."""


@dataclass(frozen=True, slots=True)
class LinkWrote:
    """The link's thread wrote the first ``written`` frames handed to generation ``generation``."""

    generation: int
    written: int


@dataclass(frozen=True, slots=True)
class ConnectionLost:
    """The link's thread hit an I/O error and ended."""

    generation: int
    reason: str


class HubActor(ModuleActor):
    """The websocket link to the cloud (docs/protocol.md#3), and the one owner of the connection.

    Consumes:
        any envelope sent to module ``websocket``: written to the cloud unchanged (text frame),
        in order. What becomes of it when the cloud is away depends on who sent it
        (docs/architecture.md#5.2):

        - a durable sender's (source ``twin``, ``actors.protocol.DURABLE_SENDERS``): never kept
          here; a ``DeliveryReport`` (``node/delivery``) tells the sender, per message, whether
          the link wrote it to its socket or returns it (the cloud was away, or the link broke
          before writing it);
        - a request someone waits for (a ``send_sync`` waiter on its id) while the cloud is
          away: answered at once with an ``error`` from ``edgehub``;
        - anything else: kept in a bounded queue while the cloud is away
          (``edgehub.outbox-size``, the oldest dropped and counted when full) and written in
          order, once, on reconnect; frames a breaking link had not written go back in front.

        Except ``query`` on ``node/connection``: answered at once with the connection event as
        of now, ``parent_msg_id`` = the query's id, to its ``send_sync`` waiter, else to the
        module named as the query's source.
    Produces:
        every envelope from the cloud: to ``router.send_resp`` when a ``send_sync`` waits for
        its ``parent_msg_id``, else by ``route.group`` (``resource``/``func`` → group meta,
        ``twin`` → twin, ``user`` → bus; others dropped and counted); frames that are not an
        envelope are logged, counted and skipped (docs/protocol.md#13.2).
        On every connect and disconnect: the state in the router's ``CloudConnectionView``
        (the one place that says whether the cloud is connected), then a ``node/connection``
        publish, content ``cloud_connected``/``cloud_disconnected``, to groups meta, twin and
        bus (docs/protocol.md#3.9).
        a keepalive to the cloud every ``edgehub.controller.heartbeat`` seconds (docs/protocol.md#3.6).

    Connection states::

        ┌─► dialling ──ok──► connected ──I/O error──► wait back-off ──┐
        │      └──failed──► wait back-off ─────────────────────────────┤
        └───────────────────────────────────────────────────────────────┘
        stop: a close frame to the cloud, cloud_disconnected to the others.
    """

    module_name = Module.HUB
    module_group = Group.HUB
    module_config_keys = EDGE_KEYS

    def __init__(self, router: Router, config: Config | None = None, *, dialer: CloudDialer | None = None, **kwargs: str | None) -> None:
        super().__init__(router, config, **kwargs)
        self._settings = settings = HubSettings.from_config(self.module_config)
        self._dialer: CloudDialer = dialer if dialer is not None else WebsocketDialer(settings.link)
        self._backoff = redial_backoff(settings.reconnect_initial_s, settings.reconnect_max_s, settings.heartbeat_s)
        self._view = cloud_connection_view(router)
        self._outbox: deque[str] = deque()
        self._to_cloud: list[str] = []  # encoded this turn, for FlushToCloud
        self._to_cloud_owned: list[tuple[int, str, str]] = []  # (index in _to_cloud, sender, id)
        self._turn_end_told = False
        self._senders = SenderReports()
        self._link: CloudLink | None = None
        self._generation = 0
        self._connected_at = 0.0
        self._dial_failures = 0
        self._overflowing = False
        self._handover: Handover | None = None
        self._warnings = RateLimitedWarning(_WARN_INTERVAL_S)  # a noisy cloud must not flood the log
        # Counters, for tests, logs and metrics.
        self.dial_count = 0
        self.dial_failure_count = 0
        self.connect_count = 0
        self.lost_count = 0
        self.sent_count = 0
        self.received_count = 0
        self.bad_frame_count = 0
        self.outbox_dropped_count = 0
        self.refused_count = 0
        self.stale_event_count = 0
        self.unrouted_counts: Counter[str] = Counter()
        self.redial_delays: deque[float] = deque(maxlen=_KEPT_DELAYS)  # the latest waits before a redial

    # --- lifecycle --------------------------------------------------------------------------

    def on_start(self) -> None:
        self._handover = Handover(self.module_tell_self, INBOUND_LIMIT, "hub: frames from the cloud")
        if self._settings.link.is_tls and self._settings.link.cafile is None:
            logger.warning(
                "hub: edgehub.websocket.cafile is not set: the cloud's certificate is not verified, as in the original;"
                " set edgehub.websocket.cafile to the CA that signed it to verify the cloud"
            )
        elif not self._settings.link.is_tls:
            logger.warning("hub: %s is not encrypted (ws://); use wss:// outside development", self._dialer.url)
        for sender, group in DURABLE_SENDERS.items():  # after a crash of the last hub: what it took and never reported on goes out again
            self.module_router.send(sender, DeliveryReport(hub_started=True).to_message(group))
        self.module_tell_self(DialCloud(self._generation + 1))

    def on_stop(self) -> None:
        self._flush_to_cloud()
        link, self._link = self._link, None
        if link is not None:
            if link.close():
                self._settle(link.take_unsent())
            else:  # its thread is still writing: what it may not have written goes back
                self._senders.settle_unknown()
            logger.info("hub: closed the connection to the cloud (generation %d)", link.generation)
            self._publish_connection(False)
        self._send_reports()
        super().on_stop()

    # --- messages for the cloud -------------------------------------------------------------

    def handle_message(self, message: Message) -> None:
        if message.operation == Operation.QUERY and message.resource == NODE_CONNECTION_RESOURCE:
            self._answer_connection_query(message)
            return
        text = encode_message(message)  # MessageDecodeError: warning, keep serving
        sender = message.source if message.source in DURABLE_SENDERS else None
        if self._link is None:
            self._while_away(message, text, sender)
            return
        # One hand-over to the link per burst of the mailbox, not one wake-up per message.
        self._end_turn_later()
        if sender is not None:
            self._to_cloud_owned.append((len(self._to_cloud), sender, message.id))
        self._to_cloud.append(text)

    def _while_away(self, message: Message, text: str, sender: str | None) -> None:
        """docs/architecture.md#5.2: who keeps a message while the cloud is away."""
        if sender is not None:
            self._senders.returned(sender, message.id)  # its sender keeps it
            self._end_turn_later()
        elif self.module_router.has_waiter(message.id):
            self.refused_count += 1  # its waiter would time out before the cloud is back
            self.module_router.send_resp(cloud_away_reply(message))
        else:
            self._keep_for_later(text)

    def _end_turn_later(self) -> None:
        if not self._turn_end_told:
            self._turn_end_told = True
            self.module_tell_self(FlushToCloud())

    @handles(FlushToCloud)
    def _on_turn_end(self, _: FlushToCloud) -> None:
        self._turn_end_told = False
        self._flush_to_cloud()
        self._send_reports()

    def _flush_to_cloud(self) -> None:
        texts, self._to_cloud = self._to_cloud, []
        owned, self._to_cloud_owned = self._to_cloud_owned, []
        if not texts:
            return
        # Only a link can have taken them (the loss handler hands this turn's frames to the
        # dying link first), so a link is here.
        link = self._link
        assert link is not None
        self._senders.handed(len(texts), owned)
        link.send_many(texts, report=bool(owned))
        self.sent_count += len(texts)

    def _keep_for_later(self, text: str) -> None:
        self._outbox.append(text)
        self._drop_oldest_beyond_limit()

    def _drop_oldest_beyond_limit(self) -> None:
        """Keep at most edgehub.outbox-size messages: drop the oldest, count them, say so once."""
        limit = self._settings.outbox_size
        while len(self._outbox) > limit:
            self._outbox.popleft()
            self.outbox_dropped_count += 1
            if not self._overflowing:
                self._overflowing = True
                logger.warning("hub: %d messages wait for the cloud (edgehub.outbox-size); dropping the oldest until it is back", limit)

    # --- what became of the durable senders' messages ---------------------------------------

    @handles(LinkWrote)
    def _on_link_wrote(self, event: LinkWrote) -> None:
        if self._link is None or event.generation != self._link.generation:
            return  # the loss handler has settled that generation already
        self._senders.written_up_to(event.written)
        self._send_reports()

    def _settle(self, unsent: list[str]) -> None:
        """The link is gone and ``unsent`` is what it never wrote: the durable senders hear of
        theirs; the rest goes back in front of the outbox, in order."""
        self._outbox.extendleft(reversed(self._senders.settle(unsent)))
        self._drop_oldest_beyond_limit()

    def _send_reports(self) -> None:
        for sender, report in self._senders.take().items():
            self.module_router.send(sender, report.to_message(DURABLE_SENDERS[sender]))

    # --- the connection ---------------------------------------------------------------------

    @handles(DialCloud)
    def _dial(self, event: DialCloud) -> None:
        if self._link is not None or event.attempt != self._generation + 1:
            return  # connected meanwhile, or an older timer
        self._generation = generation = event.attempt
        self.dial_count += 1
        handover = self._handover
        assert handover is not None  # made in on_start
        tell = self.module_tell_self

        def on_frames(frame_generation: int, frames: list[str | bytes]) -> None:  # the link's thread
            handover.offer(CloudFramesReceived(frame_generation, frames))

        def on_lost(lost_generation: int, reason: str) -> None:  # the link's thread
            tell(ConnectionLost(lost_generation, reason))

        def on_written(written_generation: int, written: int) -> None:  # the link's thread
            tell(LinkWrote(written_generation, written))

        dialer = self._dialer

        def dial() -> CloudLink:  # a worker thread
            return dialer.dial(generation, on_frames, on_lost, on_written)

        # A link dialled while the hub stops is closed, not left open (see discard).
        self.module_run_in_background(dial, lambda outcome: DialFinished(generation, outcome), discard=_close_at_once)

    @handles(DialFinished)
    def _on_dialled(self, event: DialFinished) -> None:
        link = event.outcome.value
        if event.generation != self._generation or self._link is not None:
            if link is not None:
                link.close(wait_s=0)
            return
        if link is None:
            self._dial_failed(str(event.outcome.error))
            return
        link.start()
        self._link = link
        self._connected_at = time.monotonic()
        self._dial_failures = 0
        self.connect_count += 1
        logger.info("hub: connected to the cloud at %s (generation %d)", self._dialer.url, link.generation)
        self._senders.new_link(self._publish_connection(True).change)
        self._flush_outbox(link)

    def _dial_failed(self, reason: str) -> None:
        self._dial_failures += 1
        self.dial_failure_count += 1
        delay = self._next_delay()
        # One line per state change: the first failure is a warning, the retries are debug.
        log = logger.warning if self._dial_failures == 1 else logger.debug
        log("hub: cannot connect to the cloud at %s: %s; retrying in %.1f s", self._dialer.url, reason, delay)
        self.module_tell_later(delay, DialCloud(self._generation + 1))

    @handles(ConnectionLost)
    def _on_lost(self, event: ConnectionLost) -> None:
        link = self._link
        if link is None or event.generation != link.generation:
            self.stale_event_count += 1
            return
        self._flush_to_cloud()  # this turn's frames join what the dead link never wrote
        self._link = None
        self.lost_count += 1
        link.close(wait_s=0)
        self._settle(link.take_unsent())
        if time.monotonic() - self._connected_at >= self._settings.stable_after_s:
            self._backoff.reset()  # a link that held is not part of a failure streak
        delay = self._next_delay()
        logger.warning("hub: lost the cloud (generation %d): %s; redialling in %.1f s", event.generation, event.reason, delay)
        self._publish_connection(False)
        self.module_tell_later(delay, DialCloud(self._generation + 1))

    def _flush_outbox(self, link: CloudLink) -> None:
        if self._outbox:
            count = len(self._outbox)
            link.send_many(self._outbox)
            self._outbox.clear()
            self._senders.handed(count)
            self.sent_count += count
            logger.info("hub: sent %d messages kept while the cloud was away", count)
        if self._overflowing:
            self._overflowing = False
            dropped = self.outbox_dropped_count
            logger.warning("hub: %d messages for the cloud were dropped so far because edgehub.outbox-size was full", dropped)

    # --- messages from the cloud ------------------------------------------------------------

    @handles(CloudFramesReceived)
    def _on_frames(self, event: CloudFramesReceived) -> None:
        assert self._handover is not None
        self._handover.taken()
        if self._link is None or event.generation != self._link.generation:
            self.stale_event_count += 1
            return
        for data in event.frames:
            try:
                message = decode_message(data)
            except MessageDecodeError as error:
                self.bad_frame_count += 1
                text = "hub: skipped a frame from the cloud that is not an envelope: %s [%d so far]"
                self._warnings.log(logger, "bad-frame", text, error, self.bad_frame_count)
                continue
            self.received_count += 1
            self._route_inbound(message)

    def _route_inbound(self, message: Message) -> None:
        router = self.module_router
        # docs/protocol.md#3.8: a reply someone waits for goes to its waiter, not to the group.
        if message.parent_id and router.has_waiter(message.parent_id) and router.send_resp(message):
            return
        group = INBOUND_GROUPS.get(message.group)
        if group is None:
            self.unrouted_counts[message.group] += 1
            self._warnings.log(
                logger,
                f"group:{message.group}",
                "hub: dropped %s from the cloud: no module serves group %r [%d so far]",
                message.id,
                message.group,
                self.unrouted_counts[message.group],
            )
            return
        router.send_to_group(group, message)

    # --- metrics ----------------------------------------------------------------------------

    def module_metrics(self) -> dict[str, float]:
        """The link as an operator watches it: up or not, how often it came back, what waits."""
        handover = self._handover
        return {
            "cloud_connected": 1.0 if self._link is not None else 0.0,
            "cloud_reconnects_total": float(max(0, self.connect_count - 1)),
            "cloud_link_losses_total": float(self.lost_count),
            "cloud_dial_failures_total": float(self.dial_failure_count),
            "outbox_depth": float(len(self._outbox) + len(self._to_cloud)),
            "outbox_dropped_total": float(self.outbox_dropped_count),
            "messages_to_cloud_total": float(self.sent_count),
            "messages_from_cloud_total": float(self.received_count),
            "messages_returned_total": float(self._senders.returned_count),
            "cloud_requests_refused_total": float(self.refused_count),
            "cloud_frames_dropped_total": float(handover.dropped if handover is not None else 0),
            "bad_frames_total": float(self.bad_frame_count),
            "unrouted_total": float(sum(self.unrouted_counts.values())),
        }

    # --- helpers ----------------------------------------------------------------------------

    def _next_delay(self) -> float:
        delay = self._backoff.next_delay()
        self.redial_delays.append(delay)
        return delay

    def _publish_connection(self, connected: bool) -> CloudState:
        state = self._view.publish(connected)  # first: whoever handles what follows reads this state, or a newer one
        self._send_reports()  # a durable sender hears what became of its messages before it hears of the change
        for group in CONNECTION_EVENT_GROUPS:
            self.module_router.send_to_group(group, _connection_event(group, connected))
        return state

    def _answer_connection_query(self, query: Message) -> None:
        """The connection event as of now, for a module that wants the state as an event: to
        the sync waiter, else to the module named as source."""
        answer = _connection_event(query.group, self._link is not None, parent_id=query.id)
        if not (query.is_sync and self.module_router.send_resp(answer)):
            self.module_router.send(query.source, answer)

    @property
    def connected(self) -> bool:
        return self._link is not None

    @property
    def outbox_length(self) -> int:
        return len(self._outbox)


def _close_at_once(link: CloudLink) -> None:
    link.close(wait_s=0)


def _connection_event(group: str, connected: bool, parent_id: str = "") -> Message:
    """docs/protocol.md#3.9: ``node/connection`` from ``edgehub``, content ``cloud_connected``/``cloud_disconnected``."""
    content = CLOUD_CONNECTED if connected else CLOUD_DISCONNECTED
    return Message.new(
        source=NODE_CONNECTION_SOURCE,
        group=group,
        operation=Operation.PUBLISH,
        resource=NODE_CONNECTION_RESOURCE,
        content=content,
        parent_id=parent_id,
    )


__all__ = [
    "CONNECTION_EVENT_GROUPS",
    "INBOUND_GROUPS",
    "CloudFramesReceived",
    "ConnectionLost",
    "DialCloud",
    "DialFinished",
    "FlushToCloud",
    "HubActor",
    "HubSettings",
    "LinkWrote",
]
