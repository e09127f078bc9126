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


def test_backends_alternate_their_order_from_round_to_round():
    assert bench._round_order(["numba", "torch"], 0) == ["numba", "torch"]
    assert bench._round_order(["numba", "torch"], 1) == ["torch", "numba"]
    assert bench._round_order(["numpy", "numba", "torch"], 3) == ["torch", "numba", "numpy"]


def _result(images_per_s: float) -> dict:
    times = [bench.BATCH / images_per_s] * 5
    return {"train": bench._rate(times), "infer": bench._rate(times), "peak_mb": 100.0, "threads": {"numba": 2}}


def test_ratios_are_taken_round_by_round():
    # Each round's ratio comes from that round's pair alone: round 2 ran on a machine twice as
    # slow for both backends, and a is still 1.25x b there.
    runs = {("digits", "a"): [_result(1000), _result(1000), _result(500)],
            ("digits", "b"): [_result(800), _result(800), _result(400)]}
    assert bench._paired_ratios(runs, "digits", "a", "b", "train") == pytest.approx([1.25, 1.25, 1.25])
    runs["digits", "b"][1] = _result(400)
    assert bench._paired_ratios(runs, "digits", "a", "b", "infer") == pytest.approx([1.25, 2.5, 1.25])


def test_main_pairs_the_backends_of_each_round(monkeypatch, capsys):
    spawned = []

    def fake_spawn(job, env):
        if job["kind"] == "sgemm":
            return {"gflops": 100.0}, 1.0
        if job["steps"] == 1:                                # the compile-ahead run
            return _result(1.0), 1.0
        r = sum(1 for j in spawned if j == (job["config"], job["backend"]))
        spawned.append((job["config"], job["backend"]))
        speed = 1.0 if r != 1 else 0.25                      # round 1: a slow spell for both
        return _result(speed * (1000 if job["backend"] == "numba" else 800)), 1.0

    monkeypatch.setattr(bench, "_spawn", fake_spawn)
    monkeypatch.setattr(bench, "_torch_available", lambda: True)
    assert bench.main(["--quick", "--backends", "numba,torch", "--rounds", "3"]) == 0
    assert spawned == [("digits", "numba"), ("digits", "torch"), ("digits", "torch"), ("digits", "numba"),
                       ("digits", "numba"), ("digits", "torch")]
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("digits") and " numba " in line)
    assert row.split()[-2:] == ["1.25x", "1.25x"]
    assert "digits      numba / torch: train 1.25 1.25 1.25 (median 1.25x)" in out


def test_each_measurements_round_trip_is_printed(capsys):
    runs = {("digits", b): [dict(_result(1000), round_trip_ns=t) for t in trips]
            for b, trips in (("numba", [95.2, 412.0]), ("torch", [101.0, None]))}
    bench._report_round_trips(runs, ["digits"], ["numba", "torch"])
    assert "  digits      numba 95 412; torch 101 -" in capsys.readouterr().out
    bench._report_round_trips({("digits", "numba"): [_result(1000)]}, ["digits"], ["numba"])   # none measured
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("flag,value,message", [
    ("--threads", "0", "expected a number >= 1, got 0"), ("--rounds", "-3", "expected a number >= 1, got -3"),
    ("--steps", "many", "expected a whole number"), ("--min-seconds", "-1", "expected a finite number >= 0"),
])
def test_wrong_numbers_are_usage_errors(capsys, flag, value, message):
    with pytest.raises(SystemExit) as exit_info:
        bench.main([flag, value])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
