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
    ConfigKeyError,
    DeadLetterError,
    DeliveryError,
    InvalidArgumentError,
    KubeEdgeActorsError,
    MessageDecodeError,
    MessageRejected,
    ModuleDefinitionError,
    ResourceError,
    ShutDownError,
    SyncTimeoutError,
    UnknownResourceError,
)
from kubeedge_actors.message import ERROR, RESPONSE, Header, Message, Route, decode_message, encode_message
from kubeedge_actors.router import Router
from kubeedge_actors.runtime import ModuleSpec, RestartPolicy, Runtime, RuntimeSettings
from kubeedge_actors.scheduler import Scheduler, TimerHandle

__version__ = "0.1.0"

__all__ = [
    "ERROR",
    "RESPONSE",
    "Config",
    "ConfigError",
    "ConfigKeyError",
    "DeadLetterError",
    "DeliveryError",
    "Header",
    "InvalidArgumentError",
    "KubeEdgeActorsError",
    "Message",
    "MessageDecodeError",
    "MessageRejected",
    "ModuleActor",
    "ModuleDefinitionError",
    "ModuleSpec",
    "Outcome",
    "ResourceError",
    "RestartPolicy",
    "Route",
    "Router",
    "Runtime",
    "RuntimeSettings",
    "Scheduler",
    "ShutDownError",
    "SyncTimeoutError",
    "TimerHandle",
    "UnknownResourceError",
    "__version__",
    "decode_message",
    "encode_message",
    "handles",
    "load_config",
]
