"""Tier 1: the twin's outbox as the one owner of its messages until the hub has written them
(docs/architecture.md#5.2)."""

from __future__ import annotations

from actors.protocol import DeliveryReport
from actors.twin.outbox import CloudOutbox
from kubeedge_actors.backoff import Backoff
from kubeedge_actors.message import Message


class Hub:
    """Takes what the outbox hands over, or refuses while ``refusing``."""

    def __init__(self) -> None:
        self.handed: list[Message] = []
        self.refusing = False
        self.resends: list[tuple[float, str]] = []

    def send(self, message: Message) -> bool:
        if self.refusing:
            return False
        self.handed.append(message)
        return True

    def take(self) -> list[Message]:
        handed, self.handed = self.handed, []
        return handed


def outbox(hub: Hub, **options: int) -> CloudOutbox:
    return CloudOutbox(
        send=hub.send,
        resend_after=lambda delay_s, msg_id: hub.resends.append((delay_s, msg_id)),
        new_backoff=lambda: Backoff(10.0, 40.0, jitter=0.0),
        **options,
    )


def report(n: int) -> Message:
    return Message.new(source="twin", group="resource", operation="update", resource=f"device/d/twin/edge_updated#{n}", content={})


def ids(messages: list[Message]) -> list[str]:
    return [m.id for m in messages]


def test_one_batch_is_with_the_hub_at_a_time_and_its_report_lets_the_next_go() -> None:
    hub = Hub()
    box = outbox(hub, batch=2)
    messages = [report(n) for n in range(3)]
    for message in messages:
        box.add(message, awaited=False)

    box.flush()
    first = hub.take()
    box.flush()
    while_with_the_hub = hub.take()
    box.reported(DeliveryReport(written=tuple(ids(first))))
    box.flush()

    assert (first, while_with_the_hub, hub.take()) == (messages[:2], [], messages[2:])
    assert box.take_delivered() == ids(messages[:2]) and len(box) == 1


def test_messages_the_hub_returns_go_out_again_before_anything_newer() -> None:
    hub = Hub()
    box = outbox(hub)
    old = [report(n) for n in range(2)]
    for message in old:
        box.add(message, awaited=False)
    box.flush()
    hub.take()
    newer = report(2)
    box.add(newer, awaited=False)

    box.reported(DeliveryReport(written=(old[0].id,), returned=(old[1].id,)))
    box.flush()

    assert hub.take() == [old[1], newer]
    assert box.take_delivered() == [old[0].id]


def test_a_written_message_stays_until_confirmed_once_the_cloud_confirms_and_waits_again_after_a_loss() -> None:
    hub = Hub()
    box = outbox(hub)
    box.keep_until_confirmed = True
    first, second = report(1), report(2)
    box.add(first, awaited=False)
    box.add(second, awaited=False)
    box.flush()
    box.reported(DeliveryReport(written=tuple(ids(hub.take()))))

    box.confirm(first.id)
    box.reset_unconfirmed()
    box.flush()

    assert hub.take() == [second]
    assert box.take_delivered() == [first.id]
    assert (box.stats.sent, box.stats.resent) == (2, 0)


def test_a_confirmation_that_comes_before_the_hubs_report_delivers_the_message() -> None:
    hub = Hub()
    box = outbox(hub)
    message = report(1)
    box.add(message, awaited=False)
    box.flush()
    hub.take()

    assert box.confirm(message.id)
    box.reported(DeliveryReport(written=(message.id,)))  # late: changes nothing

    assert box.with_hub == 0 and len(box) == 0 and box.take_delivered() == [message.id]


def test_what_a_crashed_hub_took_and_never_reported_on_goes_out_again_when_a_hub_starts() -> None:
    hub = Hub()
    box = outbox(hub)
    message = report(1)
    box.add(message, awaited=False)
    box.flush()
    hub.take()

    box.reported(DeliveryReport(hub_started=True))
    box.flush()

    assert hub.take() == [message] and box.with_hub == 1


def test_an_awaited_message_is_resent_after_its_back_off_and_given_up_after_the_limit() -> None:
    hub = Hub()
    box = outbox(hub, resend_limit=2)
    request = report(0)
    box.add(request, awaited=True)
    sends = []
    for _ in range(3):
        box.flush()
        handed = hub.take()
        sends += handed
        box.reported(DeliveryReport(written=tuple(ids(handed))))
        box.resend_due(request.id, connected=True)

    assert sends == [request, request]
    assert [delay for delay, _ in hub.resends] == [10.0, 20.0]
    assert box.stats.given_up == 1 and len(box) == 0


def test_a_hub_that_refuses_keeps_the_message_waiting_in_its_place() -> None:
    hub = Hub()
    box = outbox(hub)
    messages = [report(n) for n in range(2)]
    for message in messages:
        box.add(message, awaited=False)
    hub.refusing = True

    refused = box.flush()
    hub.refusing = False
    box.flush()

    assert refused is False and hub.take() == messages


def test_beyond_the_limit_the_oldest_waiting_message_is_dropped_never_one_with_the_hub() -> None:
    hub = Hub()
    box = outbox(hub, limit=2, batch=1)
    messages = [report(n) for n in range(3)]
    box.add(messages[0], awaited=False)
    box.flush()  # messages[0] is with the hub

    box.add(messages[1], awaited=False)
    box.add(messages[2], awaited=False)

    assert box.stats.dropped == 1 and box.take_delivered() == [messages[1].id]
    box.reported(DeliveryReport(written=(messages[0].id,)))
    box.flush()
    assert hub.take() == [messages[0], messages[2]]
