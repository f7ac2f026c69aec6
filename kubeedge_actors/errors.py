"""The one exception tree of kubeedge-actors.

Library errors are converted at the edge of each adapter (``raise ... from exc``) so callers
only ever catch these.
"""

from __future__ import annotations


class KubeEdgeActorsError(Exception):
    """Root of every error raised on purpose by kubeedge-actors."""


class MessageRejected(KubeEdgeActorsError):
    """An expected failure while handling one message: bad content, unknown resource, ...

    A :class:`~kubeedge_actors.actor.ModuleActor` turns it into a warning and, for a sync
    request, an error reply; the actor keeps serving.
    """


class MessageDecodeError(MessageRejected):
    """Bytes or JSON that are not a valid envelope (docs/protocol.md#2.1)."""


class ResourceError(MessageRejected):
    """A resource string that is not of the expected form (docs/protocol.md#2.5)."""


class UnknownResourceError(MessageRejected):
    """A well-formed resource that the receiving module does not handle."""


class DeliveryError(KubeEdgeActorsError):
    """A message could not be delivered to its destination."""


class DeadLetterError(DeliveryError):
    """The destination module is unknown or dead."""


class SyncTimeoutError(DeliveryError, TimeoutError):
    """No reply arrived for a ``send_sync`` request within its timeout."""


class ConfigError(KubeEdgeActorsError):
    """A configuration file that cannot be used; the message names file, key and line."""


__all__ = [
    "ConfigError",
    "DeadLetterError",
    "DeliveryError",
    "KubeEdgeActorsError",
    "MessageDecodeError",
    "MessageRejected",
    "ResourceError",
    "SyncTimeoutError",
    "UnknownResourceError",
]
