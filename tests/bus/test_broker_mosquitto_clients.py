"""Debian's mosquitto_pub and mosquitto_sub (package mosquitto-clients) against the embedded
broker: a second, independent client implementation as judge."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator

import pytest

from actors.bus.broker.server import EmbeddedMqttBroker
from kubeedge_actors.testing import wait_until
from tests.services import service_missing

pytestmark = pytest.mark.mosquitto


class MosquittoSub:
    """``mosquitto_sub -v -d``: its debug lines tell when the SUBACK came; the others are messages."""

    def __init__(self, port: int, *args: str) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            # stdbuf: line by line into the pipe, or the SUBACK line waits in stdio's buffer
            ["stdbuf", "-oL", "mosquitto_sub", "-p", str(port), "-v", "-d", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            wait_until(lambda: any("received SUBACK" in line for line in self.lines), 10, what="mosquitto_sub subscribed")
        except AssertionError:
            self.stop()
            raise

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def messages(self, count: int) -> list[str]:
        def found() -> list[str]:
            return [line for line in self.lines if not line.startswith(("Client ", "Subscribed "))][:count]

        return list(wait_until(lambda: len(found()) == count and found(), 10, what=f"{count} messages at mosquitto_sub"))

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self._reader.join(timeout=10)


@pytest.fixture
def mosquitto_clients() -> None:
    if shutil.which("mosquitto_pub") is None or shutil.which("mosquitto_sub") is None:
        service_missing("mosquitto_pub and mosquitto_sub are not installed (Debian package mosquitto-clients)")


@pytest.fixture
def sub(broker: EmbeddedMqttBroker, mosquitto_clients: None) -> Iterator[MosquittoSub]:
    subscriber = MosquittoSub(broker.settings.port, "-q", "2", "-t", "$hw/events/device/+/twin/+", "-t", "sensors/#")
    yield subscriber
    subscriber.stop()


def mosquitto_pub(broker: EmbeddedMqttBroker, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["mosquitto_pub", "-p", str(broker.settings.port), *args], capture_output=True, text=True, timeout=10, check=False
    )


def test_mosquitto_pub_reaches_mosquitto_sub_at_each_qos_on_device_and_plain_topics(broker: EmbeddedMqttBroker, sub: MosquittoSub) -> None:
    for qos in ("0", "1", "2"):
        mosquitto_pub(broker, "-q", qos, "-t", "$hw/events/device/lamp/twin/update", "-m", f"twin-{qos}").check_returncode()
        mosquitto_pub(broker, "-q", qos, "-t", "sensors/s1", "-m", f"plain-{qos}").check_returncode()

    assert sub.messages(6) == [
        f"{topic} {kind}-{qos}"
        for qos in "012"
        for topic, kind in (("$hw/events/device/lamp/twin/update", "twin"), ("sensors/s1", "plain"))
    ]


def test_a_retained_message_from_mosquitto_pub_is_what_a_later_mosquitto_sub_gets_first(
    broker: EmbeddedMqttBroker, mosquitto_clients: None
) -> None:
    mosquitto_pub(broker, "-r", "-q", "1", "-t", "sensors/s2/state", "-m", "online").check_returncode()

    later = MosquittoSub(broker.settings.port, "-t", "sensors/#")
    try:
        assert later.messages(1) == ["sensors/s2/state online"]
        assert any("received PUBLISH (d0, q0, r1" in line for line in later.lines)  # retain flag set
    finally:
        later.stop()


def test_mosquitto_pub_speaking_mqtt_5_is_told_the_protocol_version_is_unsupported(
    broker: EmbeddedMqttBroker, mosquitto_clients: None
) -> None:
    result = mosquitto_pub(broker, "-V", "5", "-t", "sensors/s1", "-m", "x")

    assert result.returncode != 0 and "Unsupported Protocol Version" in result.stderr
    assert broker.figures()["mqtt_broker_clients_refused_total"] == 1


def test_mosquitto_pub_speaking_mqtt_3_1_is_served(broker: EmbeddedMqttBroker, sub: MosquittoSub) -> None:
    mosquitto_pub(broker, "-V", "31", "-q", "1", "-t", "sensors/old", "-m", "v3.1").check_returncode()

    assert sub.messages(1) == ["sensors/old v3.1"]
