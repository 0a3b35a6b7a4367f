"""Keep freed heap memory for reuse while timing on CPU (glibc's malloc only).

glibc serves every allocation above its mmap threshold (32 MiB at most) with a fresh `mmap`
and unmaps it on free, so every forward of a video model page-faults and zero-fills its
large early activations again: on the 2-core development VM that doubled the time of X3D's
stem and res2 (BENCHMARKS.md). jemalloc and tcmalloc, the allocators PyTorch's CPU
performance guide recommends, keep such memory; `retain_freed_memory` gets the same from
glibc itself with `mallopt` (no mmap, no trimming) inside a `with` block, then restores
glibc's defaults and hands the memory back (`malloc_trim`).
"""

import contextlib
import ctypes
import ctypes.util
import functools
import sys
from typing import Iterator, Optional

# mallopt parameters (malloc.h) and glibc's default values for them.
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_DEFAULT_TRIM_THRESHOLD = 128 * 1024
_DEFAULT_MMAP_MAX = 65536
_NEVER_TRIM = 2**31 - 1


@functools.lru_cache(maxsize=None)
def _glibc() -> Optional[ctypes.CDLL]:
    """The C library when it is glibc (it has `mallopt` and `malloc_trim`), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def return_freed_memory() -> bool:
    """Hand freed heap memory back to the OS (`malloc_trim`); False where glibc is absent."""
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


@contextlib.contextmanager
def retain_freed_memory(enabled: bool = True) -> Iterator[bool]:
    """Inside the block, freed memory stays in the heap for the next allocation.

    Yields whether the setting is in effect (False when disabled or not on glibc). The
    process's resident memory only grows inside the block, so measure peak memory outside.
    """
    libc = _glibc() if enabled else None
    applied = (libc is not None and libc.mallopt(_M_MMAP_MAX, 0) == 1
               and libc.mallopt(_M_TRIM_THRESHOLD, _NEVER_TRIM) == 1)
    try:
        yield applied
    finally:
        if libc is not None:
            libc.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
            libc.mallopt(_M_TRIM_THRESHOLD, _DEFAULT_TRIM_THRESHOLD)
            libc.malloc_trim(0)
