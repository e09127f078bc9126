"""parallel_for: split a range of work items over threads that run a GIL-free Numba kernel each."""

from __future__ import annotations

import functools
import itertools
import os
import threading
import time

import numba
import numpy as np
from numba.core import config

from tinyvit.errors import TinyViTError
from tinyvit.kernels.intrinsics import load_acquire, store_release
from tinyvit.kernels.jit import kernel

# Why not numba's parallel=True? On this code it made compilation 5-10x slower (a parallel
# loop re-optimises every kernel it calls: +4 s for the GEMM alone), which missed the 20 s
# budget for compiling everything. The kernels are instead serial functions compiled with
# nogil=True, and plain Python threads call them on disjoint slices of the work: the same
# fork-join a parallel loop does, and NumPy-free while it runs, so the threads really overlap.
#
# Why do the threads spin? Handing work to a thread that sleeps means the OS must wake it,
# and on this virtual machine that took 60 us after a busy moment and 250 us after 5 ms of
# idleness, longer than many kernels (a digits layer takes ~500 us). So, like an OpenMP
# runtime, a worker that finishes polls a flag for a while (without the GIL, inside a Numba
# kernel) before it goes to sleep, and the caller polls for the workers to finish.
#
# Why does a worker that sees a job wait a moment before it starts? To start, it needs the
# GIL (to call the kernel from Python), and the caller still holds it for a few microseconds
# after handing the job over: until it is inside its own first chunk. A thread that asks for a
# GIL that is held is put to sleep by CPython until it is released, and then woken by the OS:
# the slow wake-up again (the worker started its first chunk ~20 us after the caller did). So
# the worker polls on for about 2 us (LINGER), and then finds the GIL free. A digits forward
# pass, with some thirty parallel_for calls that use both threads, went from 8.1 to 7.3 ms
# (medians of six processes each).
#
# Why hand out chunks instead of one slice per thread? On a shared machine one core is often
# slower than the other for a while (here: the same GEMM took 28 ms on one core and 45 ms on
# the other, changing by the second), and with equal slices every kernel waits for the slower
# one. With a few chunks per thread, taken in turn from a shared counter, the faster thread
# simply takes more of them; a worker that is slow to wake up costs nothing either.
#
# Why only two? Each chunk is a Python call that needs the GIL, ~1 us, and ~3 us when the host
# has put our two cores far apart (a cache line then takes ~400 ns to cross instead of ~100).
# Two per thread made small models' inference faster than four: digits and mnist by 1.5-2.5 %,
# digits by ~7 % at such far-apart moments; cifar-tiny alike; eight was slower than four.

SPIN = 0 if config.DISABLE_JIT else 2_000_000   # polls before sleeping, ~1 ms (plain Python: none)
LINGER = 0 if config.DISABLE_JIT else 20_000    # polls after a job arrives, ~2 us (see above)
CHUNKS_PER_THREAD = 2

# A reduction that keeps one partial result per piece of its range (LayerNorm's dgamma, the weight
# gradient's partial products) cuts it into parts (part_count), PARTS_PER_THREAD a thread, and
# runs one parallel_for item per part. The parts decide how its sums round; the chunks only who
# computes what, so CHUNKS_PER_THREAD can be tuned without moving any result.
PARTS_PER_THREAD = 4

# Below this much work per thread, handing work to another thread costs more than it saves.
# `work` is each caller's rough count of operations, so its time varies by kernel: 1 << 16 is
# ~1.5 us of the GEMM's multiply-adds, ~10 us of LayerNorm's passes (measured on one thread).
# Raising it did not speed up a digits forward pass, and the part counts it sets decide how
# LayerNorm's dgamma and the weight gradient's partial sums round: a change moves every result.
MIN_WORK_PER_THREAD = 1 << 16


@kernel
def _wait_for_change(flags, i, seen, polls, linger):
    """Poll flags[i] until it differs from `seen`, at most `polls` times; return its last value.

    Once it has changed, poll `linger` more times before returning: a pause with the GIL free.
    """
    value = load_acquire(flags, i)
    for _ in range(polls):
        if value != seen:
            break
        value = load_acquire(flags, i)
    if value != seen:
        for _ in range(linger):
            load_acquire(flags, i)
    return value


