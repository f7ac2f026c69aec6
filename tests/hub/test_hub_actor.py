"""Tier 1: the hub actor object with a recording router and a fake link (docs/protocol.md#3)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.hub import HubActor
from actors.hub.actor import INBOUND_GROUPS
from actors.keys import EDGE_KEYS, edge_defaults
from actors.testing import cloud_message, edged_message
from kubeedge_actors import Config, Message, load_config
from kubeedge_actors.message import decode_message, encode_message
from kubeedge_actors.testing import ActorHarness, make_message
from tests.hub.fakes import FakeDialer

CONNECTION_GROUPS = ["meta", "twin", "bus"]


def hub_config(**values: Any) -> Config:
    return edge_defaults().with_values({"edgehub.websocket.url": FakeDialer.url, **values})


@pytest.fixture
def dialer() -> Iterator[FakeDialer]:
    dialer = FakeDialer()
    yield dialer
    assert dialer.unexpected == [], f"the hub dialled without a scripted answer: generations {dialer.unexpected}"


def start_hub(dialer: FakeDialer, **config: Any) -> ActorHarness[HubActor]:
    harness = ActorHarness(HubActor, hub_config(**config), dialer=dialer)
    harness.start()
    return harness


def connection_events(harness: ActorHarness[HubActor]) -> list[tuple[str, str]]:
    return [(m.group, m.content) for m in harness.router.take("group") if m.resource == "node/connection"]


def test_the_hub_dials_at_start_and_tells_meta_twin_and_bus_it_is_connected() -> None:
    dialer = FakeDialer().accept()

    harness = start_hub(dialer)

    assert harness.actor.connected and dialer.link.started
    events = harness.router.take("group")
    assert [(e.group, e.content) for e in events] == [(g, "cloud_connected") for g in CONNECTION_GROUPS]
    assert all(e.source == "edgehub" and e.operation == "publish" and e.resource == "node/connection" for e in events)


def test_a_message_for_the_cloud_goes_out_unchanged_while_connected() -> None:
    dialer = FakeDialer().accept()
    harness = start_hub(dialer)
    status = edged_message("update", "default/podstatus/nginx", {"Name": "nginx", "Status": {"phase": "Running"}}, sync=True)

    harness.deliver(status)

    [frame] = dialer.link.sent
    assert decode_message(frame) == status


def test_messages_handled_in_one_turn_reach_the_link_in_one_hand_over() -> None:
    dialer = FakeDialer().accept()
    harness = start_hub(dialer)
    messages = [make_message("update", f"default/podstatus/pod-{n}") for n in range(5)]

    for message in messages:
        harness.actor.on_receive(message)  # five messages waiting in the mailbox at once
    harness.run_pending()

    assert dialer.link.hand_overs == 1
    assert [decode_message(f) for f in dialer.link.sent] == messages


def test_messages_sent_while_the_cloud_is_away_go_out_in_order_once_on_reconnect() -> None:
    dialer = FakeDialer().refuse("connection refused").accept()
    harness = start_hub(dialer)
    queued = [make_message("update", f"default/podstatus/pod-{n}") for n in range(5)]
    for message in queued:
        harness.deliver(message)

    harness.advance(1.0)  # the first back-off wait is at most edgehub.reconnect.initial-interval

    assert [decode_message(f).id for f in dialer.link.sent] == [m.id for m in queued]
    assert harness.actor.outbox_length == 0
    harness.deliver(make_message("update", "default/podstatus/later"))
    assert len(dialer.link.sent) == 6


def test_a_full_outbox_drops_the_oldest_and_counts_them(caplog: pytest.LogCaptureFixture) -> None:
    dialer = FakeDialer().refuse()
    harness = start_hub(dialer, **{"edgehub.outbox-size": 3})
    messages = [make_message("update", f"default/podstatus/pod-{n}") for n in range(5)]

    with caplog.at_level(logging.WARNING):
        for message in messages:
            harness.deliver(message)

    assert harness.actor.outbox_length == 3
    assert harness.actor.outbox_dropped_count == 2
    assert [r.getMessage() for r in caplog.records].count(
        "hub: 3 messages wait for the cloud (edgehub.outbox-size); dropping the oldest until it is back"
    ) == 1
    dialer.accept()
    harness.advance(1.0)
    assert [decode_message(f).id for f in dialer.link.sent] == [m.id for m in messages[2:]]


def test_failed_dials_are_retried_after_growing_jittered_waits_capped_at_the_maximum() -> None:
    dialer = FakeDialer().refuse(times=9).accept()
    harness = start_hub(dialer, **{"edgehub.reconnect.initial-interval": 1.0, "edgehub.reconnect.max-interval": 4.0})

    waits = []
    while not harness.actor.connected:
        before, count = harness.scheduler.now_s, dialer.dial_count
        while dialer.dial_count == count:
            harness.advance(0.01)
        waits.append(harness.scheduler.now_s - before)

    nominal = [1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    assert len(waits) == len(nominal)
    assert all(0.5 * n - 0.02 <= w <= n + 0.02 for w, n in zip(waits, nominal, strict=True)), waits
    assert len({round(w, 2) for w in waits[2:]}) > 1  # spread out, not in step with other edges


def test_redial_waits_after_lost_links_never_exceed_two_heartbeats() -> None:
    dialer = FakeDialer().accept(7)
    harness = start_hub(dialer, **{"edgehub.controller.heartbeat": 2.0, "edgehub.reconnect.max-interval": 30.0})

    for generation in range(1, 7):  # each link lost at once: one streak of failures
        dialer.link.lose("connection reset by peer")
        harness.run_pending()
        while dialer.dial_count == generation:
            harness.advance(0.05)

    waits = list(harness.actor.redial_delays)
    assert len(waits) == 6
    assert all(w <= 4.0 for w in waits), waits
    assert all(w >= 2.0 for w in waits[3:]), waits  # 1, 2, 4 nominal, then capped at 2 × heartbeat


def test_a_lost_connection_tells_the_others_and_redials() -> None:
    dialer = FakeDialer().accept(2)
    harness = start_hub(dialer)
    harness.router.take()

    dialer.link.lose("connection reset by peer")
    harness.run_pending()
    after_loss = connection_events(harness)
    harness.advance(1.0)

    assert after_loss == [(g, "cloud_disconnected") for g in CONNECTION_GROUPS]
    assert connection_events(harness) == [(g, "cloud_connected") for g in CONNECTION_GROUPS]
    assert [link.generation for link in dialer.links] == [1, 2]


def test_frames_the_dead_link_never_wrote_go_out_first_on_the_next_link() -> None:
    dialer = FakeDialer().accept(2)
    harness = start_hub(dialer)
    unsent = [encode_message(make_message("update", f"default/podstatus/a{n}")) for n in range(2)]
    dialer.link.lose("broken pipe", unsent=unsent)
    sent_to_dead_link = make_message("update", "default/podstatus/b")
    harness.deliver(sent_to_dead_link)  # handled before the loss event: goes to the dead link

    harness.run_pending()
    harness.advance(1.0)

    assert [decode_message(f).resource for f in dialer.link.sent] == [
        "default/podstatus/a0",
        "default/podstatus/a1",
        "default/podstatus/b",
    ]


def test_unwritten_frames_beyond_the_outbox_size_on_a_lost_link_are_dropped_counted_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dialer = FakeDialer().accept(2)
    harness = start_hub(dialer, **{"edgehub.outbox-size": 3})
    unsent = [encode_message(make_message("update", f"default/podstatus/a{n}")) for n in range(5)]

    with caplog.at_level(logging.WARNING):
        dialer.link.lose("broken pipe", unsent=unsent)
        harness.run_pending()

    assert harness.actor.outbox_length == 3
    assert harness.actor.outbox_dropped_count == 2
    assert "hub: 3 messages wait for the cloud (edgehub.outbox-size); dropping the oldest until it is back" in [
        r.getMessage() for r in caplog.records
    ]
    harness.advance(1.0)
    assert [decode_message(f).resource for f in dialer.link.sent] == [f"default/podstatus/a{n}" for n in range(2, 5)]


def test_events_of_an_older_connection_generation_are_ignored() -> None:
    dialer = FakeDialer().accept(2)
    harness = start_hub(dialer)
    old = dialer.link
    old.lose()
    harness.run_pending()
    harness.advance(1.0)
    harness.router.take()

    old.receive(encode_message(cloud_message("insert", "default/pod/nginx")))
    old.lose("late second error")
    harness.run_pending()

    assert harness.router.sent == []
    assert harness.actor.connected and harness.actor.stale_event_count == 2


@pytest.mark.parametrize(
    ("cloud_group", "edge_group"),
    sorted(INBOUND_GROUPS.items()),
    ids=[f"{cloud}-to-{edge}" for cloud, edge in sorted(INBOUND_GROUPS.items())],
)
def test_a_cloud_message_is_routed_by_its_group(cloud_group: str, edge_group: str) -> None:
    dialer = FakeDialer().accept()
    harness = start_hub(dialer)
    harness.router.take()
    message = make_message("insert", "default/pod/nginx", {"kind": "Pod"}, source="controller", group=cloud_group)

    dialer.link.receive(encode_message(message))
    harness.run_pending()

    assert [(s.kind, s.destination, s.message) for s in harness.router.sent] == [("group", edge_group, message)]


@pytest.mark.parametrize("group", ["app", "cloudhub", ""], ids=["app", "cloudhub-notice", "empty"])
def test_a_cloud_message_of_another_group_is_dropped_and_counted(group: str, caplog: pytest.LogCaptureFixture) -> None:
    dialer = FakeDialer().accept()
    harness = start_hub(dialer)
    harness.router.take()

    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            dialer.link.receive(encode_message(make_message("disconnected", "node/node-1", source="resource", group=group)))
        harness.run_pending()

    assert harness.router.sent == []
    assert harness.actor.unrouted_counts[group] == 3
    assert sum("no module serves group" in r.getMessage() for r in caplog.records) == 1


def test_a_reply_someone_waits_for_goes_to_its_waiter_not_to_the_group() -> None:
    dialer = FakeDialer().accept()
    harness = start_hub(dialer)
    harness.router.take()
    query = make_message("query", "default/configmap/app", source="metaManager", group="meta", sync=True)
    harness.router.has_waiter = lambda request_id: request_id == query.id  # type: ignore[method-assign]
    reply = query.reply({"kind": "ConfigMap"}).with_route(source="controller", group="resource")

    dialer.link.receive(encode_message(reply))
    harness.run_pending()

    assert harness.router.take("resp") == [reply]
    assert harness.router.sent == []


def test_a_reply_nobody_waits_for_is_routed_by_its_group() -> None:
    dialer = FakeDialer().accept()
    harness = start_hub(dialer)
    harness.router.take()
    late_reply = make_message("query", "default/configmap/app").reply({}).with_route(group="resource")

    dialer.link.receive(encode_message(late_reply))
    harness.run_pending()

    assert harness.router.take("group", "meta") == [late_reply]


@pytest.mark.parametrize(
    "frame",
    [b"\xff\xfe not utf-8", "not json", "[1, 2]", '{"header": {"msg_id": 7}}', '{"route": "resource"}', '{"header": {"sync": "yes"}}'],
    ids=["not-utf8", "not-json", "array", "id-not-string", "route-not-object", "sync-not-bool"],
)
def test_a_frame_that_is_not_an_envelope_is_skipped_and_the_next_one_is_routed(frame: str | bytes) -> None:
    dialer = FakeDialer().accept()
    harness = start_hub(dialer)
    harness.router.take()
    good = cloud_message("insert", "default/pod/nginx", {"kind": "Pod"})

    dialer.link.receive(frame)
    dialer.link.receive(encode_message(good))
    harness.run_pending()

    assert harness.actor.bad_frame_count == 1
    assert harness.router.take("group", "meta") == [good]
    assert harness.actor.connected


def test_frames_read_in_one_batch_are_routed_in_their_order() -> None:
    dialer = FakeDialer().accept()
    harness = start_hub(dialer)
    harness.router.take()
    pushes = [cloud_message("insert", f"default/pod/p{n}") for n in range(3)]
    twin = make_message("update", "device/d/twin/cloud_updated", {}, source="devicecontroller", group="twin")

    dialer.link.receive(*(encode_message(m) for m in [pushes[0], twin, *pushes[1:]]))
    harness.run_pending()

    assert [(s.destination, s.message.resource) for s in harness.router.sent] == [
        ("meta", "default/pod/p0"),
        ("twin", "device/d/twin/cloud_updated"),
        ("meta", "default/pod/p1"),
        ("meta", "default/pod/p2"),
    ]


def test_a_binary_frame_is_read_like_a_text_frame() -> None:
    dialer = FakeDialer().accept()
    harness = start_hub(dialer)
    harness.router.take()
    message = cloud_message("update", "default/secret/token", {"data": {"t": "YQ=="}})

    dialer.link.receive(encode_message(message).encode())
    harness.run_pending()

    assert harness.router.take("group", "meta") == [message]


def test_a_message_whose_content_is_not_json_is_rejected_and_the_hub_keeps_serving(caplog: pytest.LogCaptureFixture) -> None:
    dialer = FakeDialer().accept()
    harness = start_hub(dialer)
    fine = make_message("update", "default/podstatus/a")

    with caplog.at_level(logging.WARNING):
        harness.deliver(make_message("update", "default/podstatus/b", content={1, 2}))
        harness.deliver(fine)

    assert [decode_message(f) for f in dialer.link.sent] == [fine]
    assert any("not JSON-shaped" in r.getMessage() for r in caplog.records)


def test_stopping_closes_the_link_and_tells_the_others() -> None:
    dialer = FakeDialer().accept()
    harness = start_hub(dialer)
    harness.router.take()

    harness.stop()

    assert dialer.link.closed
    assert connection_events(harness) == [(g, "cloud_disconnected") for g in CONNECTION_GROUPS]


@pytest.mark.parametrize(
    ("url", "cafile", "warning"),
    [
        ("wss://cloud:10000/p/n/events", "", "hub: edgehub.websocket.cafile is not set: the cloud's certificate is not verified"),
        ("ws://cloud:10000/p/n/events", "", "is not encrypted (ws://)"),
        ("wss://cloud:10000/p/n/events", "certs/ca.crt", None),
    ],
    ids=["wss-without-ca", "plain-ws", "wss-with-ca"],
)
def test_an_unverified_or_unencrypted_cloud_is_named_once_at_start(
    url: str, cafile: str, warning: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    dialer = FakeDialer().refuse(times=3)

    with caplog.at_level(logging.WARNING):
        harness = start_hub(dialer, **{"edgehub.websocket.url": url, "edgehub.websocket.cafile": cafile})
        harness.advance(3.0)

    start_warnings = [r.getMessage() for r in caplog.records if "verified" in r.getMessage() or "encrypted" in r.getMessage()]
    assert len(start_warnings) == (1 if warning else 0)
    assert warning is None or warning in start_warnings[0]


def test_a_cafile_left_out_of_the_conf_is_one_warning_that_says_how_to_verify_the_cloud(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "edge.yaml").write_text("edgehub:\n  websocket:\n    certfile: certs/edge.crt\n    keyfile: certs/edge.key\n")
    config = load_config(tmp_path, EDGE_KEYS).with_values({"edgehub.websocket.url": "wss://cloud:10000/p/n/events"})
    dialer = FakeDialer().refuse(times=3)

    with caplog.at_level(logging.WARNING):
        harness = ActorHarness(HubActor, config, dialer=dialer)
        harness.start()
        harness.advance(3.0)

    [warning] = [r.getMessage() for r in caplog.records if "cafile" in r.getMessage()]
    assert "the cloud's certificate is not verified, as in the original" in warning
    assert "set edgehub.websocket.cafile to the CA that signed it to verify the cloud" in warning


def test_only_the_first_of_a_streak_of_failed_dials_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    dialer = FakeDialer().refuse("connection refused", times=4)

    with caplog.at_level(logging.DEBUG, logger="actors.hub.actor"):
        harness = start_hub(dialer)
        for _ in range(72):
            harness.advance(0.1)  # dials at 0 s and after waits of ≤ 1, ≤ 2, ≤ 4 s (≤ 7 s); the fifth ≥ 7.5 s

    failures = [r for r in caplog.records if "cannot connect to the cloud" in r.getMessage()]
    assert [r.levelname for r in failures] == ["WARNING", "DEBUG", "DEBUG", "DEBUG"]
    assert "connection refused" in failures[0].getMessage()


def test_the_keepalive_has_the_exact_shape_of_the_original() -> None:
    from actors.hub.transport import keepalive_text

    document = json.loads(keepalive_text())

    assert list(document) == ["header", "route", "content"]
    assert list(document["header"]) == ["msg_id", "parent_msg_id", "timestamp", "sync"]
    assert document["header"]["parent_msg_id"] == "" and document["header"]["sync"] is False
    assert document["route"] == {"source": "websocket", "group": "resource", "operation": "keepalive", "resource": "node"}
    assert document["content"] == "ping"


def test_what_the_hub_sends_is_byte_for_byte_what_it_was_given() -> None:
    dialer = FakeDialer().accept()
    harness = start_hub(dialer)
    message = Message.new(source="twin", group="resource", operation="update", resource="device/d1/twin/edge_updated", content={"é": 1})

    harness.deliver(message)

    assert dialer.link.sent == [encode_message(message)]


@pytest.mark.parametrize(("connect", "state"), [(False, "cloud_disconnected"), (True, "cloud_connected")], ids=["away", "connected"])
def test_a_connection_query_is_answered_to_the_asking_module_with_the_state_now(connect: bool, state: str) -> None:
    dialer = FakeDialer().accept() if connect else FakeDialer().refuse()
    harness = start_hub(dialer)
    harness.router.take()
    query = make_message("query", "node/connection", source="twin", group="twin")

    harness.deliver(query)

    [answer] = harness.router.take("send", "twin")
    assert (answer.source, answer.group, answer.operation, answer.resource) == ("edgehub", "twin", "publish", "node/connection")
    assert (answer.content, answer.parent_id) == (state, query.id)
    assert all(link.sent == [] for link in dialer.links)  # not for the cloud


def test_a_sync_connection_query_is_answered_to_its_waiter() -> None:
    harness = start_hub(FakeDialer().accept())
    harness.router.take()
    query = make_message("query", "node/connection", source="tool", group="user", sync=True)

    harness.deliver(query)

    [answer] = harness.router.take("resp")
    assert (answer.content, answer.parent_id) == ("cloud_connected", query.id)
    assert harness.router.sent == []


def test_the_figures_follow_the_link_down_through_failed_dials_and_back_up() -> None:
    dialer = FakeDialer().accept().refuse(times=2).accept()
    harness = start_hub(dialer)
    harness.deliver(make_message("update", "default/podstatus/a"))
    up = harness.actor.module_metrics()

    dialer.link.lose("connection reset by peer")
    harness.run_pending()
    harness.deliver(make_message("update", "default/podstatus/b"))
    harness.deliver(make_message("update", "default/podstatus/c"))
    down = harness.actor.module_metrics()
    for _ in range(100):
        harness.advance(0.1)  # two refused dials, then the third is accepted
    back = harness.actor.module_metrics()

    assert (up["cloud_connected"], up["messages_to_cloud_total"], up["outbox_depth"]) == (1, 1, 0)
    assert (down["cloud_connected"], down["cloud_link_losses_total"], down["outbox_depth"]) == (0, 1, 2)
    assert (back["cloud_connected"], back["cloud_reconnects_total"], back["cloud_dial_failures_total"]) == (1, 1, 2)
    assert (back["outbox_depth"], back["messages_to_cloud_total"]) == (0, 3)


def test_the_figures_count_what_the_cloud_sent_and_what_could_not_be_routed() -> None:
    dialer = FakeDialer().accept()
    harness = start_hub(dialer)

    dialer.link.receive(
        encode_message(cloud_message("insert", "default/pod/a", {})), "not json", encode_message(make_message(group="nobody"))
    )
    harness.run_pending()
    figures = harness.actor.module_metrics()

    assert (figures["messages_from_cloud_total"], figures["bad_frames_total"], figures["unrouted_total"]) == (2, 1, 1)
