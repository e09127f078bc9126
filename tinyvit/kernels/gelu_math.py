"""GELU and its slope for one value, in the dtype of the array it came from (float32 vectorises)."""

from __future__ import annotations

import math

from tinyvit.kernels.jit import kernel
from tinyvit.kernels.vec import erf32, exp32, f32

# `T` is the array's scalar type (arr.dtype.type) and `single` is arr.itemsize == 4: every constant
# is made a T, so float32 arithmetic never widens to float64 behind our back.


@kernel(inline=True)
def _tanh(u, single):
    if single:  # tanh(u) = 1 - 2 / (exp(2u) + 1), with the vectorisable exp; float32 constants,
        # or int - float32 would widen to float64 and the loop would not vectorise (12x slower)
        return f32(1) - f32(2) / (exp32(u + u) + f32(1))
    return math.tanh(u)


@kernel(inline=True)
def gelu_value(x, tanh_approx, single, T):
    """x * Phi(x), Phi the standard normal CDF: exactly (erf) or by the tanh approximation."""
    if tanh_approx:
        t = _tanh(T(0.7978845608028654) * (x + T(0.044715) * x * x * x), single)
        return T(0.5) * x * (T(1.0) + t)
    s = x * T(0.7071067811865476)
    return T(0.5) * x * (T(1.0) + (erf32(s) if single else math.erf(s)))


@kernel(inline=True)
def gelu_slope(x, tanh_approx, single, T):
    """d gelu / dx, by the product rule on x * Phi(x) (see ops/gelu.py)."""
    if tanh_approx:
        t = _tanh(T(0.7978845608028654) * (x + T(0.044715) * x * x * x), single)
        dinner = T(0.7978845608028654) * (T(1.0) + T(3 * 0.044715) * x * x)
        return T(0.5) * (T(1.0) + t) + T(0.5) * x * (T(1.0) - t * t) * dinner
    s = x * T(0.7071067811865476)
    cdf = T(0.5) * (T(1.0) + (erf32(s) if single else math.erf(s)))
    e = T(-0.5) * x * x
    pdf = T(0.3989422804014327) * (exp32(e) if single else math.exp(e))
    return cdf + x * pdf
