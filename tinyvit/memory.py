"""Keep freed memory for reuse: a training step allocates the same large arrays every time.

glibc's malloc hands out every block over its mmap threshold (128 KB to start with) as fresh
pages from the OS and gives them back on free. The next step's array of the same size then
page-faults on each of its 4 KB pages before it can be written: on this 2-core machine that was
almost half the time of a digits forward pass (43 ms -> 23 ms with the settings below). Raising
the mmap threshold and the trim threshold makes malloc keep freed blocks in its heap, so the
next step reuses memory that is already mapped, as PyTorch's caching allocator does on a GPU.

One more setting keeps every thread on malloc's main heap. glibc gives each further thread an
arena of its own, made of 64 MB heaps that are unmapped as soon as they lie empty, whatever the
trim threshold says. A worker thread that runs a whole forward pass (ViT.predict on the numba
backend) needs more than 64 MB on mnist's shapes and page-faulted through 116 MB every call (a
batch of 256: 207 ms instead of 147). One arena for all threads costs a lock that NumPy's few
large allocations hardly meet.

This changes malloc for the whole process, once, and only on glibc (Linux); elsewhere it does
nothing. Set TINYVIT_KEEP_MEMORY=0 to leave malloc alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

# mallopt parameters, from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
_MMAP_THRESHOLD = 32 << 20     # glibc's largest allowed value: arrays up to 32 MB come from the heap
_TRIM_THRESHOLD = 1 << 30      # give memory back to the OS only when 1 GB lies free at the top

_done = False


def keep_freed_memory() -> bool:
    """Tune glibc's malloc as described above (once per process). Returns whether it did."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux") or os.environ.get("TINYVIT_KEEP_MEMORY", "1") == "0":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, ...): nothing to tune
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _done = all(mallopt(param, value) for param, value in (
        (_M_MMAP_THRESHOLD, _MMAP_THRESHOLD), (_M_TRIM_THRESHOLD, _TRIM_THRESHOLD), (_M_ARENA_MAX, 1)))
    return _done
