"""Requests no client library would send: each gets a Kubernetes Status naming what was wrong."""

from __future__ import annotations

import http.client
import json
import ssl
from typing import Any

from kubeedge_cloud.kube.server import MAX_BODY_BYTES
from tests.kube.site import TOKEN, KubeSite


def request(kube: KubeSite, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    context = ssl.create_default_context(cafile=str(kube.certs / "ca.crt"))
    connection = http.client.HTTPSConnection("127.0.0.1", kube.server.port, context=context, timeout=30)
    try:
        connection.request(method, path, body=body, headers={"Authorization": f"Bearer {TOKEN}", **(headers or {})})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_a_body_that_is_not_json_is_a_400_status(kube: KubeSite) -> None:
    code, status = request(kube, "POST", "/api/v1/namespaces/default/configmaps", b"{not json", {"Content-Type": "application/json"})
    assert code == 400 and status["kind"] == "Status" and status["reason"] == "BadRequest"
    assert status["message"].startswith("the request body is not JSON: ")


def test_a_body_larger_than_the_limit_is_a_413_status(kube: KubeSite) -> None:
    # Only the header: the server answers before reading (and closes: the body stays unread).
    code, status = request(kube, "POST", "/api/v1/namespaces/default/configmaps", b"", {"Content-Length": str(MAX_BODY_BYTES + 1)})
    assert (code, status["reason"]) == (413, "RequestEntityTooLarge")


def test_an_unknown_path_or_subresource_is_a_404_status(kube: KubeSite) -> None:
    assert request(kube, "GET", "/api/v1/services")[0] == 404
    assert request(kube, "GET", "/api/v1/namespaces/default/pods/p/log")[0] == 404
    code, status = request(kube, "GET", "/apis/apps/v1/deployments")
    assert (code, status["message"]) == (404, "the server could not find the requested resource")


def test_a_body_of_another_kind_than_the_url_is_a_400_status(kube: KubeSite) -> None:
    body = json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}).encode()
    code, status = request(kube, "POST", "/api/v1/namespaces/default/configmaps", body)
    assert code == 400 and status["message"] == "the kind in the data (Secret) does not match the expected kind (ConfigMap)"


def test_a_patch_type_the_kind_does_not_take_is_a_415_status(kube: KubeSite) -> None:
    model = {"apiVersion": "devices.kubeedge.io/v1alpha1", "kind": "DeviceModel", "metadata": {"name": "m"}}
    assert request(kube, "POST", "/apis/devices.kubeedge.io/v1alpha1/namespaces/default/devicemodels", json.dumps(model).encode())[0] == 201
    code, status = request(
        kube, "PATCH", "/apis/devices.kubeedge.io/v1alpha1/namespaces/default/devicemodels/m", b"{}",
        {"Content-Type": "application/strategic-merge-patch+json"},
    )  # fmt: skip
    assert (code, status["reason"]) == (415, "UnsupportedMediaType")
    assert "application/merge-patch+json" in status["message"]


def test_a_request_without_credentials_is_a_401_status(kube: KubeSite) -> None:
    context = ssl.create_default_context(cafile=str(kube.certs / "ca.crt"))
    connection = http.client.HTTPSConnection("127.0.0.1", kube.server.port, context=context, timeout=30)
    connection.request("GET", "/version")
    response = connection.getresponse()
    status = json.loads(response.read())
    connection.close()
    assert (response.status, status["kind"], status["reason"]) == (401, "Status", "Unauthorized")


def test_a_certificate_outside_system_masters_is_a_403_status_naming_the_user(kube: KubeSite) -> None:
    context = ssl.create_default_context(cafile=str(kube.certs / "ca.crt"))
    context.load_cert_chain(kube.certs / "edge.crt", kube.certs / "edge.key")
    connection = http.client.HTTPSConnection("127.0.0.1", kube.server.port, context=context, timeout=30)
    connection.request("GET", "/api/v1/secrets")
    response = connection.getresponse()
    status = json.loads(response.read())
    connection.close()
    assert (response.status, status["reason"]) == (403, "Forbidden")
    assert status["message"] == 'forbidden: User "edge-node" cannot get path "/api/v1/secrets"'
