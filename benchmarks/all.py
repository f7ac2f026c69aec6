"""Every benchmark in benchmarks/, each in its own process, then one table.

``python benchmarks/all.py [name ...]`` runs router, meta, twin, pods, link, broker, footprint,
stop, streams, mapper and cloud (or the ones named), one after the other so they do not measure each other, and prints:

- the machine (date, ``nproc``, memory, CPU model, Python version), for the README;
- a Markdown table: benchmark, its ``key=value`` figures (its own last line), wall time;
- one last line of ``key=value`` figures: every figure as ``<benchmark>.<key>``, then
  ``failed`` (how many benchmarks did not end with figures) and ``wall_s``.

A benchmark's own output goes to stderr as it runs. Exit code 1 if any failed.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ("router", "meta", "twin", "pods", "link", "broker", "footprint", "stop", "streams", "mapper", "cloud")
_FIGURE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=\S+$")


def machine() -> str:
    """``date, N CPUs (model), M GiB, Python x.y.z`` from /proc and the interpreter."""
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
        platform.processor() or "unknown CPU",
    )
    mem_kib = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal:")))
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    return f"{date}, nproc {os.cpu_count()} ({model}), {mem_kib / 1024**2:.1f} GiB memory, Python {platform.python_version()}"


def figures_of(output: str) -> dict[str, str]:
    """The benchmark's last line, when every word on it is ``key=value``."""
    lines = [line for line in output.splitlines() if line.strip()]
    if not lines:
        return {}
    words = lines[-1].split()
    if not words or not all(_FIGURE.match(word) for word in words):
        return {}
    return dict(word.split("=", 1) for word in words)


def run(name: str) -> tuple[dict[str, str], float, int]:
    """Run one benchmark; its output is echoed to stderr as it comes."""
    print(f"==> {name}", file=sys.stderr, flush=True)
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, str(HERE / f"{name}.py")], cwd=HERE.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    output = []
    for line in process.stdout:
        output.append(line)
        sys.stderr.write(line)
    code = process.wait()
    return figures_of("".join(output)), time.monotonic() - started, code


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    started = time.monotonic()
    results = [(name, *run(name)) for name in names]
    total = time.monotonic() - started

    print(f"Machine: {machine()}")
    print()
    print("| benchmark | figures | wall |")
    print("|---|---|---|")
    failed = 0
    for name, figures, wall_s, code in results:
        if figures and code == 0:
            shown = " ".join(f"`{key}={value}`" for key, value in figures.items())
        else:
            failed += 1
            shown = f"failed (exit code {code})" + (": " + " ".join(f"`{k}={v}`" for k, v in figures.items()) if figures else "")
        print(f"| `{name}.py` | {shown} | {wall_s:.0f} s |")
    print()
    line = [f"{name}.{key}={value}" for name, figures, _wall, _code in results for key, value in figures.items()]
    print(" ".join([*line, f"failed={failed}", f"wall_s={total:.0f}"]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
