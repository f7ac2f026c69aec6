"""kubeedge-actors: the KubeEdge edge core as a Pykka actor runtime.

The runtime half knows nothing of pods, devices or MQTT: messages, the router, the module
base class, the runtime that supervises modules, and configuration. The modules live in the
``actors`` package; ``python -m kubeedge_actors`` puts the two together.
"""

from __future__ import annotations

from kubeedge_actors.actor import ModuleActor, Outcome
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
from kubeedge_actors.message import Header, Message, Route, decode_message, encode_message
from kubeedge_actors.resource import (
    Resource,
    add_node_prefix,
    build_edge_resource,
    parse_cloud_resource,
    parse_edge_resource,
    split_node_prefix,
)
from kubeedge_actors.router import Router
from kubeedge_actors.runtime import ModuleSpec, RestartPolicy, Runtime
from kubeedge_actors.scheduler import Scheduler, TimerHandle
from kubeedge_actors.wire import CloudGroup, Group, Module, Operation, ResourceType

__version__ = "0.1.0"

__all__ = [
    "CloudGroup",
    "Config",
    "ConfigError",
    "DeadLetterError",
    "DeliveryError",
    "Group",
    "Header",
    "KubeEdgeActorsError",
    "Message",
    "MessageDecodeError",
    "MessageRejected",
    "Module",
    "ModuleActor",
    "ModuleSpec",
    "Operation",
    "Outcome",
    "Resource",
    "ResourceError",
    "ResourceType",
    "RestartPolicy",
    "Route",
    "Router",
    "Runtime",
    "Scheduler",
    "SyncTimeoutError",
    "TimerHandle",
    "UnknownResourceError",
    "__version__",
    "add_node_prefix",
    "build_edge_resource",
    "decode_message",
    "encode_message",
    "load_config",
    "parse_cloud_resource",
    "parse_edge_resource",
    "split_node_prefix",
]
