"""Topic names, topic filters and who is subscribed to what (MQTT 3.1.1 section 4.7).

Every KubeEdge device topic starts with ``$hw/``: such topics flow like any other, and only
MQTT-4.7.2-1 applies to them (a filter starting with ``+`` or ``#`` does not match them).
"""

from __future__ import annotations

from typing import Generic, TypeVar

S = TypeVar("S")


def topic_name_problem(topic: str) -> str | None:
    """Why ``topic`` cannot be a PUBLISH's topic name, or None."""
    if not topic:
        return "is empty (MQTT-4.7.3-1)"
    if "+" in topic or "#" in topic:
        return "contains a wildcard (MQTT-3.3.2-2)"
    return None


def topic_filter_problem(topic_filter: str) -> str | None:
    """Why ``topic_filter`` cannot be subscribed to, or None."""
    if not topic_filter:
        return "is empty (MQTT-4.7.3-1)"
    levels = topic_filter.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            return "has a # that is not a whole last level (MQTT-4.7.1-2)"
        if "+" in level and level != "+":
            return "has a + that is not a whole level (MQTT-4.7.1-3)"
    return None


def filter_matches(filter_levels: tuple[str, ...], topic: str, topic_levels: list[str]) -> bool:
    """Does a valid filter, split at ``/``, match ``topic`` (split as ``topic_levels``)?"""
    if topic.startswith("$") and filter_levels[0] in ("+", "#"):
        return False  # MQTT-4.7.2-1
    count = len(topic_levels)
    for index, level in enumerate(filter_levels):
        if level == "#":
            return True
        if index >= count or (level != "+" and level != topic_levels[index]):
            return False
    return len(filter_levels) == count


class SubscriptionIndex(Generic[S]):
    """Filters → subscribers and their QoS; exact filters are one dict lookup per publish."""

    def __init__(self) -> None:
        self._exact: dict[str, dict[S, int]] = {}
        self._wildcard: dict[str, tuple[tuple[str, ...], dict[S, int]]] = {}

    def add(self, topic_filter: str, subscriber: S, qos: int) -> None:
        if "+" in topic_filter or "#" in topic_filter:
            entry = self._wildcard.setdefault(topic_filter, (tuple(topic_filter.split("/")), {}))
            entry[1][subscriber] = qos
        else:
            self._exact.setdefault(topic_filter, {})[subscriber] = qos

    def remove(self, topic_filter: str, subscriber: S) -> None:
        exact = self._exact.get(topic_filter)
        if exact is not None:
            exact.pop(subscriber, None)
            if not exact:
                del self._exact[topic_filter]
        wildcard = self._wildcard.get(topic_filter)
        if wildcard is not None:
            wildcard[1].pop(subscriber, None)
            if not wildcard[1]:
                del self._wildcard[topic_filter]

    def subscribers(self, topic: str) -> dict[S, int]:
        """Each subscriber whose filters match ``topic``, with the highest QoS among them
        (MQTT-3.3.5-1: one copy per client)."""
        exact = self._exact.get(topic)
        found: dict[S, int] = dict(exact) if exact else {}
        if self._wildcard:
            topic_levels = topic.split("/")
            for filter_levels, subscribers in self._wildcard.values():
                if filter_matches(filter_levels, topic, topic_levels):
                    for subscriber, qos in subscribers.items():
                        if found.get(subscriber, -1) < qos:
                            found[subscriber] = qos
        return found

    def __len__(self) -> int:
        return sum(map(len, self._exact.values())) + sum(len(entry[1]) for entry in self._wildcard.values())


__all__ = ["SubscriptionIndex", "filter_matches", "topic_filter_problem", "topic_name_problem"]
