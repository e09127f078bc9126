"""Every Numba kernel equals its NumPy twin in tinyvit.ops, on shapes chosen to be awkward.

float32 must agree to a relative error (norm-wise, see gradcheck.rel_error) below 1e-5 and
float64 below 1e-12. The shapes are not multiples of the register tile (6 x 16), the K slice
(384) or anything else, and include one head, batch 1, head_dim 1 and the relative bias.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tinyvit import ops as ref
from tinyvit.errors import TinyViTError
from tinyvit.gradcheck import rel_error
from tinyvit.kernels import KERNELS, linear
from tinyvit.kernels.attention import _qkv_of
from tinyvit.kernels.gemm import _split_k_parts, _sum_parts, gemm, gemm_split_k, pack_b
from tinyvit.kernels.intrinsics import prefetch
from tinyvit.kernels.threads import parallel_for

TOL = {"float32": 1e-5, "float64": 1e-12}
DTYPES = ("float32", "float64")


def _rand(rng, dtype, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def _close(a, b, dtype):
    assert np.asarray(b).dtype == np.dtype(dtype), f"kernel returned {np.asarray(b).dtype}, not {dtype}"
    err = rel_error(a, b)
    assert err < TOL[dtype], f"relative error {err:.2e}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,k,n,trans_a,trans_b", [
    (1, 1, 1, False, False), (7, 3, 17, False, True), (67, 70, 61, False, False),
    (13, 300, 40, True, False), (100, 257, 33, False, True), (61, 12, 100, True, True),
    (200, 800, 50, False, False), (401, 400, 16, False, True)])   # several slices of K and blocks of rows
def test_gemm_matches_matmul(dtype, m, k, n, trans_a, trans_b):
    rng = np.random.default_rng(m * k + n)
    a = _rand(rng, dtype, *((k, m) if trans_a else (m, k)))
    b = _rand(rng, dtype, *((n, k) if trans_b else (k, n)))
    out = gemm(a, trans_a, pack_b(b, trans_b), np.empty((m, n), dtype=dtype))
    _close((a.T if trans_a else a) @ (b.T if trans_b else b), out, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_reads_a_in_place_or_packed_to_the_same_bits(dtype):
    # A is read in place (row by row, with prefetching), but a transposed A is packed first: both
    # add up each element of C in the same order, so they must agree bit for bit.
    rng = np.random.default_rng(5)
    a, b = _rand(rng, dtype, 301, 800), _rand(rng, dtype, 800, 40)   # a ragged last row panel, 3 slices
    panels = pack_b(b, False)
    in_place = gemm(a, False, panels, np.empty((301, 40), dtype=dtype))
    packed = gemm(np.ascontiguousarray(a.T), True, panels, np.empty((301, 40), dtype=dtype))
    assert np.array_equal(in_place, packed)
    _close(a @ b, in_place, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k,m,n", [(1, 1, 1), (7, 3, 17), (385, 97, 257), (2000, 13, 40), (1000, 70, 300),
                                   (800, 20, 1000)])
def test_gemm_split_k_matches_matmul(dtype, k, m, n):
    # K not a multiple of the KC slice nor of the thread count, M and N ragged against MC, NC, MR, NR;
    # the last is wider than NC (two chunks of 500 columns).
    rng = np.random.default_rng(k + m + n)
    a, b = _rand(rng, dtype, k, m), _rand(rng, dtype, k, n)
    out, colsum, _ = gemm_split_k(a, b)
    _close(a.T @ b, out, dtype)
    _close(b.sum(axis=0), colsum, dtype)


def test_gemm_split_k_of_no_rows_is_zero():
    # Each part's first slice stores into its partial sum, which is not zeroed first: a part
    # with no rows must still store its zeros (here over NaNs, so a skipped store shows).
    a, b, none = np.ones((0, 3), np.float32), np.ones((0, 5), np.float32), np.empty((0, 0), np.float32)
    parts, colsums = np.full((1, 3, 5), np.nan, np.float32), np.full((1, 5), np.nan, np.float32)
    _split_k_parts(0, 1, a, b, parts, colsums, False, none, none, False)
    np.testing.assert_array_equal(parts, 0)
    np.testing.assert_array_equal(colsums, 0)
    out, colsum, _ = gemm_split_k(a, b)
    assert out.shape == (3, 5) and colsum.shape == (5,)


@pytest.mark.parametrize("dtype", DTYPES)
def test_partial_sums_add_up_in_numpys_order(dtype):
    # gemm_split_k's partial results are added on both threads, in the order NumPy's
    # parts.sum(axis=0) adds them: the result is the same to the last bit.
    parts = _rand(np.random.default_rng(3), dtype, 8 * 401, 45).reshape(8, 401, 45)   # enough work for 2 threads
    out = np.empty((401, 45), dtype=dtype)
    parallel_for(_sum_parts, 401, parts, out, work=parts.size)
    np.testing.assert_array_equal(out, parts.sum(axis=0))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("approximate", ["erf", "tanh"])
@pytest.mark.parametrize("k,m,n", [(7, 3, 17), (1000, 70, 300)])
def test_gemm_split_k_with_gelu_backward(dtype, approximate, k, m, n):
    # fc1's backward: the GELU's backward is applied to each slice of b as it is packed.
    rng = np.random.default_rng(k + n)
    a, da, pre = _rand(rng, dtype, k, m), _rand(rng, dtype, k, n), _rand(rng, dtype, k, n)
    dh = ref.gelu_backward(da, ref.GeluCache(x=pre, approximate=approximate))
    out, colsum, dh_kernel = gemm_split_k(a, da, gelu_pre=pre, tanh_approx=approximate == "tanh")
    _close(dh, dh_kernel, dtype)
    _close(a.T @ dh, out, dtype)
    _close(dh.sum(axis=0), colsum, dtype)


# (leading shape, IN, OUT): the second and third take the Numba GEMM (ragged edges, K > 256).
LINEAR_SHAPES = [((2, 5), 7, 3), ((1, 67), 70, 61), ((3, 23), 300, 40)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("lead,IN,OUT", LINEAR_SHAPES)
def test_linear(dtype, lead, IN, OUT):
    rng = np.random.default_rng(IN)
    x, w, b = _rand(rng, dtype, *lead, IN), _rand(rng, dtype, IN, OUT), _rand(rng, dtype, OUT)
    dy = _rand(rng, dtype, *lead, OUT)
    y0, c0 = ref.linear_forward(x, w, b)
    y1, c1 = KERNELS["linear_forward"](x, w, b)
    _close(y0, y1, dtype)
    for g0, g1 in zip(ref.linear_backward(dy, c0), KERNELS["linear_backward"](dy, c1), strict=True):
        _close(g0, g1, dtype)


def test_linear_records_its_path(monkeypatch):
    rng = np.random.default_rng(0)
    x, w, b = _rand(rng, "float32", 4, 8), _rand(rng, "float32", 8, 10), _rand(rng, "float32", 10)
    y_numba, _ = KERNELS["linear_forward"](x, w, b)
    assert linear.PATHS["forward", 8, 10] == "numba"
    monkeypatch.setattr(linear, "NUMBA_PRODUCTS", {"input grad", "weight grad"})
    y_blas, _ = KERNELS["linear_forward"](x, w, b)
    assert linear.PATHS["forward", 8, 10] == "blas"
    _close(y_numba, y_blas, "float32")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("approximate", ["erf", "tanh"])
@pytest.mark.parametrize("lead,IN,OUT", LINEAR_SHAPES)
def test_linear_gelu(dtype, approximate, lead, IN, OUT):
    rng = np.random.default_rng(OUT)
    x, w, b = _rand(rng, dtype, *lead, IN), _rand(rng, dtype, IN, OUT, scale=0.3), _rand(rng, dtype, OUT)
    da = _rand(rng, dtype, *lead, OUT)
    a0, l0, g0 = ref.linear_gelu_forward(x, w, b, approximate)
    a1, l1, g1 = KERNELS["linear_gelu_forward"](x, w, b, approximate)
    _close(a0, a1, dtype)
    _close(g0.x, g1.x, dtype)                       # the pre-GELU activations a student inspects
    for r0, r1 in zip(ref.linear_gelu_backward(da, l0, g0), KERNELS["linear_gelu_backward"](da, l1, g1),
                      strict=True):
        _close(r0, r1, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("approximate", ["erf", "tanh"])
def test_gelu(dtype, approximate):
    rng = np.random.default_rng(1)
    x = _rand(rng, dtype, 3, 1001, scale=3.0)       # wide enough to reach both tails
    x[0, :3] = (0.0, 30.0, -30.0)
    dy = _rand(rng, dtype, 3, 1001)
    y0, c0 = ref.gelu_forward(x, approximate)
    y1, c1 = KERNELS["gelu_forward"](x, approximate)
    _close(y0, y1, dtype)
    _close(ref.gelu_backward(dy, c0), KERNELS["gelu_backward"](dy, c1), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 17, 5), (1, 65, 192), (3, 7, 33)])
def test_layernorm(dtype, shape):
    rng = np.random.default_rng(shape[-1])
    x = _rand(rng, dtype, *shape, scale=2.0) + 3.0   # an offset, so the two-pass variance matters
    gamma, beta = _rand(rng, dtype, shape[-1]), _rand(rng, dtype, shape[-1])
    dy = _rand(rng, dtype, *shape)
    y0, c0 = ref.layernorm_forward(x, gamma, beta, 1e-6)
    y1, c1 = KERNELS["layernorm_forward"](x, gamma, beta, 1e-6)
    _close(y0, y1, dtype)
    assert c1.mean.shape == c0.mean.shape and c1.rstd.shape == c0.rstd.shape
    assert c0.x is x and c1.x is x                   # the input is kept, not copied: x_hat is recomputed
    _close(c0.mean, c1.mean, dtype)
    _close(c0.rstd, c1.rstd, dtype)
    for g0, g1 in zip(ref.layernorm_backward(dy, c0), KERNELS["layernorm_backward"](dy, c1), strict=True):
        _close(g0, g1, dtype)
    dskip = _rand(rng, dtype, *shape)                # the skip connection's gradient, added to dx
    for g0, g1 in zip(ref.layernorm_backward(dy, c0, dskip), KERNELS["layernorm_backward"](dy, c1, dskip),
                      strict=True):
        _close(g0, g1, dtype)
    # exactly dx + dskip, rounded as the twin's sum is (a fused multiply-add would change training runs)
    np.testing.assert_array_equal(KERNELS["layernorm_backward"](dy, c1)[0] + dskip,
                                  KERNELS["layernorm_backward"](dy, c1, dskip)[0])


def test_layernorm_backward_rounds_the_same_with_the_skip_gradient():
    """dskip changes dx by exactly + dskip and dgamma, dbeta not at all, bit for bit: a seed's training
    run stays the one the README reports. (64, 17, 64) is a digits batch, whose row groups, and so
    the rounding of dgamma's sums, once depended on whether dskip was given.)"""
    rng = np.random.default_rng(3)
    x, dy, dskip = (_rand(rng, "float32", 64, 17, 64) for _ in range(3))
    _, cache = KERNELS["layernorm_forward"](x, _rand(rng, "float32", 64), _rand(rng, "float32", 64))
    plain, skip = KERNELS["layernorm_backward"](dy, cache), KERNELS["layernorm_backward"](dy, cache, dskip)
    np.testing.assert_array_equal(plain[0] + dskip, skip[0])
    np.testing.assert_array_equal(plain[1], skip[1])
    np.testing.assert_array_equal(plain[2], skip[2])


