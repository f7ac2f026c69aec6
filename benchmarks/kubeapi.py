"""The embedded Kubernetes API server (kubeedge_cloud/kube), measured in the same run as its
baselines.

API server alone (``python -m kubeedge_cloud apiserver`` in its own process, the official
client here, one TLS connection kept alive):

- ``version_p50_ms``: ``GET /version``, the baseline: authentication, TLS and HTTP, no store.
- ``create_p50_ms``: create a configmap (a SQLite commit); ``create_vs_version_p50`` the ratio.
- ``watch_event_p50_ms``: a create's call → its ADDED event at a watch opened before.
- ``list_ms_<n>``: list ``--objects`` configmaps; ``list_per_object_us`` per object.

With ``--pods N`` (needs Docker) also a cloud side with ``kubeapi`` and a real edge process:

- ``kubectl_apply_to_running_p50_ms``: ``kubectl apply`` of a pod → the pod Running in the API
  server (what ``kubectl get`` shows; a watch sees it), through the controller's watches (no polling).
- ``control_api_apply_to_running_p50_ms``: the baseline, the same pod applied through the control
  API (``cloudapi``, straight to the controller) → Running there (polled every 20 ms). Rounds alternate which side goes first.

Usage: ``python benchmarks/kubeapi.py [--rounds 200] [--objects 1000] [--pods 0]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import kubernetes.client
import kubernetes.config
from kubernetes import watch
from ruamel.yaml import YAML

from kubeedge_cloud.keys import CLOUD_MODULES
from kubeedge_cloud.pki import write_kubeconfig
from tests.services import free_port

REPO = Path(__file__).resolve().parents[1]


@contextmanager
def api_server(folder: Path) -> Iterator[Path]:
    """``python -m kubeedge_cloud apiserver`` in ``folder``; yields its kubeconfig."""
    shutil.copytree(REPO / "conf", folder / "conf")
    set_conf(folder, {"kube": {"port": free_port()}})
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-m", "kubeedge_cloud", "--config-dir", str(folder / "conf"), "certs"], env=env, check=True,
                   capture_output=True)  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "kubeedge_cloud", "--config-dir", str(folder / "conf"), "apiserver"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        server.stdout.readline()  # "serving ..."
        yield folder / "certs" / "kubeconfig"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)


def set_conf(site: Path, values: dict[str, dict[str, Any]]) -> None:
    yaml = YAML()
    path = site / "conf" / "cloudhub.yaml"
    document = yaml.load(path.read_text())
    for section, keys in values.items():
        document[section].update(keys)
    with path.open("w") as stream:
        yaml.dump(document, stream)


def p50_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def api_figures(kubeconfig: Path, rounds: int, objects: int) -> dict[str, float]:
    api_client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
    core, version = kubernetes.client.CoreV1Api(api_client), kubernetes.client.VersionApi(api_client)
    seen: dict[str, float] = {}
    ready = threading.Event()

    def watcher() -> None:
        rv = core.list_namespaced_config_map("default").metadata.resource_version
        ready.set()
        for event in watch.Watch().stream(core.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=600):
            seen.setdefault(event["object"].metadata.name, time.perf_counter())
            if len(seen) >= rounds:
                return

    thread = threading.Thread(target=watcher, daemon=True)
    thread.start()
    ready.wait(30)
    version_s, create_s, event_s = [], [], []
    for index in range(rounds):
        version_s.append(timed(version.get_code))
        name = f"c-{index}"
        start = time.perf_counter()
        core.create_namespaced_config_map("default", {"metadata": {"name": name}, "data": {"a": "b"}})
        create_s.append(time.perf_counter() - start)
        while name not in seen:
            time.sleep(0.0005)
        event_s.append(seen[name] - start)
    for index in range(rounds, objects):
        core.create_namespaced_config_map("default", {"metadata": {"name": f"c-{index}"}, "data": {"a": "b"}})
    list_s = min(timed(lambda: core.list_namespaced_config_map("default")) for _ in range(5))
    api_client.close()
    return {
        "version_p50_ms": p50_ms(version_s),
        "create_p50_ms": p50_ms(create_s),
        "create_vs_version_p50": statistics.median(create_s) / statistics.median(version_s),
        "watch_event_p50_ms": p50_ms(event_s),
        f"list_ms_{max(objects, rounds)}": list_s * 1000,
        "list_per_object_us": list_s * 1e6 / max(objects, rounds),
    }


POD = """\
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
  - {{name: main, image: {image}, command: ["sleep", "3600"]}}
"""


def pod_figures(folder: Path, pods: int) -> dict[str, float]:
    import docker

    from examples.busybox_image import ensure_busybox_image
    from tests.integration.scenario import Scenario
    from tests.services import BUSYBOX_IMAGE

    client = docker.from_env()
    ensure_busybox_image(client.api, BUSYBOX_IMAGE)
    with Scenario(folder, client) as scenario:
        site = folder / "cloud"
        port = free_port()
        set_conf(site, {"modules": {"enabled": [*CLOUD_MODULES, "cloudapi"]}, "kube": {"port": port}})
        write_kubeconfig(site / "certs", f"https://127.0.0.1:{port}")
        scenario.cloud.start()
        scenario.edge.start()
        scenario.wait_node("connected")
        env = {**os.environ, "KUBECONFIG": str(site / "certs" / "kubeconfig"), "HOME": str(folder)}
        api_client = kubernetes.config.new_client_from_config(config_file=str(site / "certs" / "kubeconfig"))
        core = kubernetes.client.CoreV1Api(api_client)

        def kubectl_round(name: str) -> float:
            manifest = POD.format(name=name, node=scenario.node_id, image=BUSYBOX_IMAGE)
            start = time.perf_counter()
            subprocess.run(["kubectl", "apply", "-f", "-"], input=manifest, env=env, text=True, check=True, capture_output=True)
            while core.read_namespaced_pod(name, "default").status.phase != "Running":
                time.sleep(0.02)
            return time.perf_counter() - start

        def control_round(name: str) -> float:
            manifest = folder / f"{name}.yaml"
            manifest.write_text(POD.format(name=name, node=scenario.node_id, image=BUSYBOX_IMAGE))
            start = time.perf_counter()
            done = scenario.cloud.control("apply", "-f", str(manifest))
            assert done.returncode == 0, done.stderr
            scenario.wait_pod(name, "Running", check=lambda row: True)
            return time.perf_counter() - start

        kubectl_round("warm-up")
        kubectl_s, control_s = [], []
        for index in range(pods):
            sides = [lambda i=index: kubectl_s.append(kubectl_round(f"k-{i}")), lambda i=index: control_s.append(control_round(f"c-{i}"))]
            for side in sides if index % 2 == 0 else reversed(sides):
                side()
        api_client.close()
    return {
        "kubectl_apply_to_running_p50_ms": p50_ms(kubectl_s),
        "control_api_apply_to_running_p50_ms": p50_ms(control_s),
        "kubectl_vs_control_api_p50": statistics.median(kubectl_s) / statistics.median(control_s),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--pods", type=int, default=0)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="kubeapi-bench-"))
    try:
        with api_server(folder / "api") as kubeconfig:
            figures = api_figures(kubeconfig, args.rounds, args.objects)
        if args.pods:
            figures |= pod_figures(folder / "pods", args.pods)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(" ".join(f"{key}={value:.2f}" for key, value in figures.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
