"""The cloud hub's server settings from ``cloudhub.*``: TLS, or plain ws:// for a config like the
seed README's, whose edge dials ``ws://``."""

from __future__ import annotations

import pytest

from kubeedge_cloud.hub import server_settings
from kubeedge_cloud.keys import cloud_defaults
from kubeedge_cloud.server import CloudHubError
from tests.services import TlsFiles


def test_a_cert_and_key_make_the_server_tls(tls_files: TlsFiles) -> None:
    config = cloud_defaults().with_values(
        {"cloudhub.cert": str(tls_files.server_cert), "cloudhub.key": str(tls_files.server_key), "cloudhub.ca": str(tls_files.ca)}
    )

    assert server_settings(config).ssl_context is not None


def test_an_empty_cert_and_key_make_the_server_plain_ws() -> None:
    config = cloud_defaults().with_values({"cloudhub.cert": "", "cloudhub.key": ""})

    assert server_settings(config).ssl_context is None


@pytest.mark.parametrize("empty", ["cloudhub.cert", "cloudhub.key"])
def test_only_one_of_cert_and_key_is_an_error_naming_both(empty: str, tls_files: TlsFiles) -> None:
    config = cloud_defaults().with_values(
        {"cloudhub.cert": str(tls_files.server_cert), "cloudhub.key": str(tls_files.server_key), empty: ""}
    )

    with pytest.raises(CloudHubError, match=r"cloudhub\.cert and cloudhub\.key go together"):
        server_settings(config)
