"""kubectl is the way in: the cloud side runs its Kubernetes API server by default, over TLS only."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeedge_cloud.__main__ import main
from kubeedge_cloud.keys import cloud_defaults


def test_the_cloud_side_runs_the_kubernetes_api_server_by_default() -> None:
    assert "kubeapi" in cloud_defaults().strings("modules.enabled")


def test_a_cloud_hub_without_tls_that_runs_kubeapi_stops_at_once_saying_what_to_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "cloudhub.yaml").write_text('cloudhub:\n  cert: ""\n  key: ""\n')

    code = main(["--config-dir", str(tmp_path / "conf")])

    assert code == 2
    assert capsys.readouterr().err == (
        "kubeedge-cloud: the Kubernetes API server needs TLS: set cloudhub.cert, cloudhub.key,"
        " or leave kubeapi out of modules.enabled (no kubectl then)\n"
    )
