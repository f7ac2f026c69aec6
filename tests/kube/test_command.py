"""``python -m kubeedge_cloud apiserver`` and ``certs`` as a user runs them, and who the server lets in."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kubeedge_cloud.pki import write_certificates
from tests.kube.site import KUBECTL, KubeSite
from tests.services import free_port

REPO = Path(__file__).resolve().parents[2]


def cloud(site: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "kubeedge_cloud", "--config-dir", str(site / "conf"), *args]


def new_site(folder: Path, port: int) -> Path:
    shutil.copytree(REPO / "conf", folder / "conf")
    conf = folder / "conf" / "cloudhub.yaml"
    conf.write_text(conf.read_text().replace("port: 6443", f"port: {port}"))
    return folder


def test_certs_writes_a_kubeconfig_the_apiserver_command_accepts_and_sigterm_stops_it(tmp_path: Path) -> None:
    site = new_site(tmp_path, free_port())
    env = {**os.environ, "PYTHONPATH": str(REPO), "HOME": str(tmp_path)}
    certs = subprocess.run(cloud(site, "certs"), capture_output=True, text=True, timeout=60, env=env, check=True)
    server = subprocess.Popen(cloud(site, "apiserver"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        kubeconfig = site / "certs" / "kubeconfig"
        namespaces = subprocess.run(
            [KUBECTL, "get", "namespaces", "-o", "name"], capture_output=True, text=True, timeout=60,
            env={**env, "KUBECONFIG": str(kubeconfig)}, check=True,
        )  # fmt: skip
        server.send_signal(signal.SIGTERM)
        code = server.wait(30)
    finally:
        server.kill()
    assert "wrote the admin certificate" in certs.stdout
    assert first.startswith("kubeedge-cloud apiserver: serving https://127.0.0.1:")
    assert namespaces.stdout.split() == ["namespace/default", "namespace/kube-node-lease", "namespace/kube-public", "namespace/kube-system"]
    assert code == 0
    config = yaml.safe_load(kubeconfig.read_text())
    assert config["current-context"] == "kubeedge-actors" and config["clusters"][0]["cluster"]["server"].startswith("https://127.0.0.1:")
    assert kubeconfig.stat().st_mode & 0o777 == 0o600


def test_the_apiserver_without_its_certificate_exits_with_one_clear_line(tmp_path: Path) -> None:
    site = new_site(tmp_path, free_port())
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(cloud(site, "apiserver"), capture_output=True, text=True, timeout=60, env=env, check=False)
    assert done.returncode == 2
    assert done.stderr.startswith("kubeedge-cloud apiserver: the Kubernetes API server cannot use ")
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_client_certificate_of_another_ca_is_refused_in_the_handshake(kube: KubeSite, tmp_path: Path) -> None:
    other = tmp_path / "other"
    write_certificates(other, "intruder", [])
    context = ssl.create_default_context(cafile=str(kube.certs / "ca.crt"))
    context.load_cert_chain(other / "edge.crt", other / "edge.key")
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
        first_byte(context, kube.server.port)
    assert kube.kubectl("get", "ns").returncode == 0  # and it serves on


def first_byte(context: ssl.SSLContext, port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(b"GET /api HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = tls.recv(1)  # TLS 1.3: the refusal arrives with the first read
        if not answer:
            raise ConnectionResetError("closed")
        return answer
