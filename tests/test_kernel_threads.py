"""kernels/threads.py: the fork-join that splits a kernel's work items over threads."""

import threading
import time

import numba
import numpy as np
import pytest

from tinyvit.kernels import threads
from tinyvit.kernels.threads import parallel_for


def _record(start, stop, owner, seen):
    for i in range(start, stop):
        owner[i] = start
        seen[i] += 1


def test_every_item_runs_once_in_contiguous_chunks(two_threads):
    owner, seen = np.full(10, -1), np.zeros(10, dtype=int)
    parallel_for(_record, 10, owner, seen)
    np.testing.assert_array_equal(seen, 1)
    chunks = 1 if two_threads == 1 else threads._chunk_count(10, two_threads, None, threads.CHUNKS_PER_THREAD)
    starts = [10 * c // chunks for c in range(chunks)]
    np.testing.assert_array_equal(owner, [max(s for s in starts if s <= i) for i in range(10)])


@pytest.mark.parametrize("count,work,per_thread,expected", [
    (87, None, 2, 4),                               # 2 chunks per thread
    (87, None, 4, 8),
    (5, None, 4, 4),                                # a multiple of the thread count when possible
    (3, None, 4, 2),
    (87, 3 * threads.MIN_WORK_PER_THREAD, 4, 2),    # no chunk smaller than MIN_WORK_PER_THREAD
])
def test_chunk_count(count, work, per_thread, expected):
    assert threads._chunk_count(count, 2, work, per_thread) == expected


def test_parts_do_not_follow_the_chunks(two_threads, monkeypatch):
    # The parts of a reduction decide how its sums round: tuning the scheduling must not move them.
    parts = threads.part_count(87)
    assert parts == (1 if two_threads == 1 else threads.PARTS_PER_THREAD * two_threads)
    monkeypatch.setattr(threads, "CHUNKS_PER_THREAD", 1)
    assert threads.part_count(87) == parts
    owner, seen = np.full(10, -1), np.zeros(10, dtype=int)      # while parallel_for follows the new value
    parallel_for(_record, 10, owner, seen)
    assert len(set(owner.tolist())) == two_threads


@pytest.mark.parametrize("linger", [0, 1000])
def test_wait_for_change_returns_the_new_value_or_the_old_one_when_none_came(linger):
    flags = np.array([5, 0], dtype=np.int64)
    assert threads._wait_for_change(flags, 0, 4, 10, linger) == 5      # changed already: the new value
    assert threads._wait_for_change(flags, 0, 5, 10, linger) == 5      # unchanged after 10 polls
    flags[1] = 7
    assert threads._wait_for_change(flags, 1, 0, 10, linger) == 7      # another slot


def _slow_first_chunk(start, stop, who):
    if start == 0:
        time.sleep(0.3)
    who[start:stop] = threading.get_ident()


def test_a_slow_thread_leaves_its_share_to_the_other(two_threads):
    # The thread that took chunk 0 is stuck in it; the other one takes every other chunk.
    if two_threads < 2:
        pytest.skip("needs two threads")
    who = np.zeros(8, dtype=np.int64)
    parallel_for(_slow_first_chunk, 8, who)
    first = 8 // threads._chunk_count(8, 2, None, threads.CHUNKS_PER_THREAD)   # the items of chunk 0
    assert len(set(who.tolist())) == 2
    assert who[0] not in who[first:]


def test_too_little_work_stays_on_one_thread(two_threads):
    owner, seen = np.full(10, -1), np.zeros(10, dtype=int)
    parallel_for(_record, 10, owner, seen, work=threads.MIN_WORK_PER_THREAD)
    np.testing.assert_array_equal(owner, 0)
    np.testing.assert_array_equal(seen, 1)


def _fail_first_slice(start, stop, seen):
    if start == 0:
        raise RuntimeError("slice 0 failed")
    seen[start:stop] += 1


def test_an_error_in_a_worker_reaches_the_caller_and_the_pool_recovers(two_threads):
    if two_threads < 2:
        pytest.skip("needs two threads")
    seen = np.zeros(4, dtype=int)
    with pytest.raises(RuntimeError, match="slice 0 failed"):
        parallel_for(_fail_first_slice, 4, seen)
    np.testing.assert_array_equal(seen, [0, 1, 1, 1])   # every other chunk still ran
    owner, seen = np.full(4, -1), np.zeros(4, dtype=int)
    parallel_for(_record, 4, owner, seen)               # the next call is not out of step
    np.testing.assert_array_equal(owner, [0, 1, 2, 3])


def _share_and_its_threads(share, start, stop):
    return start, stop, numba.get_num_threads(), threading.get_ident(), share


def test_map_shares_runs_one_share_per_thread_each_on_its_own(two_threads):
    shares = threads.map_shares(_share_and_its_threads, 7)
    bounds = [7 * t // two_threads for t in range(two_threads + 1)]
    assert [[a, b] for a, b, *_ in shares] == [bounds[t:t + 2] for t in range(two_threads)]   # in order
    assert [share[4] for share in shares] == list(range(two_threads))
    assert len({share[3] for share in shares}) == two_threads                     # each on its own thread
    assert all(share[2] == 1 for share in shares)          # kernels inside a share hand nothing on
    assert numba.get_num_threads() == two_threads          # ... and the caller's count comes back
    assert threads.map_shares(_share_and_its_threads, 1)[0][:2] == (0, 1)


def _fail_second_share(share, start, stop):
    if start > 0:
        raise RuntimeError("share 1 failed")


def test_an_error_in_a_share_reaches_the_caller_and_the_pool_recovers(two_threads):
    if two_threads < 2:
        pytest.skip("needs two threads")
    with pytest.raises(RuntimeError, match="share 1 failed"):
        threads.map_shares(_fail_second_share, 4)
    assert [share[:3] for share in threads.map_shares(_share_and_its_threads, 4)] == [(0, 2, 1), (2, 4, 1)]
    owner, seen = np.full(4, -1), np.zeros(4, dtype=int)
    parallel_for(_record, 4, owner, seen)               # parallel_for is not out of step either
    np.testing.assert_array_equal(owner, [0, 1, 2, 3])


def _child_runs_parallel_for(conn):
    owner, seen = np.full(4, -1), np.zeros(4, dtype=int)
    parallel_for(_record, 4, owner, seen)
    conn.send(seen.tolist())


def test_a_forked_child_starts_its_own_workers(two_threads):
    import multiprocessing

    parallel_for(_record, 4, np.full(4, -1), np.zeros(4, dtype=int))   # the parent's workers exist
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_child_runs_parallel_for, args=(child,))
    process.start()
    assert parent.poll(60), "parallel_for hung in a forked child"
    assert parent.recv() == [1, 1, 1, 1]
    process.join(10)


def test_two_threads_hand_a_counter_back_and_forth():
    flags = np.zeros(1, dtype=np.int64)
    other = threading.Thread(target=threads._pass_counter, args=(flags, 100, 1))
    other.start()
    threads._pass_counter(flags, 100, 0)
    other.join()
    assert flags[0] == 200                  # each thread added one 100 times, in turn


def test_round_trip_is_timed_in_nanoseconds():
    if numba.config.DISABLE_JIT or threads.usable_cores() < 2:
        assert threads.round_trip_ns() is None
        return
    ns = threads.round_trip_ns(2000)
    assert 1 < ns < 1e6                     # a cache line's trip, not a GIL hand-off (ms)
