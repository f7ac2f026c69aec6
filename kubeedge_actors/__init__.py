"""kubeedge-actors: the KubeEdge edge core as a Pykka actor runtime.

The runtime knows nothing of pods, devices or MQTT: messages, the router, the module base
class, the runtime that supervises modules, and configuration. The edge's modules and its
protocol (KubeEdge's names) live in the ``actors`` package; ``python -m kubeedge_actors``
puts the two together.
"""

from __future__ import annotations

from kubeedge_actors.actor import ModuleActor, Outcome, handles
from kubeedge_actors.config import Config, load_config
from kubeedge_actors.errors import (
    ConfigError,
    DeadLetterError,
    DeliveryError,
    KubeEdgeActorsError,
    MessageDecodeError,
    MessageRejected,
    ResourceError,
    SyncTimeoutError,
    UnknownResourceError,
)
from kubeedge_actors.message import ERROR, RESPONSE, Header, Message, Route, decode_message, encode_message
from kubeedge_actors.router import Router
from kubeedge_actors.runtime import ModuleSpec, RestartPolicy, Runtime
from kubeedge_actors.scheduler import Scheduler, TimerHandle

__version__ = "0.1.0"

__all__ = [
    "ERROR",
    "RESPONSE",
    "Config",
    "ConfigError",
    "DeadLetterError",
    "DeliveryError",
    "Header",
    "KubeEdgeActorsError",
    "Message",
    "MessageDecodeError",
    "MessageRejected",
    "ModuleActor",
    "ModuleSpec",
    "Outcome",
    "ResourceError",
    "RestartPolicy",
    "Route",
    "Router",
    "Runtime",
    "Scheduler",
    "SyncTimeoutError",
    "TimerHandle",
    "UnknownResourceError",
    "__version__",
    "decode_message",
    "encode_message",
    "handles",
    "load_config",
]