# (B, N, heads, head_dim, relative): batch 1, one head, head_dim 1, N = 65 (a 4x4 patch grid of
# cifar-tiny plus [CLS]: not a multiple of 6 or 16), N = 1, and the relative bias; N = 16 and 31,
# where the register tiles' rows (whole 6s) reach past their columns (whole 16s).
ATTENTION_SHAPES = [(1, 5, 1, 4, False), (2, 17, 3, 1, False), (1, 65, 3, 64, False), (2, 1, 2, 3, False),
                    (1, 9, 1, 5, True), (2, 17, 2, 7, True), (2, 16, 2, 16, False), (1, 31, 1, 8, True)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("B,N,H,Dh,relative", ATTENTION_SHAPES)
def test_attention(dtype, B, N, H, Dh, relative):
    rng = np.random.default_rng(N * H + Dh)
    D = H * Dh
    qkv = _rand(rng, dtype, B, N, 3 * D)
    rel_pos = _rand(rng, dtype, 2 * N - 1, D) if relative else None
    dout = _rand(rng, dtype, B, N, D)
    o0, c0 = ref.attention_forward(qkv, H, rel_pos)
    o1, c1 = KERNELS["attention_forward"](qkv, H, rel_pos)
    _close(o0, o1, dtype)
    _close(c0.att, c1.att, dtype)                   # the probabilities a student inspects
    _close(c0.q, c1.q, dtype)
    for cache in (c0, c1):                          # q, k and v are views of qkv, never copies
        assert all(np.shares_memory(t, qkv) for t in (cache.q, cache.k, cache.v))
    d0, r0 = ref.attention_backward(dout, c0)
    d1, r1 = KERNELS["attention_backward"](dout, c1)
    _close(d0, d1, dtype)
    if relative:
        _close(r0, r1, dtype)
    else:
        assert r1 is None
    # The kernel reads q, k, v through the qkv they are views of (no copy); given copies, it merges them.
    assert np.shares_memory(_qkv_of(c1.q, c1.k, c1.v), qkv)
    copies = dataclasses.replace(c1, q=c1.q.copy(), k=c1.k.copy(), v=c1.v.copy())
    np.testing.assert_array_equal(KERNELS["attention_backward"](dout, copies)[0], d1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy(dtype, smoothing):
    rng = np.random.default_rng(2)
    logits = _rand(rng, dtype, 7, 10, scale=5.0)
    labels = rng.integers(0, 10, 7)
    l0, c0 = ref.cross_entropy_forward(logits, labels, smoothing)
    l1, c1 = KERNELS["cross_entropy_forward"](logits, labels, smoothing)
    _close(np.array(l0), np.array(l1), dtype)
    _close(c0.probs, c1.probs, dtype)
    _close(ref.cross_entropy_backward(1.0, c0), KERNELS["cross_entropy_backward"](1.0, c1), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_adamw(dtype, weight_decay):
    rng = np.random.default_rng(3)
    states = [[_rand(rng, dtype, 5, 7), np.zeros((5, 7), dtype), np.zeros((5, 7), dtype)] for _ in range(2)]
    states[1] = [t.copy() for t in states[0]]
    for step in range(1, 4):
        grad = _rand(rng, dtype, 5, 7)
        for update, (p, m, v) in zip((ref.adamw_update, KERNELS["adamw_update"]), states, strict=True):
            update(p, grad, m, v, step=step, lr=1e-2, weight_decay=weight_decay)
    for t0, t1 in zip(*states, strict=True):
        _close(t0, t1, dtype)


# ----------------------------------------------------------------------------- wrong inputs
# A kernel indexes its arrays by the sizes the cache gives, without bounds checks: a gradient of
# the wrong shape was read or written past its end (NaN, garbage, or a crashed process).
def _caches(rng):
    f32 = np.float32
    x, w, b = _rand(rng, f32, 4, 10, 48), _rand(rng, f32, 48, 20), _rand(rng, f32, 20)
    qkv = _rand(rng, f32, 4, 10, 24)
    return {
        "linear": (KERNELS["linear_backward"], KERNELS["linear_forward"](x, w, b)[1:], (4, 10, 20)),
        "linear_gelu": (KERNELS["linear_gelu_backward"], KERNELS["linear_gelu_forward"](x, w, b)[1:], (4, 10, 20)),
        "gelu": (KERNELS["gelu_backward"], KERNELS["gelu_forward"](x)[1:], (4, 10, 48)),
        "layernorm": (KERNELS["layernorm_backward"], KERNELS["layernorm_forward"](x, w[:, 0], b[:1].repeat(48))[1:],
                      (4, 10, 48)),
        "attention": (KERNELS["attention_backward"], KERNELS["attention_forward"](qkv, 2)[1:], (4, 10, 8)),
    }


@pytest.mark.parametrize("op", ["linear", "linear_gelu", "gelu", "layernorm", "attention"])
def test_a_gradient_of_the_wrong_shape_is_refused(op):
    backward, caches, shape = _caches(np.random.default_rng(0))[op]
    for wrong in [(1, *shape[1:]), (40, *shape[1:]), (*shape[:-1], 7)]:
        with pytest.raises(TinyViTError, match=r"must have the shape of the forward pass's output"):
            backward(np.ones(wrong, np.float32), *caches)
    with pytest.raises(TinyViTError, match="float32 or float64"):
        backward(np.ones(shape, np.int64), *caches)
    exact = backward(np.ones(shape, np.float32), *caches)       # a float64 gradient is cast to the cache's
    as64 = backward(np.ones(shape, np.float64), *caches)
    for a, b in zip(exact, as64, strict=True):
        assert (a is None and b is None) or (b.dtype == np.float32 and np.array_equal(a, b))


@pytest.mark.parametrize("call", [
    lambda x: KERNELS["gelu_forward"](x), lambda x: KERNELS["layernorm_forward"](x, np.ones(4), np.zeros(4)),
    lambda x: KERNELS["linear_forward"](x, np.ones((4, 3), np.float32), None),
    lambda x: KERNELS["attention_forward"](np.ones((2, 3, 12), x.dtype), 2),
    lambda x: KERNELS["cross_entropy_forward"](x[0], np.zeros(3, np.int64)),
])
@pytest.mark.parametrize("dtype", [np.int64, np.float16, np.complex64])
def test_kernels_take_float32_and_float64_only(call, dtype):
    """Integers were computed in integers (GELU of [-2..2] gave zeros); float16 and complex failed in Numba."""
    with pytest.raises(TinyViTError, match=f"must be a float32 or float64 array, got an? {np.dtype(dtype)} array"):
        call(np.ones((2, 3, 4), dtype))


def test_adamw_refuses_state_or_gradient_of_another_shape():
    p, g = np.zeros(100, np.float32), np.ones(100, np.float32)
    good = np.zeros(100, np.float32)
    for m, v, grad, message in [(np.zeros(10, np.float32), good, g, "m must be a float32 array of the parameter's"),
                                (good, np.zeros(100, np.float64), g, "v must be a float32 array"),
                                (good, good.copy(), np.ones(10, np.float32), "grad must have the shape")]:
        with pytest.raises(TinyViTError, match=message):
            KERNELS["adamw_update"](p, grad, m, v, step=1, lr=0.1)
    p.flags.writeable = False
    with pytest.raises(TinyViTError, match="read-only"):
        KERNELS["adamw_update"](p, g, good, good.copy(), step=1, lr=0.1)


def test_prefetch_is_only_a_hint():
    # It compiles for any integer index, changes no value, and does not fault one row past the end.
    import numba

    @numba.njit
    def total_with_prefetches(a):
        total = 0.0
        for i in range(a.shape[0] + 1):
            prefetch(a, i, np.int32(a.shape[1] - 1))
            if i < a.shape[0]:
                total += a[i].sum()
        return total

    a = np.arange(12.0).reshape(3, 4)
    assert total_with_prefetches(a) == 66.0
    assert np.array_equal(a, np.arange(12.0).reshape(3, 4))


def test_the_gemm_refuses_operands_that_disagree():
    f32 = np.float32
    a, w = np.ones((5, 4), f32), np.ones((4, 20), f32)
    panels, out = pack_b(w, False), np.empty((5, 20), f32)
    for args, message in [((np.ones((5, 3), f32), False, panels, out), r"op\(a\) \(5, 3\) @ B"),
                          ((a, True, panels, out), r"op\(a\) \(4, 5\)"),
                          ((a, False, panels, np.empty((5, 40), f32)), "cannot fill out"),
                          ((a, False, pack_b(w.astype(np.float64), False), out), "one dtype")]:
        with pytest.raises(TinyViTError, match=message):
            gemm(*args)
    with pytest.raises(TinyViTError, match=r"bias must be \(20,\)"):
        gemm(a, False, panels, out, linear.BIAS, bias=np.ones(3, f32))
    with pytest.raises(TinyViTError, match="must share K and the dtype"):
        gemm_split_k(np.ones((6, 4), f32), np.ones((5, 20), f32))
    with pytest.raises(TinyViTError, match="x, w and b must share one dtype, got float32, float64"):
        linear.linear_forward(np.ones((2, 4), f32), np.ones((4, 3)), None)


def test_a_backward_checks_every_cache_array_it_indexes():
    """Caches come from the forward pass, but a student may build or edit one: a smaller array was
    read past its end, and k, v wider than q made the attention backward write past dqkv's rows."""
    rng = np.random.default_rng(1)
    f32 = np.float32
    out, cache = KERNELS["attention_forward"](_rand(rng, f32, 2, 5, 24), 2, _rand(rng, f32, 9, 8))
    for field, bad in [("k", np.ones((2, 2, 5, 40), f32)), ("att", np.ones((1, 1, 1, 1), f32)),
                       ("rel", np.ones((1, 1, 1), f32)), ("v", cache.v.astype(np.float64))]:
        with pytest.raises(TinyViTError, match=f"attention backward: cache.{field} must be a float32 array of shape"):
            KERNELS["attention_backward"](np.ones_like(out), dataclasses.replace(cache, **{field: bad}))
    y, ln = KERNELS["layernorm_forward"](_rand(rng, f32, 30, 8), np.ones(8, f32), np.zeros(8, f32))
    for field, bad in [("mean", np.zeros((1, 1), f32)), ("rstd", np.ones((31, 1), f32)), ("gamma", np.ones(2, f32))]:
        with pytest.raises(TinyViTError, match=f"layernorm backward: cache.{field} must be"):
            KERNELS["layernorm_backward"](np.ones_like(y), dataclasses.replace(ln, **{field: bad}))
    with pytest.raises(TinyViTError, match=r"layernorm backward: dskip must have the shape .* \(30, 8\), got"):
        KERNELS["layernorm_backward"](np.ones_like(y), ln, np.ones((30, 7), f32))
    with pytest.raises(TinyViTError, match="cache.x must be a float32 or float64 array, got an int64 array"):
        KERNELS["gelu_backward"](np.ones(4, f32), ref.GeluCache(x=np.arange(4), approximate="erf"))  # gave zeros


def test_the_gemm_refuses_an_empty_product_overlaps_and_integers_and_handles_empty_outputs():
    f32 = np.float32
    with pytest.raises(TinyViTError, match="must be 2-D and the panels 3-D"):
        gemm(np.ones((7, 4), f32), False, pack_b(np.ones((4, 5), f32), False), np.empty(35, f32))
    with pytest.raises(TinyViTError, match="has no columns to multiply"):   # out came back untouched
        gemm(np.ones((7, 0), f32), False, pack_b(np.ones((0, 5), f32), False), np.full((7, 5), 123.0, f32))
    a = np.ones((20, 20), f32)
    with pytest.raises(TinyViTError, match="out must not overlap"):
        gemm(a, False, pack_b(a, False), a)
    with pytest.raises(TinyViTError, match="out must be a float32 or float64 array"):   # int8 overflowed
        gemm(np.ones((3, 3), np.int8), False, pack_b(np.ones((3, 3), np.int8), False), np.empty((3, 3), np.int8))
    y, _ = linear.linear_forward(np.ones((0, 4), f32), np.ones((4, 3), f32), np.ones(3, f32))   # was 1/0
    assert y.shape == (0, 3)
    y, _ = linear.linear_forward(np.ones((2, 4), f32), np.ones((4, 0), f32), None)
    assert y.shape == (2, 0)


def test_adamw_runs_on_fortran_ordered_parameters_and_refuses_shared_state():
    rng = np.random.default_rng(2)
    p = np.asfortranarray(_rand(rng, np.float32, 5, 3))
    g = _rand(rng, np.float32, 5, 3)
    p_ref, m, v = p.copy(order="C"), np.zeros_like(p), np.zeros_like(p)
    m_ref, v_ref = np.zeros((5, 3), np.float32), np.zeros((5, 3), np.float32)
    KERNELS["adamw_update"](p, g, m, v, step=1, lr=0.1, weight_decay=0.1)
    ref.adamw_update(p_ref, g, m_ref, v_ref, step=1, lr=0.1, weight_decay=0.1)
    _close(p_ref, p, "float32")
    with pytest.raises(TinyViTError, match="three separate arrays"):
        KERNELS["adamw_update"](p, g, m, m, step=2, lr=0.1)
