"""The mapper's settings: the ``mapper.*`` keys, read once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from actors.mapper.engine import EngineSettings
from kubeedge_actors.config import Config

EXTERNAL_ONLY = 2  # mqtt.mode (docs/protocol.md#4.1)


@dataclass(frozen=True)
class MapperSettings:
    """Attributes:
    node_id: ``edgehub.controller.node-id``: the profile is ``device-profile-config-<node_id>``.
    profile: ``mapper.profile``: a file to serve; None: the cloud's configmap, asked of meta.
    namespace: ``mapper.profile-namespace``: the configmap's namespace.
    profile_interval_s: ``mapper.profile-interval``.
    broker: ``mapper.mqtt-server``, else the edge's own broker.
    engine: poll interval, device timeout and back-off.
    """

    node_id: str
    profile: Path | None
    namespace: str
    profile_interval_s: float
    broker: str
    engine: EngineSettings

    @classmethod
    def from_config(cls, config: Config) -> MapperSettings:
        broker = config.text("mapper.mqtt-server")
        if not broker:
            broker = config.text("mqtt.server") if config.integer("mqtt.mode") == EXTERNAL_ONLY else config.text("mqtt.internal-server")
        return cls(
            node_id=config.text("edgehub.controller.node-id"),
            profile=config.optional_path("mapper.profile"),
            namespace=config.text("mapper.profile-namespace"),
            profile_interval_s=config.number("mapper.profile-interval"),
            broker=broker,
            engine=EngineSettings(
                poll_interval_s=config.number("mapper.poll-interval"),
                timeout_s=config.number("mapper.timeout"),
                retry_max_s=config.number("mapper.retry-max-interval"),
            ),
        )


__all__ = ["MapperSettings"]
