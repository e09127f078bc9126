"""The @kernel decorator: numba.njit with the house settings, so every kernel compiles the same way."""

from __future__ import annotations

import functools
import warnings

import numba
from numba.core import config, registry, types
from numba.core.codegen import get_host_cpu_features

# 'contract' lets LLVM fuse a * b + c into one FMA instruction. 'reassoc' is left out on purpose:
# sums then run in the order the code says, which is what lets the float64 tests hold every
# kernel to 1e-12 of its NumPy twin. Reductions are vectorised by hand instead (kernels/vec.py).
FASTMATH = frozenset({"contract", "nsz", "arcp"})


def compile_for_avx2_on_avx512() -> str | None:
    """On a CPU with AVX-512, have Numba generate AVX2 code: returns the features it now uses.

    The kernels are written for AVX2's 16 registers of 8 float32 (kernels/microkernel.py). Given
    AVX-512, LLVM's SLP vectorizer turned the register tile into gathers and scatters instead of
    12 fused multiply-adds: the GEMM ran at 2-4 GFLOP/s instead of 150 on an AMD EPYC (Zen 4).
    Numba fixes its target features when it first compiles anything, for every function of the
    process, so this runs as tinyvit's kernels are imported; a choice made by NUMBA_CPU_NAME or
    NUMBA_CPU_FEATURES is left alone.
    """
    if config.DISABLE_JIT or config.CPU_NAME is not None or config.CPU_FEATURES is not None:
        return None
    features = get_host_cpu_features()
    if "+avx512f" not in features.split(","):
        return None
    if "_toplevel_target_context" in vars(registry.cpu_target):   # Numba's CPU target is already set up
        warnings.warn("Numba was in use before tinyvit's kernels were imported, so they compile for this CPU's "
                      "AVX-512, on which they run many times slower: import tinyvit.kernels before any "
                      "@numba.njit function.", stacklevel=3)
        return None
    config.CPU_FEATURES = without_avx512(features)
    return config.CPU_FEATURES


def without_avx512(features: str) -> str:
    """LLVM's feature string ('+avx2,+avx512f,...') with every AVX-512 extension switched off."""
    return ",".join("-" + f[1:] if f.startswith("+avx512") else f for f in features.split(","))


compile_for_avx2_on_avx512()


def kernel(fn=None, *, inline: bool = False):
    """numba.njit(cache=True, nogil=True, fastmath=FASTMATH) with LLVM's SLP vectorizer switched on.

    Numba compiles with the SLP (straight-line) vectorizer off by default since a past
    miscompilation (numba issue 8705). Our register tile (a 6 x 16 block of accumulators,
    kernels/microkernel.py) is straight-line code that only the SLP vectorizer turns into AVX
    instructions: without it the GEMM runs ~15x slower. It is switched on only while one of our
    kernels compiles, and tests/test_kernels*.py pin every kernel's results.

    nogil=True lets kernels/threads.py run one kernel on several threads at once. inline=True is
    for small scalar helpers (exp32, the register tile): Numba pastes their code into the caller
    before LLVM sees it, which is what lets the caller's loop vectorise.

    Under NUMBA_DISABLE_JIT=1 the plain Python function is returned, so a debugger can step in.
    """
    if fn is None:
        return functools.partial(kernel, inline=inline)
    dispatcher = numba.njit(cache=True, nogil=True, fastmath=set(FASTMATH), error_model="numpy",
                            inline="always" if inline else "never")(fn)
    if config.DISABLE_JIT:
        return dispatcher
    compile_plain = dispatcher.compile

    def compile_with_slp(sig):
        # A kernel called with a constant (_macro_kernel(..., 0, ..., True)) would otherwise compile
        # once more for that value's literal type. One machine-code version per argument types.
        sig = tuple(types.unliteral(arg) for arg in sig) if isinstance(sig, tuple) else sig
        saved, config.SLP_VECTORIZE = config.SLP_VECTORIZE, 1
        try:
            return compile_plain(sig)
        finally:
            config.SLP_VECTORIZE = saved

    dispatcher.compile = compile_with_slp
    return dispatcher
