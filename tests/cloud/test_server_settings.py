"""The cloud side's settings from ``cloudhub.*``: TLS, or plain ws:// for a config like the
seed README's, whose edge dials ``ws://``; and each module's settings, read once."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeedge_actors import Config
from kubeedge_actors.testing import ActorHarness
from kubeedge_cloud.api import ApiActor
from kubeedge_cloud.controller import ControllerActor
from kubeedge_cloud.devicecontroller import DeviceControllerActor
from kubeedge_cloud.errors import CloudHubError
from kubeedge_cloud.hub import CloudHubActor
from kubeedge_cloud.keys import CLOUD_KEYS, cloud_defaults
from kubeedge_cloud.settings import ApiSettings, HubSettings, StoreSettings
from tests.cloud.fakes import FakeEdgeServer
from tests.services import TlsFiles


def test_a_cert_and_key_make_the_server_tls(tls_files: TlsFiles) -> None:
    config = cloud_defaults().with_values(
        {"cloudhub.cert": str(tls_files.server_cert), "cloudhub.key": str(tls_files.server_key), "cloudhub.ca": str(tls_files.ca)}
    )

    assert HubSettings.from_config(config).server_settings().ssl_context is not None


def test_an_empty_cert_and_key_make_the_server_plain_ws() -> None:
    config = cloud_defaults().with_values({"cloudhub.cert": "", "cloudhub.key": ""})

    assert HubSettings.from_config(config).server_settings().ssl_context is None


@pytest.mark.parametrize("empty", ["cloudhub.cert", "cloudhub.key"])
def test_only_one_of_cert_and_key_is_an_error_naming_both(empty: str, tls_files: TlsFiles) -> None:
    config = cloud_defaults().with_values(
        {"cloudhub.cert": str(tls_files.server_cert), "cloudhub.key": str(tls_files.server_key), empty: ""}
    )

    with pytest.raises(CloudHubError, match=r"cloudhub\.cert and cloudhub\.key go together"):
        HubSettings.from_config(config).server_settings()


def test_a_missing_certificate_is_a_cloud_hub_error_naming_the_file_and_the_command_that_writes_one(tmp_path: Path) -> None:
    config = cloud_defaults().with_values({"cloudhub.cert": str(tmp_path / "none.crt"), "cloudhub.key": str(tmp_path / "none.key")})

    with pytest.raises(CloudHubError, match=r"none\.crt .*python -m kubeedge_cloud certs"):
        HubSettings.from_config(config).server_settings()


def test_the_hub_settings_resolve_files_beside_the_conf_folder_and_read_no_file(tmp_path: Path) -> None:
    config = Config({}, CLOUD_KEYS, base_dir=tmp_path).with_values({"cloudhub.ca": "", "cloudhub.node-limit": 3})

    settings = HubSettings.from_config(config)

    assert (settings.cert, settings.key, settings.ca) == (tmp_path / "certs" / "cloudhub.crt", tmp_path / "certs" / "cloudhub.key", None)
    assert (settings.host, settings.port, settings.node_limit, settings.keepalive_s, settings.write_timeout_s) == (
        "127.0.0.1",
        10000,
        3,
        30.0,
        30.0,
    )


def test_each_cloud_module_keeps_the_settings_it_was_built_with(tmp_path: Path) -> None:
    config = Config({}, CLOUD_KEYS, base_dir=tmp_path).with_values({"cloudhub.database": "state/cloud.db", "cloudhub.api-port": 0})

    hub = ActorHarness(CloudHubActor, config, server=FakeEdgeServer()).actor
    api = ActorHarness(ApiActor, config).actor
    controller = ActorHarness(ControllerActor, config).actor
    devices = ActorHarness(DeviceControllerActor, config).actor

    assert hub.settings == HubSettings.from_config(config)
    assert api.settings == ApiSettings.from_config(config) and api.settings.port == 0
    assert controller.settings == devices.settings == StoreSettings(tmp_path / "state" / "cloud.db")
