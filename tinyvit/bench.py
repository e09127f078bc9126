"""Benchmark: train-step and inference speed of both backends (and PyTorch, if installed), one run.

    python -m tinyvit.bench                      # digits, mnist, cifar-tiny; numpy, numba, torch
    python -m tinyvit.bench --configs cifar-tiny --backends numba,torch --threads 2 --steps 7
    python -m tinyvit.bench --quick              # digits only, no compile-time measurement

Every (config, backend) runs in a fresh subprocess with the thread count set through the usual
environment variables (NUMBA_NUM_THREADS, OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, MKL_NUM_THREADS),
so its peak memory is its own. A train step is forward + cross-entropy + backward + AdamW over
every parameter; throughput is the median of the timed steps after warm-up, with min-max, and
a measurement times at least --steps steps and at least --min-seconds (1 s) of them. The
machine's ceiling is a float32 NumPy 2048 x 2048 matmul measured in the same run. Shared
machines are noisy: compare figures from one run only, and prefer --rounds: each round runs
the backends of a config back to back, so a ratio between two backends is taken per round,
where both saw the same machine, and the median of those ratios is reported. After each
measurement the two cores' round trip is timed (kernels/threads.py, round_trip_ns): a host that has
put the vCPUs far apart slows every hand-off between them, and shows there.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from tinyvit.cli import nonneg_float, positive_int

BATCH = 128
CONFIGS = {
    "digits": dict(image_size=8, patch_size=2, in_channels=1, dim=64, depth=4, heads=4, mlp_dim=128),
    "mnist": dict(image_size=28, patch_size=4, in_channels=1, dim=128, depth=6, heads=4, mlp_dim=256),
    "cifar-tiny": dict(image_size=32, patch_size=4, in_channels=3, dim=192, depth=6, heads=3, mlp_dim=768),
}
LR, WEIGHT_DECAY = 1e-3, 0.05


# ------------------------------------------------------------------------------------------ helpers
def _rss_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process in MB, from /proc (Linux); nan elsewhere."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _reset_peak() -> None:
    """Start VmHWM afresh from the current RSS (Linux 4.0+), so the peak counts the timed steps,
    not one-time costs of the warm-up (Numba loading its kernels, PyTorch's first-call set-up)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


MAX_STEPS = 1000   # however short a step, a measurement stops after this many


def _timed(fn, warmup: int, steps: int, min_seconds: float = 0.0) -> list[float]:
    """Times of at least `steps` calls of fn, after `warmup` untimed ones, going on until the
    timed calls add up to min_seconds: seven 9 ms inference steps are one 60 ms glimpse of a
    shared machine, and their median swung by a third from one process to the next."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    while len(times) < steps or (sum(times) < min_seconds and len(times) < MAX_STEPS):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def _rate(times: list[float]) -> dict:
    t = np.array(times)
    return {"median": BATCH / float(np.median(t)), "min": BATCH / float(t.max()), "max": BATCH / float(t.min()),
            "seconds": float(np.median(t)), "times": [float(v) for v in t]}


def _merge_rounds(rounds: list[dict]) -> dict:
    """One result from several rounds of the same job: the median over all their timed steps."""
    merged = dict(rounds[0])
    for kind in ("train", "infer"):
        merged[kind] = _rate([t for r in rounds for t in r[kind]["times"]])
    merged["peak_mb"] = float(np.median([r["peak_mb"] for r in rounds]))
    return merged


def _forward_flops(name: str) -> int:
    from tinyvit import ViTConfig
    from tinyvit.model.cost import forward_flops

    return forward_flops(ViTConfig(num_classes=10, backend="numpy", **CONFIGS[name]))


# ------------------------------------------------------------------------------------------ workers
def _sgemm(steps: int, min_seconds: float) -> dict:
    a = np.random.default_rng(0).random((2048, 2048), dtype=np.float32)
    times = _timed(lambda: a @ a, 2, max(steps, 5), min_seconds)
    return {"gflops": 2 * 2048**3 / float(np.median(times)) / 1e9}


def _tinyvit(name: str, backend: str, steps: int, warmup: int, min_seconds: float) -> dict:
    from tinyvit import ViT, ViTConfig
    from tinyvit.train.data_parallel import DataParallel, batch_gradients

    base = _rss_mb("VmRSS")
    model = ViT(ViTConfig(num_classes=10, backend=backend, **CONFIGS[name]))
    ops = model.ops
    c = model.config
    rng = np.random.default_rng(0)
    x = rng.random((BATCH, c.image_size, c.image_size, c.in_channels), dtype=np.float32)
    y = rng.integers(0, 10, BATCH)
    state = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in model.params.items()}
    step = [0]

    whole_batch = functools.partial(batch_gradients, model)   # each numba kernel splits its own work
    data_parallel = DataParallel(model)   # the batch split over the threads, as the trainer runs it

    def train_step(gradients=data_parallel.gradients):
        gradients(x, y)
        step[0] += 1
        for k, p in model.params.items():
            ops.adamw_update(p, model.grads[k], *state[k], step=step[0], lr=LR, weight_decay=WEIGHT_DECAY)

    _timed(train_step, warmup, 0)
    _reset_peak()
    train = _timed(train_step, 0, steps, min_seconds)
    peak = _rss_mb("VmHWM") - base                       # of the train steps, before inference
    infer = _timed(lambda: model.predict(x), warmup, steps, min_seconds)   # as PyTorch under no_grad()
    result = {"train": _rate(train), "infer": _rate(infer), "peak_mb": peak, "round_trip_ns": _round_trip(),
              "breakdown": _breakdown(model, lambda: train_step(whole_batch)), "threads": _threads()}
    if backend == "numba":
        from tinyvit.kernels import linear

        D, M, K = c.dim, c.mlp_dim, c.num_classes
        names = {(c.patch_dim, D): "patch_embed", (D, 3 * D): "qkv", (D, D): "proj", (D, M): "fc1", (M, D): "fc2",
                 (D, K): "head"}
        result["paths"] = {f"{names.get((i, o), f'{i}x{o}')} {kind}": path
                           for (kind, i, o), path in sorted(linear.PATHS.items())}
    return result


def _breakdown(model, train_step) -> dict:
    """Milliseconds per operation over one train step (the rest is Python glue and NumPy moves). The
    step runs on the whole batch: split over the threads, the operations' times would overlap."""
    from types import SimpleNamespace

    plain = model.ops
    totals: dict[str, float] = {}

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            out = fn(*args, **kwargs)
            totals[name] = totals.get(name, 0.0) + (time.perf_counter() - t) * 1e3
            return out
        return wrapper

    model.ops = SimpleNamespace(**{k: (timed(k, v) if callable(v) else v) for k, v in vars(plain).items()})
    t = time.perf_counter()
    try:
        train_step()
    finally:
        model.ops = plain
    totals["total"] = (time.perf_counter() - t) * 1e3
    totals["other (glue, dropout, residual, patchify, ...)"] = totals["total"] - sum(
        v for k, v in totals.items() if k != "total")
    return totals


def _round_trip() -> float | None:
    """The cores' round trip right now (kernels/threads.py, round_trip_ns); None on one core or
    without Numba (it times compiled code)."""
    try:
        from tinyvit.kernels.threads import round_trip_ns
    except ImportError:
        return None
    return round_trip_ns()


def _threads() -> dict:
    info = {}
    try:
        import numba

        info["numba"] = numba.get_num_threads()
    except ImportError:
        pass
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = max((p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"), default=None)
    except ImportError:
        pass
    return info


def _torch(name: str, steps: int, warmup: int, threads: int, min_seconds: float) -> dict:
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    cfg = CONFIGS[name]
    D, H, M = cfg["dim"], cfg["heads"], cfg["mlp_dim"]

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm1, self.norm2 = nn.LayerNorm(D, eps=1e-6), nn.LayerNorm(D, eps=1e-6)
            self.attn = nn.MultiheadAttention(D, H, batch_first=True)
            self.mlp = nn.Sequential(nn.Linear(D, M), nn.GELU(), nn.Linear(M, D))   # exact (erf) GELU

        def forward(self, x):
            h = self.norm1(x)
            x = x + self.attn(h, h, h, need_weights=False)[0]
            return x + self.mlp(self.norm2(x))

    class TorchViT(nn.Module):
        def __init__(self):
            super().__init__()
            P, C = cfg["patch_size"], cfg["in_channels"]
            n = (cfg["image_size"] // P) ** 2
            self.embed = nn.Conv2d(C, D, P, P)
            self.cls = nn.Parameter(torch.zeros(1, 1, D))
            self.pos = nn.Parameter(torch.randn(1, n + 1, D) * 0.02)
            self.blocks = nn.Sequential(*[Block() for _ in range(cfg["depth"])])
            self.norm, self.head = nn.LayerNorm(D, eps=1e-6), nn.Linear(D, 10)

        def forward(self, x):
            x = self.embed(x).flatten(2).transpose(1, 2)
            x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1) + self.pos
            return self.head(self.norm(self.blocks(x))[:, 0])

    base = _rss_mb("VmRSS")
    model = TorchViT()
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    x = torch.rand(BATCH, cfg["in_channels"], cfg["image_size"], cfg["image_size"])
    y = torch.randint(0, 10, (BATCH,))

    def train_step():
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    _timed(train_step, warmup, 0)
    _reset_peak()
    train = _timed(train_step, 0, steps, min_seconds)
    peak = _rss_mb("VmHWM") - base
    model.eval()
    with torch.no_grad():
        infer = _timed(lambda: model(x), warmup, steps, min_seconds)
    return {"train": _rate(train), "infer": _rate(infer), "peak_mb": peak, "round_trip_ns": _round_trip(),
            "threads": {"torch": torch.get_num_threads(), **_threads()}, "version": torch.__version__}


def _worker(job: dict) -> dict:
    if job["kind"] == "sgemm":
        return _sgemm(job["steps"], job["min_seconds"])
    if job["kind"] == "first-step":
        return _first_step()
    if job["backend"] == "torch":
        return _torch(job["config"], job["steps"], job["warmup"], job["threads"], job["min_seconds"])
    return _tinyvit(job["config"], job["backend"], job["steps"], job["warmup"], job["min_seconds"])


def _first_step() -> dict:
    """One float32 train step of a small model that uses every kernel: the compile (or cache-load) cost."""
    from tinyvit import ViT, ViTConfig
    from tinyvit.train.data_parallel import batch_gradients

    t = time.perf_counter()
    for gelu in ("erf",):
        m = ViT(ViTConfig(image_size=8, patch_size=2, in_channels=1, num_classes=10, dim=64, depth=1, heads=4,
                          mlp_dim=128, gelu=gelu, backend="numba"))
        x = np.random.default_rng(0).random((32, 8, 8, 1), dtype=np.float32)
        batch_gradients(m, x, np.zeros(32, dtype=np.int64))
        for k, p in m.params.items():
            m.ops.adamw_update(p, m.grads[k], np.zeros_like(p), np.zeros_like(p), step=1, lr=LR)
    return {"step_seconds": time.perf_counter() - t}


# ------------------------------------------------------------------------------------------ driver
def _spawn(job: dict, env: dict) -> tuple[dict, float]:
    """Run one job in a fresh interpreter; returns its result and the wall time from launch to exit."""
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "tinyvit.bench", "--worker", json.dumps(job)],
                         capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if out.returncode != 0:
        raise RuntimeError(f"benchmark worker {job} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1]), wall


def _env(threads: int, **extra) -> dict:
    env = dict(os.environ, **extra)
    for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = here + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _torch_available() -> bool:
    try:
        import importlib.util

        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tinyvit.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default=None, help="comma-separated: " + ", ".join(CONFIGS))
    parser.add_argument("--backends", default="numpy,numba,torch", help="comma-separated: numpy, numba, torch")
    parser.add_argument("--threads", type=positive_int, default=2)
    parser.add_argument("--steps", type=positive_int, default=7, help="timed steps per measurement (at least 5)")
    parser.add_argument("--min-seconds", type=nonneg_float, default=1.0,
                        help="time more steps than --steps until a measurement lasts this long "
                             f"(at most {MAX_STEPS} steps): short steps get as many as they need")
    parser.add_argument("--quick", action="store_true", help="digits only, 1 warm-up step, no compile timing")
    parser.add_argument("--rounds", type=positive_int, default=1,
                        help="run every measurement this many times, interleaved (the backends' order "
                             "alternating), and pool the steps: a burst of load from other machines then hits "
                             "every backend alike; a ratio between backends is the median of the per-round ratios")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(json.loads(args.worker))))
        return 0

    configs = (args.configs or ("digits" if args.quick else ",".join(CONFIGS))).split(",")
    backends = args.backends.split(",")
    steps, warmup = max(args.steps, 5), 1 if args.quick else 2
    unknown = [c for c in configs if c not in CONFIGS] + [b for b in backends if b not in ("numpy", "numba", "torch")]
    if unknown:
        parser.error(f"unknown config or backend: {', '.join(unknown)}")
    if "torch" in backends and not _torch_available():
        print("PyTorch is not installed: skipping the PyTorch comparison (pip install torch to include it).")
        backends.remove("torch")
    env = _env(args.threads)

    rounds = args.rounds
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if cores and args.threads > cores:
        print(f"warning: --threads {args.threads} is more than the {cores} cores this process may use: the "
              "threads take turns on them and every figure comes out low.\n")
    print(f"tinyvit benchmark: batch {BATCH}, float32, {args.threads} thread(s); each measurement: "
          f"{rounds} round(s) of at least {steps} steps and {args.min_seconds:g} s, each after {warmup} "
          f"warm-up; the median of all their steps (min-max); a ratio between backends is the median of "
          f"their per-round ratios\n")
    if "numba" in backends and not args.quick:
        with tempfile.TemporaryDirectory() as cache:
            cold, cold_wall = _spawn({"kind": "first-step"}, _env(args.threads, NUMBA_CACHE_DIR=cache))
            warm, warm_wall = _spawn({"kind": "first-step"}, _env(args.threads, NUMBA_CACHE_DIR=cache))
        print(f"compile: first run (empty cache) {cold['step_seconds']:.1f} s to the end of the first train step "
              f"({cold_wall:.1f} s with interpreter start); a later process {warm['step_seconds']:.2f} s "
              f"({warm_wall:.1f} s with interpreter start and imports)\n")
    # Compile the benchmark shapes' kernels into the normal cache before timing anything.
    if "numba" in backends:
        _spawn({"kind": "model", "config": configs[0], "backend": "numba", "steps": 1, "warmup": 1,
                "min_seconds": 0}, env)

    ceilings, runs = [], {(name, backend): [] for name in configs for backend in backends}
    for r in range(rounds):
        ceilings.append(_spawn({"kind": "sgemm", "steps": steps, "min_seconds": args.min_seconds}, env)[0]["gflops"])
        for name in configs:
            for backend in _round_order(backends, r):
                job = {"kind": "model", "config": name, "backend": backend, "steps": steps, "warmup": warmup,
                       "threads": args.threads, "min_seconds": args.min_seconds}
                runs[name, backend].append(_spawn(job, env)[0])
    sgemm = float(np.median(ceilings))
    print(f"ceiling: float32 NumPy matmul 2048x2048: {sgemm:.1f} GFLOP/s"
          + (f" (median of {rounds} rounds)" if rounds > 1 else "") + "\n")
    _report(runs, configs, backends, sgemm)
    return 0


