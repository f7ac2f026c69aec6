"""kubeedge_actors.memory against the real glibc of this machine."""

from __future__ import annotations

import gc
import subprocess
import sys
import weakref
from pathlib import Path

import pytest

from kubeedge_actors.memory import release_free_memory

ROOT = Path(__file__).resolve().parents[2]

#: Four threads that each allocate from malloc, then how many arenas (64 MiB-aligned anonymous
#: heaps, glibc's HEAP_MAX_SIZE) appeared.
THREAD_ARENAS = """
import sys, threading
from kubeedge_actors.memory import limit_malloc_arenas
if sys.argv[1] != "unlimited":
    limit_malloc_arenas(int(sys.argv[1]))
def arenas():
    heaps = 0
    for line in open("/proc/self/maps"):
        fields = line.split()
        if len(fields) == 5 and fields[1] == "rw-p" and int(fields[0].split("-")[0], 16) % (64 << 20) == 0:
            heaps += 1
    return heaps
before, kept, barrier = arenas(), [], threading.Barrier(4)
def allocate():
    barrier.wait()
    kept.append(bytes(50_000))  # over pymalloc's 512 bytes: from malloc, in the thread's arena
threads = [threading.Thread(target=allocate) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(arenas() - before)
"""


@pytest.mark.parametrize(("limit", "new_arenas"), [("unlimited", 4), ("1", 0), ("2", 1)], ids=["glibc's default", "one", "two"])
def test_an_arena_limit_keeps_threads_from_each_taking_an_arena_of_their_own(limit: str, new_arenas: int) -> None:
    command = [sys.executable, "-c", THREAD_ARENAS, limit]

    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 0, result.stderr
    assert int(result.stdout) == new_arenas


class _Node:
    def __init__(self) -> None:
        self.me = self


def test_releasing_free_memory_collects_garbage_cycles() -> None:
    gc.disable()
    try:
        cycle = _Node()
        alive = weakref.ref(cycle)
        del cycle

        release_free_memory()

        assert alive() is None
    finally:
        gc.enable()
