"""``python -m kubeedge_actors``: start with the shipped conf, stop on signals, bad config."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def start_edge(cwd: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "kubeedge_actors", *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m kubeedge_actors ARGS`` run to its end, its output captured."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "kubeedge_actors", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def read_until(process: subprocess.Popen[str], marker: str, timeout_s: float = 60) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if marker in line:
            return lines
    raise AssertionError(f"{marker!r} not printed; got:\n{''.join(lines)}")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Path]:
    shutil.copytree(REPO / "conf", tmp_path / "conf")
    yield tmp_path


@pytest.mark.parametrize(
    "stop_signal", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT], ids=["ctrl-c", "sigterm", "terminal-closed", "sigquit"]
)
def test_the_edge_starts_with_the_shipped_conf_reports_its_modules_and_stops_cleanly(site: Path, stop_signal: int) -> None:
    process = start_edge(site)
    try:
        started = read_until(process, "runtime: running")

        process.send_signal(stop_signal)
        out, _ = process.communicate(timeout=60)
    finally:
        process.kill()

    assert process.returncode == 0, out
    assert "runtime: stopped" in out
    assert f"configuration from {site}" in "".join(started)


def test_a_bad_config_exits_non_zero_with_one_clear_line(site: Path) -> None:
    (site / "conf" / "edge.yaml").write_text("mqtt:\n  mode: seven\n")

    result = run_cli(site)

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "kubeedge-actors: configuration error: conf/edge.yaml:2: mqtt.mode must be an integer, not 'seven'"
    ]


def test_a_missing_config_dir_named_on_the_command_line_is_an_error(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "--config-dir", str(tmp_path / "nope"))

    assert result.returncode == 2
    assert "does not exist" in result.stderr


@pytest.mark.parametrize(
    ("program", "files"),
    [("kubeedge_actors", ("edge.yaml", "modules.yaml", "logging.yaml")), ("kubeedge_cloud", ("cloudhub.yaml",))],
    ids=["edge", "cloud"],
)
def test_print_default_config_prints_every_file_the_program_ships(program: str, files: tuple[str, ...]) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    result = subprocess.run([sys.executable, "-m", program, "--print-default-config"], env=env, capture_output=True, text=True, timeout=60)

    assert result.returncode == 0
    assert result.stdout.count("# ==> conf/") == len(files)
    for name in files:
        assert f"# ==> conf/{name} <==" in result.stdout
        assert (REPO / "conf" / name).read_text() in result.stdout


def test_without_conf_folder_the_built_in_defaults_are_used(tmp_path: Path) -> None:
    process = start_edge(tmp_path, "--log-level", "debug")
    try:
        lines = read_until(process, "runtime: running")
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)
    finally:
        process.kill()

    assert any("no ./conf here, using built-in defaults" in line for line in lines)
    assert process.returncode == 0
