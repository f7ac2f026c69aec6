"""Which kubectls the kubectl tests run: the newest on the machine and Debian's."""

from __future__ import annotations

import os
import subprocess

from tests.kube.site import DEBIAN_KUBECTL, kubectl_binaries


def test_debians_kubectl_is_there_to_test_with_whenever_the_tests_run_as_root() -> None:
    # scripts/test fetches it as root (scripts/lib.sh fetch_debian_kubectl); a user cannot.
    if os.geteuid() == 0:
        assert DEBIAN_KUBECTL.is_file(), (
            f"{DEBIAN_KUBECTL} is missing: scripts/test fetches it, or run "
            "`bash -c 'source scripts/lib.sh; fetch_debian_kubectl'` from the repository root"
        )
        assert "debian" in kubectl_binaries()


def test_each_kubectl_tested_runs_and_debians_is_not_the_newest() -> None:
    versions = {
        name: subprocess.run([path, "version", "--client"], capture_output=True, text=True, timeout=60, check=True).stdout
        for name, path in kubectl_binaries().items()
    }

    assert "Client Version" in versions["newest"]
    if "debian" in versions:
        assert versions["debian"] != versions["newest"]
        assert kubectl_binaries()["debian"] != kubectl_binaries()["newest"]
