"""Keep glibc's allocator from returning large blocks to the OS after every step.

A training step allocates and frees the same large tensors again and again. With glibc's defaults each block
above the mmap threshold is mmap'ed and munmap'ed, and freed heap tops are trimmed: the process then spends much
of its time in the kernel faulting the same pages back in (measured in issue #11: 35 s of 110 s of CPU at
B = 2048). The same effect as `GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=...`, applied
from inside the process with mallopt(3), so that `dpcgan` needs no wrapper. Memory then stays at its peak.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD = -1   # mallopt parameter numbers from glibc's malloc.h
M_MMAP_MAX = -4
_applied = False


def keep_freed_memory() -> bool:
    """mallopt(M_MMAP_MAX, 0) and mallopt(M_TRIM_THRESHOLD, 2^31 - 1) on glibc Linux; a no-op elsewhere or
    with DPCGAN_DEFAULT_MALLOC=1. Returns whether the settings are in effect. Idempotent."""
    global _applied
    if _applied:
        return True
    if not sys.platform.startswith("linux") or os.environ.get("DPCGAN_DEFAULT_MALLOC") == "1":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl or another libc: nothing to tune
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _applied = bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, 2**31 - 1))
    return _applied
