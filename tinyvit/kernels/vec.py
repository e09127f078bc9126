"""Scalar maths that LLVM can vectorise: exp and erf for float32, and sums split over 16 lanes.

`math.exp` and `math.erf` compile to calls into libm, one value at a time; a loop that calls
them cannot use AVX. The float32 versions here are plain polynomials (plus one bit trick), so
a loop over them becomes 8-wide vector code. float64 keeps libm: it is the dtype of gradient
checks, where exactness matters more than speed.
"""

from __future__ import annotations

import numpy as np

from tinyvit.kernels.intrinsics import float32_from_bits, stack_array
from tinyvit.kernels.jit import kernel

LANES = 16  # two AVX registers of float32: enough independent sums to hide the add latency
HALVES = tuple(LANES >> k for k in range(1, LANES.bit_length()))   # (8, 4, 2, 1): pairwise rounds

f32 = np.float32
LOG2E = f32(1.44269504088896341)
LN2_HI = f32(0.693359375)          # ln 2 split in two (Cody-Waite): n * LN2_HI is exact in float32
LN2_LO = f32(-2.12194440e-4)


@kernel(inline=True)
def exp32(x):
    """exp(x) for float32 x, within ~2 ulp: 2**n * exp(r) with |r| <= ln(2)/2 (Cephes' expf)."""
    x = min(max(x, f32(-87.3)), f32(88.3))       # keep 2**n a normal float
    n = np.floor(x * LOG2E + f32(0.5))
    r = x - n * LN2_HI - n * LN2_LO
    p = f32(1.9875691500e-4)
    p = p * r + f32(1.3981999507e-3)
    p = p * r + f32(8.3334519073e-3)
    p = p * r + f32(4.1665795894e-2)
    p = p * r + f32(1.6666665459e-1)
    p = p * r + f32(5.0000001201e-1)
    p = p * r * r + r + f32(1.0)
    return p * float32_from_bits((np.int32(n) + np.int32(127)) << np.int32(23))  # 2**n from its exponent bits


@kernel(inline=True)
def erf32(x):
    """erf(x) for float32 x, within ~2e-7: x * P(x^2) / Q(x^2) on [-4, 4] (beyond, erf = +-1 in float32).

    The rational approximation is the one of Eigen and XLA.
    """
    x = min(max(x, f32(-4.0)), f32(4.0))
    x2 = x * x
    p = f32(-2.72614225801306e-10)
    p = p * x2 + f32(2.77068142495902e-08)
    p = p * x2 + f32(-2.10102402082508e-06)
    p = p * x2 + f32(-5.69250639462346e-05)
    p = p * x2 + f32(-7.34990630326855e-04)
    p = p * x2 + f32(-2.95459980854025e-03)
    p = p * x2 + f32(-1.60960333262415e-02)
    q = f32(-1.45660718464996e-05)
    q = q * x2 + f32(-2.13374055278905e-04)
    q = q * x2 + f32(-1.68282697438203e-03)
    q = q * x2 + f32(-7.37332916720468e-03)
    q = q * x2 + f32(-1.42647390514189e-02)
    return x * p / q


@kernel(inline=True)
def _tree_sum(acc):
    """acc[0, 0] + ... + acc[0, LANES-1] added pairwise: 4 rounds of independent adds instead of a
    chain of 16 dependent ones (~16 cycles instead of ~64: most of a 17-token softmax row)."""
    for width in HALVES:
        for lane in range(width):
            acc[0, lane] += acc[0, lane + width]
    return acc[0, 0]


@kernel(inline=True)
def lane_sum(x, start, stop):
    """sum(x[start:stop]) of a 1-D array, as LANES interleaved partial sums added up at the end.

    A single running sum is a chain of dependent adds that LLVM may not reorder (no 'reassoc'),
    so it runs at one add per 4 cycles. LANES independent sums vectorise into two AVX adds.
    """
    acc = stack_array(1, LANES, x)
    for lane in range(LANES):
        acc[0, lane] = 0
    j = start
    while j + LANES <= stop:
        for lane in range(LANES):
            acc[0, lane] += x[j + lane]
        j += LANES
    total = _tree_sum(acc)
    while j < stop:
        total += x[j]
        j += 1
    return total


@kernel(inline=True)
def lane_dot(x, y, start, stop):
    """sum(x[start:stop] * y[start:stop]), vectorised like lane_sum."""
    acc = stack_array(1, LANES, x)
    for lane in range(LANES):
        acc[0, lane] = 0
    j = start
    while j + LANES <= stop:
        for lane in range(LANES):
            acc[0, lane] += x[j + lane] * y[j + lane]
        j += LANES
    total = _tree_sum(acc)
    while j < stop:
        total += x[j] * y[j]
        j += 1
    return total


@kernel(inline=True)
def lane_max(x, start, stop):
    """max(x[start:stop]) (stop > start), vectorised like lane_sum (max is exact in any order)."""
    acc = stack_array(1, LANES, x)
    for lane in range(LANES):
        acc[0, lane] = x[start]
    j = start
    while j + LANES <= stop:
        for lane in range(LANES):
            acc[0, lane] = max(acc[0, lane], x[j + lane])
        j += LANES
    for width in HALVES:                    # pairwise, as _tree_sum
        for lane in range(width):
            acc[0, lane] = max(acc[0, lane], acc[0, lane + width])
    best = acc[0, 0]
    while j < stop:
        best = max(best, x[j])
        j += 1
    return best
