"""A running embedded API server in a temporary folder, with the project's certificates, a
kubeconfig for it, the real kubectl and the official Kubernetes client pointed at it."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import kubernetes.client
import kubernetes.config

from kubeedge_cloud.kube.server import KubeApiServer, KubeServerSettings
from kubeedge_cloud.pki import write_certificates, write_kubeconfig

#: The newest kubectl on the machine.
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
#: Debian's kubectl (kubernetes-client), which scripts/test unpacks here (scripts/lib.sh).
DEBIAN_KUBECTL = Path(__file__).resolve().parents[2] / ".cache" / "kubectl-debian" / "usr" / "bin" / "kubectl"


def kubectl_binaries() -> dict[str, str]:
    """The kubectls the kubectl tests run, by test id: the newest, and Debian's when fetched."""
    found = {"newest": KUBECTL}
    if DEBIAN_KUBECTL.is_file():
        found["debian"] = str(DEBIAN_KUBECTL)
    return found


TOKEN = "s3cr3t-token-for-tests"


@dataclass
class KubeSite:
    """An API server on a free port; :meth:`restart` keeps its SQLite file."""

    folder: Path
    watch_window: int = 10_000
    kubectl_path: str = KUBECTL
    server: KubeApiServer = field(init=False)

    def __post_init__(self) -> None:
        self.certs = self.folder / "certs"
        write_certificates(self.certs, "edge-node", [])
        self.token_file = self.folder / "tokens.csv"
        self.token_file.write_text(f'{TOKEN},alice,1001,"developers,viewers"\n')
        self.server = self._start(0)
        write_kubeconfig(self.certs, self.server.url)
        self.kubeconfig = self.certs / "kubeconfig"

    def _start(self, port: int) -> KubeApiServer:
        server = KubeApiServer(
            KubeServerSettings(
                address="127.0.0.1",
                port=port,
                cert=self.certs / "cloudhub.crt",
                key=self.certs / "cloudhub.key",
                ca=self.certs / "ca.crt",
                database=self.folder / "cloud.db",
                token_file=self.token_file,
                watch_window=self.watch_window,
            )
        )
        server.start()
        return server

    @property
    def debian_kubectl(self) -> bool:
        """Whether the kubectl is Debian's 1.20: older words for some errors, and no OpenAPI v2
        paths from us, so its client-side checks (dry-run support, validation) find nothing."""
        return self.kubectl_path == str(DEBIAN_KUBECTL)

    def restart(self) -> None:
        self.pause()
        self.resume()

    def pause(self) -> None:
        """Stop serving; :meth:`resume` serves again on the same port and file."""
        self.server.stop()

    def resume(self) -> None:
        self.server = self._start(self.server.port)

    def stop(self) -> None:
        self.server.stop()

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this server; ``check``: fail the test (with kubectl's output) on a non-zero exit."""
        done = subprocess.run(
            [self.kubectl_path, *args], input=stdin, capture_output=True, text=True, timeout=timeout_s, env=self.kubectl_env(), check=False
        )
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} exited {done.returncode}: {done.stderr}{done.stdout}")
        return done

    def kubectl_env(self) -> dict[str, str]:
        # Its own HOME: kubectl's discovery cache stays in the test's folder.
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig), "HOME": str(self.folder)}

    @contextmanager
    def client(self) -> Iterator[kubernetes.client.ApiClient]:
        """The official client, configured by the kubeconfig (client certificate)."""
        api_client = kubernetes.config.new_client_from_config(config_file=str(self.kubeconfig))
        try:
            yield api_client
        finally:
            api_client.close()
