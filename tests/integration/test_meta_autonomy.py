"""Tier 3: edge autonomy on a real SQLite file: what the cloud sent survives a restart of the
whole edge core and is served with the cloud gone (docs/protocol.md#6.6); the CLI runs meta on conf/."""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

from actors import builtin_modules
from actors.keys import edge_defaults
from actors.protocol import Group, Module
from actors.testing import cloud_message, edged_message
from kubeedge_actors import Config, Runtime
from kubeedge_actors.testing import start_probe
from tests.meta.helpers import configmap, pod, stored

REPO = Path(__file__).resolve().parents[2]


def edge_config(db_path: Path, *, edgesite: bool) -> Config:
    return edge_defaults().with_values(
        {"modules.enabled": [Module.META], "database.source": str(db_path), "metamanager.edgesite": edgesite}
    )


def test_pods_and_configmaps_survive_a_restart_and_are_served_without_the_cloud(tmp_path: Path) -> None:
    db_path = tmp_path / "edge.db"
    with Runtime(edge_config(db_path, edgesite=True), builtin_modules()) as runtime:
        hub = start_probe(runtime.router, Module.HUB, Group.HUB)
        start_probe(runtime.router, Module.EDGED, Group.EDGED)
        pushes = [
            cloud_message("insert", "default/pod/web", pod("web")),
            cloud_message("insert", "other/pod/cache", pod("cache", "other")),
            cloud_message("update", "default/configmap/cfg", configmap("cfg")),
        ]
        for push in pushes:
            runtime.router.send_to_group(Group.META, push)
        hub.wait_for_count(len(pushes))

    with Runtime(edge_config(db_path, edgesite=False), builtin_modules()) as runtime:
        hub = start_probe(runtime.router, Module.HUB, Group.HUB)
        start_probe(runtime.router, Module.EDGED, Group.EDGED)
        pods = runtime.router.send_sync(Module.META, edged_message("query", "default/pod"), 5).result(timeout=6)
        config_map = runtime.router.send_sync(Module.META, edged_message("query", "default/configmap/cfg"), 5).result(timeout=6)

    assert pods.content == [stored(pod("web")), stored(pod("cache", "other"))]
    assert config_map.content == [stored(configmap("cfg"))]
    assert hub.messages == []


def test_the_edge_command_runs_meta_on_the_database_its_conf_names(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    for name in ("edge.yaml", "modules.yaml", "logging.yaml"):
        (tmp_path / "conf" / name).write_text((REPO / "conf" / name).read_text())
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "kubeedge_actors"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    lines = []
    while time.monotonic() < deadline and not any("runtime: running" in line for line in lines):
        lines.append(process.stdout.readline())

    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=60)

    assert process.returncode == 0, "".join(lines) + out
    assert "metaManager (meta)" in "".join(lines)
    db_path = tmp_path / "edge.db"
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600
    with sqlite3.connect(db_path) as database:
        # The file is shared (twin keeps its tables there too): meta's table must be among them.
        assert ("meta",) in database.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
