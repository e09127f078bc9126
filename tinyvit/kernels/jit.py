"""The @kernel decorator: numba.njit with the house settings, so every kernel compiles the same way."""

from __future__ import annotations

import functools

import numba
from numba.core import config, types

# 'contract' lets LLVM fuse a * b + c into one FMA instruction. 'reassoc' is left out on purpose:
# sums then run in the order the code says, which is what lets the float64 tests hold every
# kernel to 1e-12 of its NumPy twin. Reductions are vectorised by hand instead (kernels/vec.py).
FASTMATH = frozenset({"contract", "nsz", "arcp"})


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
