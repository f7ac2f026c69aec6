"""The mapper as a module of the edge: wire name ``mapper``, off unless ``modules.enabled`` names it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from actors.keys import EDGE_KEYS
from actors.mapper.clients import DeviceClient, open_client
from actors.mapper.engine import Engine
from actors.mapper.errors import ProfileError
from actors.mapper.mqtt import MqttLink
from actors.mapper.profile import DevicePlan
from actors.mapper.settings import MapperSettings
from actors.mapper.source import ProfileFile, ProfileTracker, profile_from_configmaps
from kubeedge_actors import Config, Message, ModuleActor, Router, handles

logger = logging.getLogger(__name__)

MAPPER_MODULE = "mapper"
MAPPER_GROUP = "mapper"
META_MODULE, META_GROUP = "metaManager", "meta"  # docs/protocol.md#1.4


@dataclass(frozen=True, slots=True)
class LookAtProfile:
    """Time to ask meta for the profile configmap again."""


class MapperActor(ModuleActor):
    """Serves the devices of this node's device profile over Modbus and OPC-UA
    (docs/protocol.md#11.3, docs/architecture.md#6).

    The work is off the actor's thread: one worker thread per device and paho's thread
    (:mod:`actors.mapper.engine`). The actor only finds the profile and hands it to the engine.

    Consumes:
        replies of ``metaManager`` to its queries.
    Produces:
        to ``metaManager`` every ``mapper.profile-interval`` s (when ``mapper.profile`` is
        empty): sync ``query`` of ``<mapper.profile-namespace>/configmap`` (every configmap, from
        SQLite), of which it reads ``device-profile-config-<node>``.
        On the edge's MQTT broker, as a device app: ``twin/update`` with actual values,
        ``state/update``; it subscribes to ``twin/update/delta`` (docs/protocol.md#5.4).
    """

    module_name = MAPPER_MODULE
    module_group = MAPPER_GROUP
    module_config_keys = EDGE_KEYS

    def __init__(
        self,
        router: Router,
        config: Config | None = None,
        *,
        name: str | None = None,
        group: str | None = None,
        client_factory: Callable[[DevicePlan, float], DeviceClient] = open_client,
    ) -> None:
        super().__init__(router, config, name=name, group=group)
        self.settings = MapperSettings.from_config(self.module_config)
        self.link = MqttLink(self.settings.broker, f"mapper-{self.settings.node_id}", self.settings.engine.retry_max_s)
        self.engine = Engine(self.link, self.settings.engine, client_factory)
        self._file: ProfileFile | None = None
        self._profile_name = f"device-profile-config-{self.settings.node_id}"
        self._tracker = ProfileTracker(self.engine.apply, f"configmap {self.settings.namespace}/{self._profile_name}")
        self._asking = False

    def on_start(self) -> None:
        self.link.start(self.engine)
        if self.settings.profile is not None:
            self._file = ProfileFile(self.settings.profile, self.settings.profile_interval_s, self.engine.apply)
        # One timer for either source, on this actor's thread (the file is small and local).
        self.module_tell_self(LookAtProfile())
        self.module_tell_every(self.settings.profile_interval_s, LookAtProfile())

    def on_stop(self) -> None:
        self.engine.stop(timeout_s=1.0)  # a device thread still in a call is left behind (daemon): the edge stops in time
        self.link.stop()
        super().on_stop()

    def module_metrics(self) -> dict[str, float]:
        return {"mapper_devices": float(len(self.engine.device_ids)), "mapper_reads_total": float(self.engine.polls)}

    def handle_message(self, message: Message) -> None:
        logger.debug("mapper: ignored %s (%s %s)", message.id, message.operation, message.resource)

    @handles(LookAtProfile)
    def _look(self, _: LookAtProfile) -> None:
        if self._file is not None:
            self._file.look()
            return
        if self._asking:
            return
        self._asking = True
        # Every configmap, by type: meta answers that from SQLite, never asking the cloud, which
        # does not answer for an object it does not have (docs/protocol.md#6.3).
        resource = f"{self.settings.namespace}/configmap"
        query = Message.new(source=MAPPER_MODULE, group=META_GROUP, operation="query", resource=resource)
        future = self.module_router.send_sync(META_MODULE, query, max(5.0, self.settings.profile_interval_s * 10))
        self.module_on_reply(future, self._on_profile)

    def _on_profile(self, reply: Message | None, error: BaseException | None) -> None:
        self._asking = False
        if reply is None or reply.is_error:
            logger.debug("mapper: meta did not answer the profile query: %s", error or (reply and reply.content))
            return
        try:
            text = profile_from_configmaps(reply.content, self.settings.namespace, self._profile_name)
        except ProfileError as problem:
            logger.error("mapper: %s", problem)
            return
        self._tracker.offer(text)


__all__ = ["MAPPER_GROUP", "MAPPER_MODULE", "MapperActor"]
