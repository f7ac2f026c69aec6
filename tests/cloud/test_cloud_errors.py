"""One exception root on the cloud side: what it defines or raises derives from
KubeEdgeActorsError, library errors are converted with the cause kept, and each says what was
wrong."""

from __future__ import annotations

import argparse
import http.client
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeedge_actors import Config
from kubeedge_actors.checks import errors_outside_the_root
from kubeedge_cloud.apiserver import ApiAnswer, ApiRequest, ApiServer
from kubeedge_cloud.auth import User
from kubeedge_cloud.certs import run_certs
from kubeedge_cloud.errors import ApiServerError, CertificateError
from kubeedge_cloud.keys import CLOUD_KEYS
from kubeedge_cloud.pki import write_certificates


def test_every_error_the_cloud_side_defines_or_raises_derives_from_the_root() -> None:
    assert errors_outside_the_root("kubeedge_cloud") == []


# --- certs -----------------------------------------------------------------------------------


def test_certificates_cannot_be_written_into_a_file_and_the_error_names_it(tmp_path: Path) -> None:
    in_the_way = tmp_path / "certs"
    in_the_way.write_text("not a folder")

    with pytest.raises(CertificateError, match=f"cannot write the certificates in {in_the_way}") as caught:
        write_certificates(in_the_way, "edge-1", [])

    assert isinstance(caught.value.__cause__, OSError)


def test_a_ca_certificate_without_its_key_cannot_issue(tmp_path: Path) -> None:
    write_certificates(tmp_path, "edge-1", [])
    (tmp_path / "ca.key").unlink()

    with pytest.raises(CertificateError, match=r"ca\.crt exists but .*ca\.key does not"):
        write_certificates(tmp_path, "edge-1", [], force=True)


def test_a_ca_key_that_is_not_pem_is_named(tmp_path: Path) -> None:
    write_certificates(tmp_path, "edge-1", [])
    (tmp_path / "ca.key").write_text("garbage")

    with pytest.raises(CertificateError, match=r"ca\.key is not a usable private key") as caught:
        write_certificates(tmp_path, "edge-1", [], force=True)

    assert caught.value.__cause__ is not None


def test_the_certs_command_reports_the_error_in_one_line_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "certs").write_text("not a folder")
    args = argparse.Namespace(dir=tmp_path / "certs", node_id="edge-1", host=[], force=False)

    code = run_certs(Config({}, CLOUD_KEYS, base_dir=tmp_path), args)

    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: cannot write the certificates in") and err.count("\n") == 1


# --- the control API's server ------------------------------------------------------------------


def _echo(request: ApiRequest) -> ApiAnswer:
    return ApiAnswer(200, {"body": request.body})


_TOKEN = "t0ken"


@pytest.fixture
def api_server() -> Iterator[ApiServer]:
    server = ApiServer("127.0.0.1", 0, _echo, tokens={_TOKEN: User("tester", (), by_token=True)})
    server.start()
    yield server
    server.stop()


def test_a_taken_port_is_an_api_server_error_naming_the_address(api_server: ApiServer) -> None:
    second = ApiServer("127.0.0.1", api_server.port, _echo)

    with pytest.raises(ApiServerError, match=f"cannot listen on 127.0.0.1:{api_server.port}") as caught:
        second.start()

    assert isinstance(caught.value.__cause__, OSError)


def test_a_body_that_is_not_json_is_answered_400_naming_why(api_server: ApiServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", api_server.port, timeout=10)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {_TOKEN}"}
    connection.request("POST", "/api/v1/apply", body=b"{not json", headers=headers)

    response = connection.getresponse()

    assert response.status == 400
    assert b"the request body is not JSON" in response.read()
    connection.close()


@pytest.mark.parametrize("length", ["abc", "-5"], ids=["not-a-number", "negative"])
def test_a_content_length_that_is_no_length_is_answered_400_at_once(api_server: ApiServer, length: str) -> None:
    with socket.create_connection(("127.0.0.1", api_server.port), timeout=10) as client:
        request = f"POST /api/v1/apply HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {_TOKEN}\r\nContent-Length: {length}\r\n\r\n"
        client.sendall(request.encode())

        answer = client.makefile("rb").read()  # the server closes after its answer

    assert answer.startswith(b"HTTP/1.0 400") or answer.startswith(b"HTTP/1.1 400")
    assert b"is not a length" in answer
