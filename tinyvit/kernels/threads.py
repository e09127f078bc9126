"""parallel_for: split a range of work items over threads that run a GIL-free Numba kernel each."""

from __future__ import annotations

import threading

import numba

# Why not numba's parallel=True? On this code it made compilation 5-10x slower (a parallel
# loop re-optimises every kernel it calls: +4 s for the GEMM alone), which missed the 20 s
# budget for compiling everything. The kernels are instead serial functions compiled with
# nogil=True, and plain Python threads call them on disjoint slices of the work: the same
# fork-join a parallel loop does, and NumPy-free while it runs, so the threads really overlap.
#
# Why not concurrent.futures? A fork-join through its queue and futures cost ~90 us on this
# machine, more than a whole small kernel; the two semaphores per worker below cost ~25 us
# (mostly the OS waking a sleeping thread), so small models gain from threads too.


class _Worker:
    """A thread that sleeps until given a slice of work, runs it, and signals that it is done."""

    def __init__(self) -> None:
        self.job: tuple | None = None
        self.error: BaseException | None = None
        self.go = threading.Semaphore(0)
        self.done = threading.Semaphore(0)
        threading.Thread(target=self._loop, daemon=True, name="tinyvit-worker").start()

    def _loop(self) -> None:
        while True:
            self.go.acquire()
            kernel, args = self.job
            try:
                kernel(*args)
            except BaseException as e:  # handed to the calling thread, which re-raises it
                self.error = e
            self.job = None
            self.done.release()

    def start(self, kernel, *args) -> None:
        self.job = (kernel, args)
        self.go.release()

    def join(self) -> BaseException | None:
        """Wait for the slice to finish; returns the exception it raised, if any."""
        self.done.acquire()
        error, self.error = self.error, None
        return error


# Below this much work per thread (about 20 us: multiply-adds, or elements of a memory pass)
# waking another thread costs more than it saves.
MIN_WORK_PER_THREAD = 1 << 16

_workers: list[_Worker] = []
_lock = threading.Lock()


def num_threads() -> int:
    """Numba's thread count: NUMBA_NUM_THREADS, or numba.set_num_threads(), or the core count."""
    return numba.get_num_threads()


def parallel_for(kernel, count: int, *args, work: int | None = None) -> None:
    """Run kernel(start, stop, *args) on contiguous slices of range(count), one per thread.

    `work` is a rough count of the operations of all items together: each thread gets at least
    MIN_WORK_PER_THREAD of it, or fewer threads run. The calling thread takes the last slice
    itself, so one thread needs no hand-off at all. Calls from several Python threads at once
    are serialised.
    """
    threads = min(num_threads(), count)
    if work is not None:
        threads = min(threads, work // MIN_WORK_PER_THREAD)
    threads = max(threads, 1)
    if threads == 1:
        kernel(0, count, *args)
        return
    with _lock:
        while len(_workers) < threads - 1:
            _workers.append(_Worker())
        bounds = [count * t // threads for t in range(threads + 1)]
        for t in range(threads - 1):
            _workers[t].start(kernel, bounds[t], bounds[t + 1], *args)
        try:
            kernel(bounds[-2], bounds[-1], *args)
        finally:   # every worker is waited for, even when a slice failed, before anything is raised
            errors = [_workers[t].join() for t in range(threads - 1)]
        for error in errors:
            if error is not None:
                raise error
