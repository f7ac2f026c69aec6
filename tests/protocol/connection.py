"""Standing in for the hub in tests of the modules that act on the cloud connection.

The hub is the one owner of the connection (docs/architecture.md#4.1): it publishes its state in
the router's ``CloudConnectionView``, then tells groups meta, twin and bus with a
``node/connection`` event. A test without a hub does the same with :func:`hub_says`.
"""

from __future__ import annotations

from collections.abc import Iterable

from actors.protocol import DeliveryReport, Group, cloud_connection_view
from actors.testing import connection_event
from kubeedge_actors import Message, Router


def hub_says(router: Router, connected: bool, group: str = Group.META) -> Message:
    """Publish ``connected`` as the hub's state in ``router``'s view, and return the hub's
    ``node/connection`` event for ``group``, for the test to deliver."""
    cloud_connection_view(router).publish(connected)
    return connection_event(connected, group)


def hub_wrote(router: Router, messages: Iterable[Message], *, returned: Iterable[Message] = ()) -> Message:
    """The hub's report to the twin: ``messages`` written to the link of the connection
    ``router``'s view shows now, ``returned`` given back."""
    state = cloud_connection_view(router).state
    connection = state.change if state is not None else 0
    report = DeliveryReport(written=tuple(m.id for m in messages), connection=connection, returned=tuple(m.id for m in returned))
    return report.to_message(Group.TWIN)
