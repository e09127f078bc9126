"""parallel_for: split a range of work items over threads that run a GIL-free Numba kernel each."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numba

# Why not numba's parallel=True? On this code it made compilation 5-10x slower (a parallel
# loop re-optimises every kernel it calls, ~20 s for the GEMM alone), which missed the 20 s
# budget for compiling everything. The kernels are instead serial functions compiled with
# nogil=True, and plain Python threads call them on disjoint slices of the work: the same
# fork-join a parallel loop does, and NumPy-free while it runs, so the threads really overlap.

_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_lock = threading.Lock()


def num_threads() -> int:
    """Numba's thread count: NUMBA_NUM_THREADS, or numba.set_num_threads(), or the core count."""
    return numba.get_num_threads()


def _get_pool(workers: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size != workers:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tinyvit")
            _pool_size = workers
        return _pool


def parallel_for(kernel, count: int, *args) -> None:
    """Run kernel(start, stop, *args) on contiguous slices of range(count), one per thread.

    The calling thread takes the last slice itself, so one thread needs no hand-off at all.
    """
    threads = min(num_threads(), count)
    if threads <= 1:
        kernel(0, count, *args)
        return
    bounds = [count * t // threads for t in range(threads + 1)]
    pool = _get_pool(threads - 1)
    futures = [pool.submit(kernel, bounds[t], bounds[t + 1], *args) for t in range(threads - 1)]
    kernel(bounds[-2], bounds[-1], *args)
    for future in futures:
        future.result()