class _Worker:
    """A thread that waits for a job (its share of a parallel_for), runs it, and counts it done.

    flags[0] counts the jobs handed over, flags[1] the jobs finished: the caller waits
    until they are equal.
    """

    def __init__(self) -> None:
        self.job: tuple | None = None
        self.error: BaseException | None = None
        self.flags = np.zeros(2, dtype=np.int64)
        self.sleeping = False
        self.wake = threading.Semaphore(0)
        threading.Thread(target=self._loop, daemon=True, name="tinyvit-worker").start()

    def _loop(self) -> None:
        seen = 0
        while True:
            given = _wait_for_change(self.flags, 0, seen, SPIN, LINGER)
            if given == seen:                   # nothing came while polling: sleep until woken
                self.sleeping = True
                if self.flags[0] == seen:       # checked after saying so: a wake-up cannot be missed
                    self.wake.acquire()
                self.sleeping = False
                continue
            seen = given
            kernel, args = self.job
            try:
                kernel(*args)
            except BaseException as e:          # handed to the calling thread, which re-raises it
                self.error = e
            self.job = None
            self.flags[1] = seen

    def start(self, kernel, *args) -> None:
        self.job = (kernel, args)
        self.flags[0] += 1
        if self.sleeping:
            self.wake.release()

    def join(self) -> BaseException | None:
        """Wait for the job to finish; returns the exception it raised, if any."""
        given = self.flags[0]
        while _wait_for_change(self.flags, 1, given - 1, SPIN, 0) != given:
            time.sleep(50e-6)                   # a long job: stop burning the core
        error, self.error = self.error, None
        return error


_workers: list[_Worker] = []
_lock = threading.Lock()


def _forget_workers_after_fork() -> None:
    # A forked child has only the thread that forked: it must start workers of its own.
    global _lock
    _workers.clear()
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):   # POSIX only; Windows has no fork
    os.register_at_fork(after_in_child=_forget_workers_after_fork)


@kernel
def _pass_counter(flags, passes, parity):
    """`passes` times: wait until the counter flags[0] is this thread's next value, then add one."""
    for i in range(passes):
        target = 2 * i + parity
        while load_acquire(flags, 0) != target:
            pass
        store_release(flags, 0, target + 1)


def round_trip_ns(passes: int = 50_000) -> float | None:
    """The time a cache line takes to reach another core and come back, in ns: two threads hand
    a counter to each other. Every parallel_for hand-off pays it a few times. On this kind of
    virtual machine it reads ~100 ns at most moments, ~400 ns when the host has put our two
    vCPUs far apart (see the README). None where it cannot be measured: on one core (the threads
    would take turns on it) or under NUMBA_DISABLE_JIT (they would take turns on the GIL)."""
    if config.DISABLE_JIT or usable_cores() < 2:
        return None
    flags = np.zeros(1, dtype=np.int64)
    _pass_counter(flags, 0, 0)                                   # compiled (or loaded) before timing
    other = threading.Thread(target=_pass_counter, args=(flags, passes, 1), daemon=True)
    other.start()                                                # it waits for the first pass
    t = time.perf_counter()
    _pass_counter(flags, passes, 0)
    other.join()
    return (time.perf_counter() - t) / passes * 1e9


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def num_threads() -> int:
    """Numba's thread count: NUMBA_NUM_THREADS, or numba.set_num_threads(), or the core count."""
    try:
        return numba.get_num_threads()
    except ValueError as err:   # e.g. an unknown NUMBA_THREADING_LAYER: Numba starts its layer here
        layer = os.environ.get("NUMBA_THREADING_LAYER")
        where = f" (NUMBA_THREADING_LAYER={layer!r})" if layer else ""
        raise TinyViTError(f"Numba could not start its threads{where}: {err}") from None


