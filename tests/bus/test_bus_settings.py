"""The bus's settings: read once from the ``mqtt.*`` keys, in the shape each mode needs."""

from __future__ import annotations

import pytest

from actors.bus.actor import BusActor, default_clients
from actors.bus.mqtt import MqttError
from actors.bus.settings import EXTERNAL_PUBLISH_QOS, BusSettings
from actors.keys import edge_defaults
from kubeedge_actors.testing import ActorHarness
from tests.bus.fakes import FakeMqttClient


@pytest.mark.parametrize(
    ("mode", "clients", "embedded"),
    [(0, ["internal"], True), (1, ["internal", "external"], True), (2, ["external"], False)],
    ids=["embedded-only", "both", "external-only"],
)
def test_the_mode_decides_the_clients_and_whether_an_embedded_broker_runs(mode: int, clients: list[str], embedded: bool) -> None:
    settings = BusSettings.from_config(edge_defaults().with_values({"mqtt.mode": mode}))

    made = default_clients(settings)

    assert [client.name for client in made] == clients
    assert (settings.broker is not None) is embedded
    for client in made:
        client.close()


def test_publishes_on_the_external_broker_are_qos_1_unretained_whatever_the_keys_say() -> None:
    settings = BusSettings.from_config(edge_defaults().with_values({"mqtt.mode": 1, "mqtt.qos": 0, "mqtt.retain": True}))

    assert settings.publish_options(internal=True) == (0, True)
    assert settings.publish_options(internal=False) == (EXTERNAL_PUBLISH_QOS, False) == (1, False)


def test_an_embedded_broker_address_without_a_host_is_an_mqtt_error_naming_it() -> None:
    config = edge_defaults().with_values({"mqtt.mode": 0, "mqtt.internal-server": "tcp://:1884"})

    with pytest.raises(MqttError, match=r"broker address 'tcp://:1884'"):
        BusSettings.from_config(config)


def test_the_external_only_mode_never_reads_the_embedded_brokers_address() -> None:
    config = edge_defaults().with_values({"mqtt.mode": 2, "mqtt.internal-server": "tcp://:1884"})

    assert BusSettings.from_config(config).broker is None


def test_the_bus_keeps_the_settings_it_was_built_with() -> None:
    config = edge_defaults().with_values({"mqtt.mode": 2, "edgehub.controller.node-id": "node-7", "mqtt.inbound-queue-size": 3})

    bus = ActorHarness(BusActor, config, clients=[FakeMqttClient()]).actor

    assert bus.settings == BusSettings.from_config(config)
    assert bus.settings.node_id == "node-7"
    assert bus.inbound.limit == 3
