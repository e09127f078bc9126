"""Operations checked against answers known in advance."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tinyvit import ops


def test_unpatchify_inverts_patchify(rng):
    x = rng.standard_normal((3, 12, 8, 3))
    patches, _ = ops.patchify_forward(x, 4)
    assert patches.shape == (3, 6, 4 * 4 * 3)
    assert np.array_equal(ops.unpatchify(patches, 4, 12, 8), x)


def test_patchify_order_is_raster_then_row_col_channel(rng):
    x = rng.standard_normal((1, 6, 9, 2))
    patches, _ = ops.patchify_forward(x, 3)
    for r in range(2):
        for c in range(3):
            expected = x[0, 3 * r:3 * r + 3, 3 * c:3 * c + 3, :].reshape(-1)  # (row, col, channel)
            assert np.array_equal(patches[0, r * 3 + c], expected)


def test_patch_embedding_equals_stride_p_convolution(rng):
    x = rng.standard_normal((2, 12, 12, 3))
    kernel, bias = rng.standard_normal((4, 4, 3, 5)), rng.standard_normal(5)  # HWIO, like the official checkpoints
    conv = ops.conv2d_direct(x, kernel, bias, stride=4)                       # (2, 3, 3, 5)
    patches, _ = ops.patchify_forward(x, 4)
    tokens, _ = ops.linear_forward(patches, kernel.reshape(-1, 5), bias)      # (2, 9, 5)
    np.testing.assert_allclose(tokens, conv.reshape(2, 9, 5), rtol=1e-12, atol=1e-12)


def test_attention_over_identical_keys_returns_mean_of_values(rng):
    B, N, D, heads = 2, 7, 6, 3
    qkv = rng.standard_normal((B, N, 3 * D))
    qkv[:, :, D:2 * D] = rng.standard_normal((B, 1, D))  # every token has the same key
    out, cache = ops.attention_forward(qkv, heads)
    np.testing.assert_allclose(cache.att, 1.0 / N, rtol=1e-12)
    values = qkv[:, :, 2 * D:]
    np.testing.assert_allclose(out, np.broadcast_to(values.mean(axis=1, keepdims=True), out.shape), rtol=1e-12)


def test_attention_matches_a_per_head_loop(rng):
    B, N, D, heads = 2, 5, 6, 2
    Dh = D // heads
    qkv = rng.standard_normal((B, N, 3 * D))
    rel_pos = rng.standard_normal((2 * N - 1, D))
    out, cache = ops.attention_forward(qkv, heads, rel_pos)
    expected = np.zeros((B, N, D))
    for b in range(B):
        for h in range(heads):
            cols = slice(h * Dh, (h + 1) * Dh)
            q, k, v = qkv[b, :, :D][:, cols], qkv[b, :, D:2 * D][:, cols], qkv[b, :, 2 * D:][:, cols]
            logits = np.empty((N, N))
            for i in range(N):
                for j in range(N):
                    logits[i, j] = q[i] @ (k[j] + rel_pos[i - j + N - 1, cols]) / math.sqrt(Dh)
            att = np.exp(logits - logits.max(axis=1, keepdims=True))
            att /= att.sum(axis=1, keepdims=True)
            expected[b, :, cols] = att @ v
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cache.att.sum(axis=-1), 1.0, rtol=1e-12)


def test_relative_offsets():
    offsets = ops.relative_offsets(3)
    assert offsets.tolist() == [[2, 1, 0], [3, 2, 1], [4, 3, 2]]  # entry (i, j) = i - j + N - 1


def test_layernorm_gives_zero_mean_unit_variance(rng):
    x = rng.standard_normal((4, 9, 10)) * 5 + 3
    y, cache = ops.layernorm_forward(x, np.ones(10), np.zeros(10), eps=1e-6)
    np.testing.assert_allclose(y.mean(axis=-1), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(cache.mean[..., 0], x.mean(axis=-1), rtol=1e-12)
    np.testing.assert_allclose(cache.rstd[..., 0], 1.0 / np.sqrt(x.var(axis=-1) + 1e-6), rtol=1e-12)


def test_gelu_known_values():
    x = np.array([-3.0, -1.0, 0.0, 1.0, 2.0])
    exact, _ = ops.gelu_forward(x, "erf")
    phi = np.array([0.0013498980316301, 0.15865525393145707, 0.5, 0.8413447460685429, 0.9772498680518208])
    np.testing.assert_allclose(exact, x * phi, rtol=1e-12)
    approx, _ = ops.gelu_forward(x, "tanh")
    assert np.max(np.abs(approx - exact)) < 5e-4  # the two forms differ by at most 4.7e-4


def test_softmax_rows_sum_to_one_and_survive_huge_logits():
    y, _ = ops.softmax_forward(np.array([[1000.0, 1000.0, -1000.0], [0.0, 0.0, 0.0]]))
    np.testing.assert_allclose(y, [[0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]], atol=1e-15)


def test_cross_entropy_of_uniform_logits_is_log_classes():
    loss, _ = ops.cross_entropy_forward(np.zeros((4, 10)), np.array([0, 3, 9, 2]))
    assert loss == pytest.approx(math.log(10), rel=1e-12)
    loss, _ = ops.cross_entropy_forward(np.zeros((4, 10)), np.array([0, 3, 9, 2]), smoothing=0.1)
    assert loss == pytest.approx(math.log(10), rel=1e-12)  # any target distribution: still log K


def test_cross_entropy_rejects_bad_labels():
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        ops.cross_entropy_forward(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="integers"):
        ops.cross_entropy_forward(np.zeros((2, 3)), np.array([0.0, 1.0]))


def test_dropout_is_identity_at_evaluation_and_keeps_the_mean(rng):
    x = np.ones((200, 500))
    y, cache = ops.dropout_forward(x, 0.25, rng, train=False)
    assert y is x and cache.mask is None
    y, cache = ops.dropout_forward(x, 0.25, np.random.default_rng(0), train=True)
    assert abs((y == 0).mean() - 0.25) < 0.01
    assert set(np.unique(y)) == {0.0, 1 / 0.75}
    y2, _ = ops.dropout_forward(x, 0.25, np.random.default_rng(0), train=True)
    assert np.array_equal(y, y2)  # same seed, same mask


def test_sincos2d_table():
    table = ops.sincos2d_table(grid=3, dim=8, has_cls=True, dtype=np.float64)
    assert table.shape == (10, 8)
    assert np.all(table[0] == 0)  # [CLS] gets no position
    # patch (row 1, col 2) is token 1 + 1*3 + 2; frequencies are 1 and 1/10000 for D/4 = 2
    w = np.array([1.0, 1e-4])
    np.testing.assert_allclose(table[1 + 5], np.concatenate([np.sin(2 * w), np.cos(2 * w), np.sin(w), np.cos(w)]))


def test_learned2d_concatenates_x_then_y(rng):
    xt, yt, cls = rng.standard_normal((3, 2)), rng.standard_normal((2, 2)), rng.standard_normal(4)
    table = ops.learned2d_forward(xt, yt, cls)
    assert table.shape == (1 + 6, 4)
    assert np.array_equal(table[0], cls)
    assert np.array_equal(table[1 + 1 * 3 + 2], np.concatenate([xt[2], yt[1]]))  # row 1, col 2


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ops_keep_the_dtype(rng, dtype):
    """No silent upcast: a float32 input gives float32 outputs and gradients."""
    x = rng.standard_normal((2, 5, 6)).astype(dtype)
    w, b = rng.standard_normal((6, 18)).astype(dtype), np.zeros(18, dtype)
    qkv, lc = ops.linear_forward(x, w, b)
    out, ac = ops.attention_forward(qkv, 2, rng.standard_normal((9, 6)).astype(dtype))
    ln, lnc = ops.layernorm_forward(out, np.ones(6, dtype), np.zeros(6, dtype))
    ge, gc = ops.gelu_forward(ln, "erf")
    ge2, gc2 = ops.gelu_forward(ln, "tanh")
    sm, sc = ops.softmax_forward(ge)
    loss, cc = ops.cross_entropy_forward(sm[:, 0], np.array([1, 2]), 0.1)
    for arr in (qkv, out, ln, ge, ge2, sm, loss, ac.att, lnc.rstd, lnc.mean):
        assert arr.dtype == dtype
    grads = [ops.cross_entropy_backward(1.0, cc), ops.softmax_backward(sm, sc), ops.gelu_backward(ge, gc),
             ops.gelu_backward(ge, gc2), *ops.layernorm_backward(ln, lnc), *ops.attention_backward(out, ac),
             *ops.linear_backward(qkv, lc)]
    for g in grads:
        assert g.dtype == dtype
    param = rng.standard_normal(6).astype(dtype)
    m, v = np.zeros_like(param), np.zeros_like(param)
    ops.adamw_update(param, param.copy(), m, v, step=1, lr=1e-3, weight_decay=0.05)
    assert param.dtype == m.dtype == v.dtype == dtype


def test_adamw_first_step_moves_every_weight_by_lr():
    param = np.array([1.0, -2.0, 3.0])
    grad = np.array([0.5, -0.1, 1e-3])
    m, v = np.zeros(3), np.zeros(3)
    ops.adamw_update(param, grad, m, v, step=1, lr=0.1, eps=0.0, weight_decay=0.0)
    # after bias correction m_hat / sqrt(v_hat) = sign(grad): every weight moves by exactly lr
    np.testing.assert_allclose(param, [0.9, -1.9, 2.9])
    param = np.array([2.0])
    ops.adamw_update(param, np.zeros(1), np.zeros(1), np.zeros(1), step=1, lr=0.1, eps=1e-8, weight_decay=0.5)
    np.testing.assert_allclose(param, [2.0 * (1 - 0.1 * 0.5)])  # decoupled decay alone


@pytest.mark.parametrize("call,message", [
    (lambda x: ops.pool_forward(x, "max"), "pool mode must be 'cls' or 'gap', got 'max'"),        # was: a mean
    (lambda x: ops.gelu_forward(x, "foo"), "GELU approximate must be 'erf' or 'tanh', got 'foo'"),  # was: erf
    (lambda x: ops.dropout_forward(x, 1.5, np.random.default_rng(0), True), "dropout rate must be in"),
    (lambda x: ops.dropout_forward(x, 1.0, np.random.default_rng(0), True), r"\[0, 1\), got 1.0"),  # was: 1/0
    (lambda x: ops.cross_entropy_forward(x[0], np.zeros(3, np.int64), 1.5), "label smoothing must be in"),
])
def test_settings_that_would_compute_something_else_are_refused(call, message):
    from tinyvit import TinyViTError

    with pytest.raises(TinyViTError, match=message):
        call(np.ones((2, 3, 4)))
