"""Real services for tests: Mosquitto brokers, the Docker Engine, a busybox image, TLS files.

The test command (scripts/test) installs and starts what these need when run as root. A test
whose service is missing fails with the reason, never skips: a green run means every test ran.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn

import pytest

from examples.busybox_image import BUSYBOX, ensure_busybox_image

BUSYBOX_IMAGE = "kubeedge-actors/busybox:test"


def service_missing(reason: str) -> NoReturn:
    """Fail the test: it cannot run without this service (scripts/test as root installs it)."""
    pytest.fail(f"required service missing: {reason} (run scripts/test as root to install and start it)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s} s")


# --- Mosquitto --------------------------------------------------------------------------------


class MosquittoBroker:
    """A private Mosquitto on 127.0.0.1 (another broker may hold 1883)."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self._config = workdir / f"mosquitto-{self.port}.conf"
        self._log = workdir / f"mosquitto-{self.port}.log"
        # max_queued_messages 0: no limit on what waits for a slow subscriber (default 1,000): a
        # test's own MQTT client, slow on a loaded machine, must not lose what the edge sent.
        self._config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\nset_tcp_nodelay true\nmax_queued_messages 0\n"
        )
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    def start(self) -> None:
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(["mosquitto", "-c", str(self._config)], stdout=log, stderr=log)
        wait_for_port(self.port)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MosquittoBroker]:
    if shutil.which("mosquitto") is None:
        service_missing("the mosquitto binary is not installed (Debian package mosquitto)")
    broker = MosquittoBroker(tmp_path)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


# --- Docker -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    import docker

    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except Exception as exc:
        service_missing(f"no Docker Engine answers: {exc}")
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session")
def busybox_image(docker_client: Any) -> str:
    """The local image ``kubeedge-actors/busybox:test`` (no registry is reachable here)."""
    if not BUSYBOX.is_file():
        service_missing(f"{BUSYBOX} is missing (Debian package busybox-static)")
    ensure_busybox_image(docker_client.api, BUSYBOX_IMAGE)
    return BUSYBOX_IMAGE


# --- TLS --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TlsFiles:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate, as files."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def for_node(self, node_id: str) -> TlsFiles:
        """The same files with a client certificate for ``node_id`` (CN = the node id): the
        cloud hub admits an edge as the node its certificate names only (docs/protocol.md#9.4)."""
        from kubeedge_cloud.pki import issue_edge_certificate

        folder = self.ca.parent / "nodes"
        cert, key = folder / f"{node_id}.crt", folder / f"{node_id}.key"
        if not cert.exists():
            folder.mkdir(exist_ok=True)
            issue_edge_certificate(self.ca, self.ca.parent / "ca.key", node_id, cert, key)
        return replace(self, client_cert=cert, client_key=key)


def make_tls_files(folder: Path) -> TlsFiles:
    import trustme

    ca = trustme.CA(key_type=trustme.KeyType.RSA)
    server = ca.issue_cert("127.0.0.1", "localhost", key_type=trustme.KeyType.RSA)
    client = ca.issue_cert("edge-node", key_type=trustme.KeyType.RSA)
    folder.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(
        ca=folder / "ca.crt",
        server_cert=folder / "cloudhub.crt",
        server_key=folder / "cloudhub.key",
        client_cert=folder / "edge.crt",
        client_key=folder / "edge.key",
    )
    ca.cert_pem.write_to_path(str(files.ca))
    server.cert_chain_pems[0].write_to_path(str(files.server_cert))
    server.private_key_pem.write_to_path(str(files.server_key))
    client.cert_chain_pems[0].write_to_path(str(files.client_cert))
    client.private_key_pem.write_to_path(str(files.client_key))
    ca.private_key_pem.write_to_path(str(folder / "ca.key"))  # for_node issues more
    return files


@pytest.fixture
def tls_files(tmp_path: Path) -> TlsFiles:
    return make_tls_files(tmp_path / "certs")
