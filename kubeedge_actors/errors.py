"""The one exception tree of kubeedge-actors.

Library errors are converted at the edge of each adapter (``raise ... from exc``) so callers
only ever catch these. Every error the runtime, the modules and the cloud side raise on
purpose derives from :class:`KubeEdgeActorsError`; one that a caller of Python's own API would
expect as a built-in (a ``ValueError`` for a bad argument, a ``KeyError`` for a missing key)
is both, so ``except ValueError`` keeps working.

::

    KubeEdgeActorsError
     ├─ MessageRejected            bad input to one module: a warning, an error reply
     │   ├─ MessageDecodeError, ResourceError, UnknownResourceError
     ├─ DeliveryError              a message reached no one
     │   ├─ DeadLetterError, SyncTimeoutError (also TimeoutError)
     ├─ ConfigError                a configuration file that cannot be used
     ├─ ConfigKeyError             code asked for a key its table lacks (also KeyError)
     ├─ InvalidArgumentError       a value the API does not take (also ValueError)
     ├─ ModuleDefinitionError      a module class that cannot run (also TypeError)
     ├─ ShutDownError              work offered to something already shut down (also RuntimeError)
     └─ the adapters' own, beside them: DatabaseLockedError (kubeedge_actors.sqlite), a
        module's (the bus's MqttError), the cloud side's (kubeedge_cloud.errors)
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


class ConfigKeyError(KubeEdgeActorsError, KeyError):
    """Code asked a configuration for a key its key table does not have, or for a key as
    another kind than the table gives it: a bug in the program, not in the file."""

    def __str__(self) -> str:
        # KeyError quotes its argument (it is usually the key); this one is a sentence.
        return str(self.args[0]) if self.args else ""


class InvalidArgumentError(KubeEdgeActorsError, ValueError):
    """A caller passed a value the API does not take (a second module of one name, a timer
    interval of zero, an unknown journal mode); the message names it."""


class ModuleDefinitionError(KubeEdgeActorsError, TypeError):
    """A :class:`~kubeedge_actors.actor.ModuleActor` subclass that cannot run (no name or group)."""


class ShutDownError(KubeEdgeActorsError, RuntimeError):
    """Work offered to something that was shut down (a background pool after its actor stopped)."""


__all__ = [
    "ConfigError",
    "ConfigKeyError",
    "DeadLetterError",
    "DeliveryError",
    "InvalidArgumentError",
    "KubeEdgeActorsError",
    "MessageDecodeError",
    "MessageRejected",
    "ModuleDefinitionError",
    "ResourceError",
    "ShutDownError",
    "SyncTimeoutError",
    "UnknownResourceError",
]
