"""The mapper's engine: one worker thread per device, and the MQTT side they share.

Each worker owns its device: its client, its last reported values, its state and its
back-off, all touched on that worker's thread only. Others reach a worker through its queue
(a twin delta to write, a full report after an MQTT reconnect, stop), so a device that does
not answer delays only itself. The MQTT link (paho) only converts what arrives and puts it
on the right worker's queue (docs/protocol.md#11.3 for the topics and what v1.0 did).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from actors.mapper.clients import DeviceClient, OpcuaClient, open_client
from actors.mapper.convert import to_text
from actors.mapper.errors import ConversionError, DeviceIoError, MapperError, UnsupportedProtocolError
from actors.mapper.profile import DevicePlan, Profile, PropertyPlan

logger = logging.getLogger(__name__)

ONLINE, OFFLINE = "online", "offline"


@dataclass(frozen=True)
class EngineSettings:
    """Attributes:
    poll_interval_s: a property's poll period when its visitor has no ``collectCycle`` (ms).
    timeout_s: how long one device call may take.
    retry_initial_s, retry_max_s: back-off of a device that does not answer (doubling).
    """

    poll_interval_s: float = 2.0
    timeout_s: float = 1.0
    retry_initial_s: float = 0.5
    retry_max_s: float = 30.0


class Publisher:
    """What workers need of MQTT: publish a JSON payload (thread-safe)."""

    def publish(self, topic: str, payload: dict[str, Any]) -> None:  # pragma: no cover - interface
        raise NotImplementedError


def twin_update(values: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """A ``twin/update`` body with actual values (docs/protocol.md#5.4); ``values``: name → (text, type).
    v1.0 misspelt ``metadata.type`` as ``tyep`` (docs/protocol.md#11.3); this one is spelt right."""
    now = int(time.time() * 1000)
    twin = {
        name: {"actual": {"value": text, "metadata": {"timestamp": now}}, "metadata": {"type": kind}}
        for name, (text, kind) in values.items()
    }
    return {"event_id": str(uuid.uuid4()), "timestamp": now, "twin": twin}


def state_update(state: str) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "timestamp": int(time.time() * 1000), "state": state}


# --- one device -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Write:
    prop: PropertyPlan
    text: str


@dataclass(frozen=True)
class _Pushed:
    """A value the device pushed (an OPC-UA subscription), from the library's thread."""

    prop: PropertyPlan
    value: Any


class _ReportAll:
    """Report every value and the state again (the MQTT link is back)."""


class _Stop:
    pass


class DeviceWorker:
    """Polls one device, reports changes, writes what the twin's delta asks (on its own thread)."""

    def __init__(
        self,
        plan: DevicePlan,
        publisher: Publisher,
        settings: EngineSettings,
        client_factory: Callable[[DevicePlan, float], DeviceClient] = open_client,
    ) -> None:
        self.plan, self.publisher, self.settings = plan, publisher, settings
        self._client_factory = client_factory
        self.inbox: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=f"mapper-{plan.id}", daemon=True)
        # Owned by the worker's thread:
        self._client: DeviceClient | None = None
        self._reported: dict[str, str] = {}
        self._state = ""
        self._retry_s = settings.retry_initial_s
        self._due: dict[str, float] = {}
        self._subscribed = False
        self._health_due = 0.0
        self.polls = 0  # read by the benchmark (a counter; no lock needed for a rough figure)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.inbox.put(_Stop())

    def join(self, timeout_s: float) -> None:
        self._thread.join(timeout_s)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # --- the worker's thread ------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while self._step():
                pass
        finally:
            self._disconnect()

    def _step(self) -> bool:
        if self._client is None and not self._connect():
            return self._wait(self._retry_s)
        next_due = min(self._due.values(), default=time.monotonic() + 3600)
        if self._subscribed:
            next_due = min(next_due, self._health_due)
        if not self._wait(max(0.0, next_due - time.monotonic())):
            return False
        if self._client is not None and self._subscribed and time.monotonic() >= self._health_due:
            self._check_health()
        if self._client is not None:
            self._poll_due()
        return True

    def _check_health(self) -> None:
        """A subscribed device is never read, so its connection is checked at the poll interval."""
        assert isinstance(self._client, OpcuaClient)
        self._health_due = time.monotonic() + self.settings.poll_interval_s
        try:
            self._client.check()
        except DeviceIoError as error:
            self._went_offline(error)

    def _wait(self, seconds: float) -> bool:
        """Handle what arrives within ``seconds`` (at least one item when it is there); False on stop."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                item = self.inbox.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return True
            if isinstance(item, _Stop):
                return False
            self._handle(item)
            if time.monotonic() >= deadline:
                return True

    def _handle(self, item: object) -> None:
        if isinstance(item, _ReportAll):
            self._reported.clear()
            if self._state:
                self._publish_state(self._state)
            self._due = dict.fromkeys(self._due, 0.0)
        elif isinstance(item, _Write):
            self._write(item)
        elif isinstance(item, _Pushed):
            self._report({item.prop.name: item.value}, raw=True)

    def _connect(self) -> bool:
        client = self._client_factory(self.plan, self.settings.timeout_s)
        try:
            client.connect()
            if isinstance(client, OpcuaClient) and client.wants_subscription:
                readable = tuple(self.plan.properties)
                client.subscribe(readable, self.settings.poll_interval_s, lambda prop, value: self.inbox.put(_Pushed(prop, value)))
                self._subscribed = True
                self._health_due = time.monotonic() + self.settings.poll_interval_s
        except DeviceIoError as error:
            client.close()
            self._went_offline(error)
            return False
        self._client = client
        self._retry_s = self.settings.retry_initial_s
        self._set_state(ONLINE)
        now = time.monotonic()
        self._due = {} if self._subscribed else {p.name: now for p in self.plan.properties}
        return True

    def _poll_due(self) -> None:
        now = time.monotonic()
        values: dict[str, str] = {}
        for prop in self.plan.properties:
            if self._due.get(prop.name, now + 1) > now:
                continue
            self._due[prop.name] = now + _interval(prop, self.settings)
            try:
                values[prop.name] = self._read(prop)
            except ConversionError as error:
                logger.warning("mapper: %s", error)
            except DeviceIoError as error:
                self._report(values)
                self._went_offline(error)
                return
        self._report(values)

    def _read(self, prop: PropertyPlan) -> str:
        assert self._client is not None
        self.polls += 1
        return self._client.read(prop)

    def _write(self, write: _Write) -> None:
        prop = write.prop
        if self._client is None:
            logger.info("mapper: device %s is offline; %s=%s is written when it is back", self.plan.id, prop.name, write.text)
            self._reported.pop(prop.name, None)  # the full report after reconnecting brings the delta back
            return
        try:
            self._client.write(prop, write.text)
            value = self._read(prop)  # confirmed by reading back, reported even if unchanged
        except ConversionError as error:
            logger.warning("mapper: device %s: cannot write %s=%r: %s", self.plan.id, prop.name, write.text, error)
            return
        except DeviceIoError as error:
            self._went_offline(error)
            return
        self._reported.pop(prop.name, None)
        self._report({prop.name: value})

    def _report(self, values: dict[str, Any], raw: bool = False) -> None:
        changed: dict[str, tuple[str, str]] = {}
        for name, value in values.items():
            prop = self.plan.property(name)
            if prop is None:
                continue
            try:
                text = to_text(value, prop) if raw else str(value)
            except ConversionError as error:
                logger.warning("mapper: %s", error)
                continue
            if self._reported.get(name) != text:
                changed[name] = (text, prop.twin_type)
        if changed:
            self.publisher.publish(f"$hw/events/device/{self.plan.id}/twin/update", twin_update(changed))
            self._reported.update({name: text for name, (text, _) in changed.items()})

    def _went_offline(self, error: MapperError) -> None:
        was_offline = self._state == OFFLINE
        if was_offline:
            logger.debug("mapper: device %s still offline: %s", self.plan.id, error)
            self._retry_s = min(self._retry_s * 2, self.settings.retry_max_s)
        else:
            logger.warning("mapper: device %s is offline: %s (retrying)", self.plan.id, error)
        self._disconnect()
        self._set_state(OFFLINE)

    def _disconnect(self) -> None:
        client, self._client, self._subscribed = self._client, None, False
        if client is not None:
            client.close()

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            if state == ONLINE:
                logger.info("mapper: device %s is online", self.plan.id)
            self._publish_state(state)

    def _publish_state(self, state: str) -> None:
        self.publisher.publish(f"$hw/events/device/{self.plan.id}/state/update", state_update(state))


def _interval(prop: PropertyPlan, settings: EngineSettings) -> float:
    cycle = prop.visitor.get("collectCycle")
    if isinstance(cycle, int | float) and not isinstance(cycle, bool) and cycle > 0:
        return float(cycle) / 1000.0
    return settings.poll_interval_s


# --- all devices ------------------------------------------------------------------------------


class Engine:
    """The devices of the current profile, each on its worker; thread-safe."""

    def __init__(
        self,
        publisher: Publisher,
        settings: EngineSettings,
        client_factory: Callable[[DevicePlan, float], DeviceClient] = open_client,
    ) -> None:
        self.publisher, self.settings = publisher, settings
        self._client_factory = client_factory
        self._lock = threading.Lock()
        self._workers: dict[str, DeviceWorker] = {}
        self._stopped: list[DeviceWorker] = []  # until their threads end
        self._polls_before = 0  # reads of the stopped workers that have ended
        self._unsupported: set[str] = set()

    @property
    def device_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._workers)

    @property
    def polls(self) -> int:
        """Device reads so far (of the devices served now and of those stopped)."""
        with self._lock:
            return self._polls_before + sum(w.polls for w in [*self._workers.values(), *self._stopped])

    def apply(self, profile: Profile) -> None:
        """Serve the devices of ``profile``: new ones start, changed ones restart, gone ones stop."""
        for problem in profile.problems:
            logger.warning("mapper: device profile: %s", problem)
        with self._lock:
            ended = [w for w in self._stopped if not w.alive]
            self._polls_before += sum(w.polls for w in ended)
            self._stopped = [w for w in self._stopped if w.alive]
            wanted = {plan.id: plan for plan in profile.devices}
            for device_id in [d for d, w in self._workers.items() if wanted.get(d) != w.plan]:
                self._stop_worker(self._workers.pop(device_id))
            for device_id, plan in wanted.items():
                if device_id not in self._workers:
                    self._start_worker(plan)

    def _start_worker(self, plan: DevicePlan) -> None:
        if plan.protocol == "bluetooth":
            if plan.id not in self._unsupported:
                self._unsupported.add(plan.id)
                error = UnsupportedProtocolError(f"device {plan.id}: this node has no Bluetooth support; the device is not served")
                logger.warning("mapper: %s", error)  # once per device: it stays unserved
            return
        worker = DeviceWorker(plan, self.publisher, self.settings, self._client_factory)
        self._workers[plan.id] = worker
        worker.start()
        logger.info("mapper: serving device %s (%s, %d properties)", plan.id, plan.protocol, len(plan.properties))

    def _stop_worker(self, worker: DeviceWorker) -> None:
        worker.stop()
        self._stopped.append(worker)

    def on_delta(self, device_id: str, body: dict[str, Any]) -> None:
        """A ``twin/update/delta`` (docs/protocol.md#5.4): write each ReadWrite property it names."""
        with self._lock:
            worker = self._workers.get(device_id)
        delta = body.get("delta") if isinstance(body, dict) else None
        if worker is None or not isinstance(delta, dict):
            return
        for name, text in delta.items():
            prop = worker.plan.property(str(name))
            if prop is None or not isinstance(text, str):
                continue
            if not prop.writable:
                logger.debug("mapper: device %s: %s is ReadOnly; its desired value is not written", device_id, name)
                continue
            worker.inbox.put(_Write(prop, text))

    def report_all(self, device_ids: list[str] | None = None) -> None:
        """Every value and state again: of all devices, or of ``device_ids``."""
        with self._lock:
            for device_id, worker in self._workers.items():
                if device_ids is None or device_id in device_ids:
                    worker.inbox.put(_ReportAll())

    def stop(self, timeout_s: float = 5.0) -> None:
        with self._lock:
            workers = [*self._workers.values(), *self._stopped]
            for worker in self._workers.values():
                worker.stop()
            self._workers.clear()
            self._stopped.clear()
        deadline = time.monotonic() + timeout_s
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))


def decode_delta(payload: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(payload)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


__all__ = ["DeviceWorker", "Engine", "EngineSettings", "Publisher", "decode_delta", "state_update", "twin_update"]
