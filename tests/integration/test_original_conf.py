"""A KubeEdge user keeps the original's config files (issue 11): the edge runs from them.

The files are the copies in ``tests/runtime/original_conf`` (the seed README's ``edge.yaml``,
and v1.0.0's ``edge/conf``), changed only where a test on a shared machine must: the cloud's
address and port, the node id, free ports for the embedded broker and edged's ``/pods``, and
(v1.0.0) where the certificate and key are. Everything else, keys we do not use included, is
as the original ships it. Each runs ``python -m kubeedge_actors`` against this project's cloud
hub as a process, with real Docker:

- the seed's ``ws://`` URL against a cloud hub without TLS; its certfile/keyfile
  (``/tmp/edge.crt``) are not needed for ``ws://`` and are not read; its hostname-override is
  not its node-id, and stays so: node status is reported under hostname-override, as the
  original does (docs/protocol.md#7.5), with a warning naming both;
- v1.0.0's files against a TLS cloud hub: they have no ``cafile`` key, so the cloud is not
  verified, as in the original (docs/protocol.md#3.2), with one warning saying how to verify it.

Both connect, report node status (Ready at the cloud) and run a pod (Running at the cloud, a
running container in Docker).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from actors.edged.model import NODE_ID_LABEL
from kubeedge_actors.testing import wait_until
from kubeedge_cloud.keys import CLOUD_MODULES
from kubeedge_cloud.pki import write_certificates
from tests.integration.sites import REPO, CloudHubProcess, EdgeProcess, api_items, new_site, write_conf
from tests.services import free_port

pytestmark = pytest.mark.docker

ORIGINAL_CONF = REPO / "tests" / "runtime" / "original_conf"
ORIGINAL_NODE_ID = "fb4ebb70-2783-42b8-b3ef-63e2fd6d242e"
SEED_HOSTNAME = "93e05fa9-b782-4a59-9d02-9f6e639b4205"

POD = """\
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {image}
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
"""


class OriginalConfSite:
    """A cloud hub from the shipped conf and an edge from an original's conf files, in ``folder``."""

    def __init__(self, folder: Path, docker_client: Any) -> None:
        self.folder = folder
        self.docker = docker_client
        self.node_id = f"orig-{uuid.uuid4().hex[:10]}"
        self.cloud: CloudHubProcess | None = None
        self.edge: EdgeProcess | None = None

    def start_cloud(self, *, tls: bool) -> CloudHubProcess:
        no_tls = {} if tls else {"cloudhub.cert": "", "cloudhub.key": ""}
        site = new_site(self.folder / "cloud", {"cloudhub.port": 0, "cloudhub.api-port": 0, "kube.port": 0, **no_tls})
        if not tls:  # the Kubernetes API never listens without TLS
            write_conf(site / "conf", {"modules.enabled": [m for m in CLOUD_MODULES if m != "kubeapi"]}, cloud=True)
        write_certificates(site / "certs", self.node_id, [])
        self.cloud = CloudHubProcess(site).start()
        return self.cloud

    def start_edge(self, version: str, changes: dict[str, str]) -> EdgeProcess:
        """The edge run from ``original_conf/<version>``, its ``edge.yaml`` changed only as
        ``changes`` says (each text must be in it)."""
        site = self.folder / "edge"
        (site / "conf").mkdir(parents=True)
        for original in (ORIGINAL_CONF / version).iterdir():
            text = original.read_text()
            if original.name == "edge.yaml":
                for old, new in changes.items():
                    assert old in text, f"{old!r} is not in {original}"
                    text = text.replace(old, new)
            (site / "conf" / original.name).write_text(text)
        self.edge = EdgeProcess(site).start()
        return self.edge

    @property
    def cloud_address(self) -> str:
        assert self.cloud is not None
        return f"127.0.0.1:{self.cloud.port}"

    def copy_edge_certificate(self) -> tuple[Path, Path]:
        """The cloud's CA-signed edge certificate and key, in the edge's site."""
        certs = self.folder / "edge" / "certs"
        certs.mkdir(parents=True)
        for name in ("edge.crt", "edge.key"):
            (certs / name).write_bytes((self.folder / "cloud" / "certs" / name).read_bytes())
        (certs / "edge.key").chmod(0o600)
        return certs / "edge.crt", certs / "edge.key"

    def row(self, what: str, name: str) -> dict[str, Any] | None:
        """The cloud's row of node or pod ``name`` (``what``: ``nodes`` or ``pods``)."""
        assert self.cloud is not None
        return next((row for row in api_items(self.cloud.api, what) if row["name"] == name), None)

    def wait_node_ready(self) -> dict[str, Any]:
        """Until the cloud shows the node connected and its last node status Ready."""

        def ready() -> dict[str, Any] | None:
            row = self.row("nodes", self.node_id)
            return row if row is not None and (row["connection"], row["ready"]) == ("connected", "Ready") else None

        return wait_until(ready, 60, 0.2, f"node {self.node_id} connected and Ready at the cloud")

    def run_pod(self, image: str) -> None:
        """Apply a pod for the node with ``ctl``; wait until the cloud shows it Running."""
        assert self.cloud is not None
        manifest = self.folder / "pod.yaml"
        manifest.write_text(POD.format(name="web", node=self.node_id, image=image))
        applied = self.cloud.control("apply", "-f", str(manifest))
        assert applied.returncode == 0, applied.stderr

        def running() -> bool:
            row = self.row("pods", "web")
            return row is not None and row["phase"] == "Running"

        wait_until(running, 60, 0.2, "pod web Running at the cloud")

    def running_containers(self) -> list[Any]:
        filters = {"label": [f"{NODE_ID_LABEL}={self.node_id}", "io.kubernetes.pod.name=web"], "status": "running"}
        return list(self.docker.containers.list(filters=filters, ignore_removed=True))

    def close(self, failed: bool) -> None:
        processes = [p for p in (self.edge, self.cloud) if p is not None]
        if failed:
            for process in processes:
                print(f"----- {process.name}.log (tail) -----\n{process.log(whole=True)[-6000:]}")
        for process in processes:
            process.kill()
        for container in self.docker.containers.list(all=True, filters={"label": f"{NODE_ID_LABEL}={self.node_id}"}, ignore_removed=True):
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True, v=True)


