"""What a long-running program does to hold no more memory than it uses (glibc's allocator).

Both are no-ops where the C library is not glibc (musl, macOS): there is nothing to tune.
"""

from __future__ import annotations

import ctypes
import gc
import logging

logger = logging.getLogger(__name__)

_M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)


def _glibc() -> ctypes.CDLL | None:
    libc = ctypes.CDLL(None)  # the symbols the process has loaded, the C library's among them
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


def limit_malloc_arenas(count: int) -> None:
    """Let the C allocator keep at most ``count`` arenas for all threads.

    glibc gives threads that allocate at the same time arenas of their own (up to 8 per core),
    each holding freed memory for its thread; the edge's threads are mostly idle and take the
    GIL to allocate anyway. Call it before the threads start (MALLOC_ARENA_MAX, from inside).
    """
    libc = _glibc()
    if libc is not None and not libc.mallopt(_M_ARENA_MAX, count):
        logger.debug("memory: mallopt refused an arena limit of %d", count)


def release_free_memory() -> None:
    """Collect garbage, then hand the C heap's free pages back to the system.

    After start the garbage of start-up (compiling modules, parsing the configuration) leaves
    free memory at the top and inside the heap that glibc keeps until ``malloc_trim``.
    """
    gc.collect()
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


__all__ = ["limit_malloc_arenas", "release_free_memory"]
