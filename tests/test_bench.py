"""The benchmark's timing loop: how many steps it times (a fake clock, so no test depends on speed)."""

from __future__ import annotations

import pytest

from tinyvit import bench


@pytest.fixture
def clock(monkeypatch):
    """bench's time.perf_counter replaced by a clock that only moves when a step says so."""
    now = [0.0]
    monkeypatch.setattr(bench.time, "perf_counter", lambda: now[0])
    return now


def step_of(clock, seconds):
    def step():
        clock[0] += seconds
    return step


def test_timed_runs_the_warmup_untimed_then_at_least_steps(clock):
    calls = []
    half_second = step_of(clock, 0.5)

    def step():
        calls.append(clock[0])
        half_second()

    times = bench._timed(step, warmup=2, steps=5)
    assert len(calls) == 7 and times == [0.5] * 5


def test_timed_goes_on_until_min_seconds(clock):
    assert len(bench._timed(step_of(clock, 0.01), warmup=0, steps=5, min_seconds=1.0)) == 100
    assert len(bench._timed(step_of(clock, 0.3), warmup=0, steps=5, min_seconds=1.0)) == 5   # 1.5 s already


def test_timed_stops_at_max_steps(clock):
    times = bench._timed(step_of(clock, 0.0), warmup=0, steps=5, min_seconds=1.0)
    assert len(times) == bench.MAX_STEPS


def test_rounds_pool_their_steps():
    def result(times):
        return {"train": bench._rate(times), "infer": bench._rate(times), "peak_mb": 100.0}

    merged = bench._merge_rounds([result([1.0, 1.0, 1.0]), result([2.0, 2.0])])
    assert merged["train"]["seconds"] == 1.0 and len(merged["infer"]["times"]) == 5
    assert merged["train"]["median"] == bench.BATCH / 1.0