@pytest.fixture
def site(tmp_path: Path, docker_client: Any) -> Iterator[OriginalConfSite]:
    running = OriginalConfSite(tmp_path, docker_client)
    failed = True
    try:
        yield running
        failed = False
    finally:
        running.close(failed)


def test_the_seed_readme_edge_yaml_connects_over_plain_ws_reports_node_status_and_runs_a_pod(
    site: OriginalConfSite, busybox_image: str
) -> None:
    site.start_cloud(tls=False)
    edge = site.start_edge(
        "seed",
        {
            "url: ws://127.0.0.1:20000/fake_group_id/events": f"url: ws://{site.cloud_address}/{site.node_id}/events",
            f"node-id: {ORIGINAL_NODE_ID}": f"node-id: {site.node_id}",
            "    server: tcp://127.0.0.1:1883\n": f"    server: tcp://127.0.0.1:1883\n    internal-server: tcp://127.0.0.1:{free_port()}\n",
            "edged:\n": f"edged:\n    server-port: {free_port()}\n",
        },
    )

    site.wait_node_ready()
    site.run_pod(busybox_image)

    assert len(site.running_containers()) == 1
    log = edge.log()
    assert log.count("is not encrypted (ws://)") == 1
    assert log.count(f"edged.hostname-override {SEED_HOSTNAME!r} is not edgehub.controller.node-id {site.node_id!r}") == 1
    assert "certificate" not in log and "cafile" not in log  # ws:// reads no TLS file


def test_v1_0_0_conf_files_without_a_cafile_connect_to_a_tls_cloud_unverified_with_one_warning(
    site: OriginalConfSite, busybox_image: str
) -> None:
    site.start_cloud(tls=True)
    cert, key = site.copy_edge_certificate()
    edge = site.start_edge(
        "v1.0.0",
        {
            "wss://0.0.0.0:10000/": f"wss://{site.cloud_address}/",
            ORIGINAL_NODE_ID: site.node_id,  # the URL, node-id and hostname-override
            "/etc/kubeedge/certs/edge.crt": str(cert),
            "/etc/kubeedge/certs/edge.key": str(key),
            "internal-server: tcp://127.0.0.1:1884": f"internal-server: tcp://127.0.0.1:{free_port()}",
            "edged:\n": f"edged:\n    server-port: {free_port()}\n",
        },
    )

    site.wait_node_ready()
    site.run_pod(busybox_image)

    assert len(site.running_containers()) == 1
    log = edge.log()
    assert log.count("edgehub.websocket.cafile is not set: the cloud's certificate is not verified") == 1
    assert "set edgehub.websocket.cafile to the CA that signed it to verify the cloud" in log
    assert "cannot load" not in log
    assert "hub: connected to the cloud" in log