def _round_order(backends: list[str], r: int) -> list[str]:
    """The order the backends of one config run in round r: reversed every other round, so that
    neither of two compared backends always runs first (right after the matmul, or another config)."""
    return list(backends) if r % 2 == 0 else list(reversed(backends))


def _paired_ratios(runs: dict, name: str, a: str, b: str, kind: str) -> list[float]:
    """a's throughput over b's, one ratio per round: the two ran back to back in that round, so a
    slow spell of a shared machine mostly hits both, and cancels out of their ratio."""
    return [ra[kind]["median"] / rb[kind]["median"] for ra, rb in zip(runs[name, a], runs[name, b], strict=True)]


def _report(runs, configs, backends, sgemm) -> None:
    """Print the table of every (config, backend)'s rounds, pooled (_merge_rounds). A ratio between
    two backends is the median of their per-round ratios (_paired_ratios); with several rounds,
    those are printed one by one below the table."""
    results = {key: _merge_rounds(r) for key, r in runs.items()}
    rounds = len(next(iter(runs.values())))

    def ratio(name, a, b, kind):
        return float(np.median(_paired_ratios(runs, name, a, b, kind)))

    head = (f"{'config':<11} {'backend':<7} {'train img/s (min-max)':>24} {'GFLOP/s':>8} {'%sgemm':>7} "
            f"{'infer img/s (min-max)':>24} {'GFLOP/s':>8} {'peak MB':>8} {'threads':>22} "
            f"{'train/torch':>11} {'infer/torch':>11}")
    print(head)
    print("-" * len(head))
    for name in configs:
        flops = _forward_flops(name)
        for backend in backends:
            r = results[name, backend]
            tr, inf = r["train"], r["infer"]
            train_gf = 3 * flops * tr["median"] / 1e9      # a train step ~ 3x the forward
            infer_gf = flops * inf["median"] / 1e9
            ratios = ("", "")
            if (name, "torch") in results and backend != "torch":
                ratios = tuple(f"{ratio(name, backend, 'torch', kind):.2f}x" for kind in ("train", "infer"))
            threads = ",".join(f"{k}={v}" for k, v in r["threads"].items())
            print(f"{name:<11} {backend:<7} {tr['median']:>9.1f} ({tr['min']:>6.1f}-{tr['max']:>6.1f}) "
                  f"{train_gf:>8.1f} {100 * train_gf / sgemm:>6.0f}% "
                  f"{inf['median']:>9.1f} ({inf['min']:>6.1f}-{inf['max']:>6.1f}) {infer_gf:>8.1f} "
                  f"{r['peak_mb']:>8.0f} {threads:>22} {ratios[0]:>11} {ratios[1]:>11}")
    numpy_vs = [(n, ratio(n, "numba", "numpy", "train")) for n in configs
                if (n, "numba") in results and (n, "numpy") in results]
    if numpy_vs:
        print("\nnumba / numpy train speed-up: " + ", ".join(f"{n} {s:.2f}x" for n, s in numpy_vs))
    pairs = [(a, b) for a, b in (("numba", "torch"), ("numpy", "torch"), ("numba", "numpy"))
             if a in backends and b in backends]
    _report_round_trips(runs, configs, backends)
    if rounds > 1 and pairs:
        print("\nround by round (the ratios above are the medians of these):")
        for name in configs:
            for a, b in pairs:
                cells = []
                for kind in ("train", "infer"):
                    values = _paired_ratios(runs, name, a, b, kind)
                    cells.append(f"{kind} " + " ".join(f"{v:.2f}" for v in values)
                                 + f" (median {ratio(name, a, b, kind):.2f}x)")
                print(f"  {name:<11} {a} / {b}: " + "; ".join(cells))
    for name in configs:
        for backend in backends:
            r = results[name, backend]
            if "breakdown" not in r:
                continue
            b = dict(r["breakdown"])
            total = b.pop("total")
            print(f"\none train step on the whole batch, {name}, {backend}: {total:.1f} ms")
            for op, ms in sorted(b.items(), key=lambda kv: -kv[1]):
                print(f"  {op:<48} {ms:>8.1f} ms {100 * ms / total:>5.1f}%")
            if "paths" in r:
                print("  GEMM path per linear layer and product: " + ", ".join(
                    f"{k}: {v}" for k, v in r["paths"].items()))


def _report_round_trips(runs, configs, backends) -> None:
    """Each measurement's cores' round trip, round by round: a slow spell of the host's own making
    (the two vCPUs put far apart) shows here, and explains a round whose ratio stands out."""
    trips = {key: [r.get("round_trip_ns") for r in rs] for key, rs in runs.items()}
    if not any(t is not None for ts in trips.values() for t in ts):
        return
    print("\ncores' round trip (a cache line to the other core and back) after each measurement, ns; above ~250 "
          "the host had put the two vCPUs far apart, and all hand-offs between them, small models' most of "
          "all, were slower (PyTorch's too):")
    for name in configs:
        print(f"  {name:<11} " + "; ".join(f"{b} " + " ".join("-" if t is None else f"{t:.0f}" for t in trips[name, b])
                                         for b in backends))


if __name__ == "__main__":
    sys.exit(main())
