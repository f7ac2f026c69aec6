"""``python -m kubeedge_cloud ctl ARGS`` is kubectl with the kubeconfig ``certs`` wrote: the
same objects, output and exit codes as kubectl, run from the cloud side's folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kubeedge_cloud.ctl import kubectl_command, split_ctl_arguments
from kubeedge_cloud.keys import cloud_defaults
from tests.kube.site import KubeSite

REPO = Path(__file__).resolve().parents[2]


def ctl(site: KubeSite, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m kubeedge_cloud ctl ARGS`` in the site's folder, without KUBECONFIG set."""
    environment = {**site.kubectl_env(), "PYTHONPATH": str(REPO)}
    environment.pop("KUBECONFIG")
    command = [sys.executable, "-m", "kubeedge_cloud", "ctl", *args]
    return subprocess.run(command, cwd=site.folder, env=environment, input=stdin, capture_output=True, text=True, timeout=60, check=False)


CONFIGMAP = """apiVersion: v1
kind: ConfigMap
metadata: {name: greeting, namespace: shop}
data: {message: hello}
"""


def test_ctl_applies_and_lists_what_kubectl_sees_with_kubectls_own_output(kube: KubeSite) -> None:
    kube.kubectl("create", "namespace", "shop")

    applied = ctl(kube, "apply", "-f", "-", stdin=CONFIGMAP)
    listed = ctl(kube, "get", "configmaps", "-n", "shop", "-o", "name")
    seen_by_kubectl = kube.kubectl("get", "configmap", "greeting", "-n", "shop", "-o", "jsonpath={.data.message}")

    assert (applied.returncode, applied.stdout) == (0, "configmap/greeting created\n"), applied.stderr
    assert listed.stdout == "configmap/greeting\n"
    assert seen_by_kubectl.stdout == "hello"


def test_ctl_exits_with_kubectls_code_and_message(kube: KubeSite) -> None:
    missing = ctl(kube, "get", "pod", "nobody")

    assert missing.returncode == 1
    assert 'pods "nobody" not found' in missing.stderr


def test_without_a_kubeconfig_ctl_says_which_command_writes_it(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "kubeedge_cloud", "ctl", "get", "pods"]
    environment = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(tmp_path)}

    done = subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=60, check=False)

    assert done.returncode == 2
    assert f"ctl: no kubeconfig at {tmp_path / 'certs' / 'kubeconfig'}: run `python -m kubeedge_cloud certs` first" in done.stderr


def test_everything_after_ctl_is_kubectls_and_a_kubeconfig_of_the_users_is_kept(tmp_path: Path) -> None:
    config = cloud_defaults()

    own, passed = split_ctl_arguments(["--config-dir", "conf", "ctl", "-n", "shop", "get", "pods", "-h", "--", "x"])
    users = kubectl_command(config, ["get", "pods"], {"KUBECONFIG": str(tmp_path / "mine")})
    flag = kubectl_command(config, ["--kubeconfig=/etc/k", "get", "pods"], {})

    assert (own, passed) == (["--config-dir", "conf", "ctl"], ["-n", "shop", "get", "pods", "-h", "--", "x"])
    assert isinstance(users, list) and users[1:] == ["get", "pods"]
    assert isinstance(flag, list) and flag[1:] == ["--kubeconfig=/etc/k", "get", "pods"]