def _chunk_count(count: int, threads: int, work: int | None, per_thread: int) -> int:
    """How many chunks to cut range(count) into (count >= threads > 1): `per_thread` per thread, a
    multiple of `threads` when possible (equal shares when the cores are equally fast), none
    smaller than MIN_WORK_PER_THREAD."""
    chunks = min(count, per_thread * threads)
    if work is not None:
        chunks = min(chunks, work // MIN_WORK_PER_THREAD)
    if chunks > threads:
        chunks -= chunks % threads
    return max(chunks, threads)


def _thread_count(count: int, work: int | None) -> int:
    threads = min(num_threads(), count)
    if work is not None:
        threads = min(threads, work // MIN_WORK_PER_THREAD)
    return max(threads, 1)


def part_count(count: int, work: int | None = None) -> int:
    """How many parts a reduction over range(count) keeps partial results for (see PARTS_PER_THREAD):
    one when parallel_for(kernel, count, ..., work=work) would run on one thread."""
    threads = _thread_count(count, work)
    return 1 if threads == 1 else _chunk_count(count, threads, work, PARTS_PER_THREAD)


def parallel_for(kernel, count: int, *args, work: int | None = None) -> None:
    """Run kernel(start, stop, *args) over contiguous chunks of range(count), on several threads.

    `work` is a rough count of the operations of all items together: each thread gets at least
    MIN_WORK_PER_THREAD of it, or fewer threads run. Each thread, the calling one included,
    takes the next chunk until none is left (see the note at the top). One thread needs no
    hand-off at all. Calls from several Python threads at once are serialised.
    """
    threads = _thread_count(count, work)
    if threads == 1:
        kernel(0, count, *args)
        return
    chunks = _chunk_count(count, threads, work, CHUNKS_PER_THREAD)   # read here: it may be tuned at run time
    bounds = [count * c // chunks for c in range(chunks + 1)]
    take = itertools.count().__next__   # atomic under the GIL: every chunk is taken exactly once

    def run_chunks() -> None:
        while (c := take()) < chunks:
            kernel(bounds[c], bounds[c + 1], *args)

    _fork_join([run_chunks] * threads)


def share_count(count: int) -> int:
    """How many shares map_shares cuts range(count) into: one a thread, or one under plain Python
    (NUMBA_DISABLE_JIT=1, where threads would only take turns on the GIL)."""
    return 1 if config.DISABLE_JIT else max(1, min(num_threads(), count))


def map_shares(fn, count: int) -> list:
    """[fn(share, start, stop) for each thread's contiguous share of range(count)], side by side.

    Each thread runs fn on its own share with Numba's thread count set to 1 for the call, so
    the kernels inside it run on that thread alone, with no parallel_for hand-offs. For work
    made of many short kernels, such as a forward pass (about a hundred kernel calls, each
    handed to both threads), the hand-offs become one. With one share: fn(0, 0, count).
    """
    shares = share_count(count)
    if shares == 1:
        return [fn(0, 0, count)]
    bounds = [count * t // shares for t in range(shares + 1)]
    results = [None] * shares

    def run(t: int) -> None:
        previous = numba.get_num_threads()
        numba.set_num_threads(1)   # for this thread only: Numba keeps the count per thread
        try:
            results[t] = fn(t, bounds[t], bounds[t + 1])
        finally:
            numba.set_num_threads(previous)

    _fork_join([functools.partial(run, t) for t in range(shares)])
    return results


def _fork_join(jobs: list) -> None:
    """Run jobs[0]() on the calling thread and jobs[1:] on workers; return when all have finished."""
    with _lock:
        while len(_workers) < len(jobs) - 1:
            _workers.append(_Worker())
        workers = _workers[:len(jobs) - 1]
        for worker, job in zip(workers, jobs[1:], strict=True):
            worker.start(job)
        try:
            jobs[0]()
        finally:   # every worker is waited for, even when a job failed, before anything is raised
            errors = [worker.join() for worker in workers]
        for error in errors:
            if error is not None:
                raise error
