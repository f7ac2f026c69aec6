"""Tier 1: the hub's bookkeeping of the durable senders' messages (docs/architecture.md#5.2)."""

from __future__ import annotations

from actors.hub.delivery import SenderReports
from actors.protocol import DeliveryReport


def test_what_the_link_wrote_is_reported_written_in_the_order_it_was_handed() -> None:
    senders = SenderReports()
    senders.handed(4, [(1, "twin", "a"), (3, "twin", "b")])

    senders.written_up_to(2)
    first = senders.take()
    senders.written_up_to(4)

    assert first == {"twin": DeliveryReport(written=("a",))}
    assert senders.take() == {"twin": DeliveryReport(written=("b",))}


def test_a_dead_links_unwritten_frames_split_into_returned_reports_and_frames_for_the_outbox() -> None:
    senders = SenderReports()
    senders.handed(2, [(1, "twin", "a")])
    senders.handed(3, [(1, "twin", "b")])  # frames 2, 3 (b), 4

    kept = senders.settle(["frame-3", "frame-b", "frame-4"])

    assert kept == ["frame-3", "frame-4"]
    assert senders.take() == {"twin": DeliveryReport(written=("a",), returned=("b",))}
    assert senders.returned_count == 1


def test_a_new_link_counts_its_frames_from_zero_and_names_its_connection_in_what_it_wrote() -> None:
    senders = SenderReports()
    senders.handed(5)
    senders.new_link(3)
    senders.handed(1, [(0, "twin", "a")])

    senders.written_up_to(1)

    assert senders.take() == {"twin": DeliveryReport(written=("a",), connection=3)}


def test_nothing_to_report_is_no_report() -> None:
    assert SenderReports().take() == {}
