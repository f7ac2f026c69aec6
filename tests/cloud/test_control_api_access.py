"""The control API authenticates every request as the Kubernetes API server does
(docs/protocol.md#12.4): the admin's client certificate or a bearer token; nobody else. And it
does not run unless asked for: the cloud side's default modules leave it out."""

from __future__ import annotations

import ssl
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeedge_cloud import cloud_runtime
from kubeedge_cloud.__main__ import main
from kubeedge_cloud.apiclient import ApiClient, admin_tls
from kubeedge_cloud.apiserver import ApiAnswer, ApiRequest, ApiServer
from kubeedge_cloud.errors import ApiServerError
from kubeedge_cloud.keys import cloud_defaults
from kubeedge_cloud.pki import issue_edge_certificate, write_certificates, write_kubeconfig
from kubeedge_cloud.settings import ApiSettings
from tests.cloud.control_cli import TEST_TOKEN, control_client, write_token_file


def _ok(request: ApiRequest) -> ApiAnswer:
    return ApiAnswer(200, {"items": [], "path": request.path})


@pytest.fixture
def certs(tmp_path: Path) -> Path:
    folder = tmp_path / "certs"
    write_certificates(folder, "edge-node", [])
    write_kubeconfig(folder, "https://127.0.0.1:6443")  # the admin's certificate
    return folder


@pytest.fixture
def tls_server(certs: Path, tmp_path: Path) -> Iterator[ApiServer]:
    settings = ApiSettings(
        "127.0.0.1", 0, certs / "cloudhub.crt", certs / "cloudhub.key", certs / "ca.crt", write_token_file(tmp_path / "tokens.csv")
    )
    tls, tokens = settings.authentication()
    server = ApiServer("127.0.0.1", 0, _ok, tls=tls, tokens=tokens)
    server.start()
    yield server
    server.stop()


def _status(client: ApiClient) -> tuple[int, str]:
    status, answer = client.call("GET", "nodes")
    return status, str(answer.get("error", ""))


def test_the_admins_certificate_and_a_token_of_the_token_file_are_let_in(tls_server: ApiServer, certs: Path) -> None:
    by_certificate = ApiClient(tls_server.url, tls=admin_tls(certs))
    by_token = control_client(tls_server.url, certs / "ca.crt")

    assert _status(by_certificate) == (200, "")
    assert _status(by_token) == (200, "")


def test_a_request_without_credentials_or_with_a_wrong_token_is_refused_401(tls_server: ApiServer, certs: Path) -> None:
    verifying_only = ssl.create_default_context(cafile=str(certs / "ca.crt"))

    anonymous = _status(ApiClient(tls_server.url, tls=verifying_only))
    wrong_token = _status(ApiClient(tls_server.url, tls=verifying_only, token="guess"))

    assert anonymous[0] == wrong_token[0] == 401
    assert "the control API needs a client certificate of the project's CA or a bearer token" in anonymous[1]


def test_an_edges_certificate_is_refused_403_naming_the_user(tls_server: ApiServer, certs: Path) -> None:
    # The CA issues the edges' certificates too: an edge must not drive the cloud side.
    issue_edge_certificate(certs / "ca.crt", certs / "ca.key", "edge-7", certs / "edge-7.crt", certs / "edge-7.key")
    edge = ApiClient(tls_server.url, tls=admin_tls(certs, cert=certs / "edge-7.crt", key=certs / "edge-7.key"))

    assert _status(edge) == (403, "forbidden: user 'edge-7' is not in group system:masters")


def test_plain_http_is_refused_by_the_tls_server(tls_server: ApiServer) -> None:
    plain = tls_server.url.replace("https://", "http://")

    with pytest.raises(OSError):  # the TLS handshake fails: the connection is reset
        urllib.request.urlopen(f"{plain}/api/v1/nodes", timeout=10)


def test_without_tls_only_a_bearer_token_is_let_in(tmp_path: Path) -> None:
    settings = ApiSettings("127.0.0.1", 0, None, None, None, write_token_file(tmp_path / "tokens.csv"))
    tls, tokens = settings.authentication()
    server = ApiServer("127.0.0.1", 0, _ok, tls=tls, tokens=tokens)
    server.start()
    try:
        with_token = _status(control_client(server.url, None))
        without = _status(ApiClient(server.url))
    finally:
        server.stop()

    assert server.url.startswith("http://") and tls is None
    assert with_token == (200, "")
    assert without == (401, "unauthorized: the control API needs a bearer token (kube.token-file)")


def test_without_tls_and_without_a_token_file_the_control_api_refuses_to_start_naming_the_keys() -> None:
    settings = ApiSettings("127.0.0.1", 0, None, None, None, None)

    with pytest.raises(ApiServerError, match=r"authenticates every request: set cloudhub\.cert, cloudhub\.key and cloudhub\.ca") as caught:
        settings.authentication()

    assert "kube.token-file" in str(caught.value)


def test_a_broken_token_file_is_an_api_server_error_naming_the_line(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.csv"
    tokens.write_text(f"{TEST_TOKEN},tester\nonly-a-token\n")

    with pytest.raises(ApiServerError, match=f"{tokens}:2: expected token,user,uid"):
        ApiSettings("127.0.0.1", 0, None, None, None, tokens).authentication()


def test_the_cloud_side_with_cloudapi_and_no_way_to_authenticate_exits_2_saying_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "cloudhub.yaml").write_text('cloudhub:\n  cert: ""\n  key: ""\nmodules:\n  enabled: [controller, cloudhub, cloudapi]\n')

    code = main(["--config-dir", str(conf)])

    assert code == 2
    assert "the control API authenticates every request" in capsys.readouterr().err


def test_the_default_cloud_side_runs_no_control_api() -> None:
    runtime = cloud_runtime(cloud_defaults())

    assert "cloudapi" not in cloud_defaults().strings("modules.enabled")
    assert runtime.actor_ref("cloudapi") is None
