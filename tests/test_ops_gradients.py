"""Every operation's backward against central finite differences, in float64.

Each check uses the scalar loss L = sum(out * G) for a fixed random G, so dL/dout = G, and
compares the backward's gradients with (L(x + h) - L(x - h)) / 2h, entry by entry. Shapes
are deliberately not square and not powers of two, so a transposed axis cannot hide.
"""

from __future__ import annotations

import numpy as np
import pytest

from tinyvit import ops
from tinyvit.gradcheck import numerical_gradient, rel_error
from tinyvit.model.layers import block_backward, block_forward, mhsa_backward, mhsa_forward, mlp_backward, mlp_forward

TOL = 1e-7
REF = ops  # the reference backend namespace: same names as tinyvit.backend.get_ops('numpy')


def check(forward, backward, inputs: dict, rng, wrt=None):
    """forward(**inputs) -> out (array, or tuple whose first item is the array); backward(G) -> grads.

    `backward(G, forward_result)` returns {input name: gradient}; each is checked.
    Returns the worst relative error.
    """
    result = forward(**inputs)
    out = result[0] if isinstance(result, tuple) else result
    G = rng.standard_normal(np.shape(out))
    analytic = backward(G, result)

    def loss():
        r = forward(**inputs)
        return float(np.sum((r[0] if isinstance(r, tuple) else r) * G))

    worst = 0.0
    for name in wrt or analytic:
        numeric = numerical_gradient(loss, inputs[name])
        err = rel_error(analytic[name], numeric)
        assert err < TOL, f"d/d{name}: relative error {err:.2e}"
        worst = max(worst, err)
    return worst


def test_patchify(rng):
    x = rng.standard_normal((2, 6, 9, 2))  # rectangular image, 2x3 grid of 3x3 patches
    check(lambda x: ops.patchify_forward(x, 3),
          lambda G, r: {"x": ops.patchify_backward(G, r[1])}, {"x": x}, rng)


def test_linear(rng):
    x, w, b = rng.standard_normal((2, 3, 5)), rng.standard_normal((5, 7)), rng.standard_normal(7)

    def backward(G, r):
        dx, dw, db = ops.linear_backward(G, r[1])
        return {"x": dx, "w": dw, "b": db}

    check(ops.linear_forward, backward, {"x": x, "w": w, "b": b}, rng)


def test_layernorm(rng):
    x = rng.standard_normal((3, 5, 7)) * 2 + 1
    gamma, beta = rng.standard_normal(7), rng.standard_normal(7)

    def backward(G, r):
        dx, dgamma, dbeta = ops.layernorm_backward(G, r[1])
        return {"x": dx, "gamma": dgamma, "beta": dbeta}

    check(lambda x, gamma, beta: ops.layernorm_forward(x, gamma, beta, 1e-6), backward,
          {"x": x, "gamma": gamma, "beta": beta}, rng)


def test_layernorm_adds_the_skip_gradient(rng):
    """layernorm_backward(dy, cache, dskip): x feeds the LayerNorm and a skip connection, so for
    L = sum(LN(x) * G) + sum(x * G_skip) its gradient is the sum of both paths'."""
    x = rng.standard_normal((3, 5, 7)) * 2 + 1
    gamma, beta = rng.standard_normal(7), rng.standard_normal(7)
    G, G_skip = rng.standard_normal(x.shape), rng.standard_normal(x.shape)

    def loss():
        return float(np.sum(ops.layernorm_forward(x, gamma, beta, 1e-6)[0] * G) + np.sum(x * G_skip))

    dx, _, _ = ops.layernorm_backward(G, ops.layernorm_forward(x, gamma, beta, 1e-6)[1], G_skip)
    err = rel_error(dx, numerical_gradient(loss, x))
    assert err < TOL, f"relative error {err:.2e}"


@pytest.mark.parametrize("approximate", ["erf", "tanh"])
def test_gelu(rng, approximate):
    x = rng.standard_normal((3, 7)) * 3
    check(lambda x: ops.gelu_forward(x, approximate),
          lambda G, r: {"x": ops.gelu_backward(G, r[1])}, {"x": x}, rng)


def test_softmax(rng):
    x = rng.standard_normal((3, 5, 7)) * 3
    check(ops.softmax_forward, lambda G, r: {"x": ops.softmax_backward(G, r[1])}, {"x": x}, rng)


@pytest.mark.parametrize("heads,relative", [(2, False), (3, False), (1, True), (3, True), (6, True)])
def test_attention(rng, heads, relative):
    B, N, D = 2, 5, 6  # heads=6 -> head_dim 1
    inputs = {"qkv": rng.standard_normal((B, N, 3 * D))}
    if relative:
        inputs["rel_pos"] = rng.standard_normal((2 * N - 1, D)) * 0.5

    def forward(qkv, rel_pos=None):
        return ops.attention_forward(qkv, heads, rel_pos)

    def backward(G, r):
        dqkv, drel = ops.attention_backward(G, r[1])
        return {"qkv": dqkv, "rel_pos": drel} if relative else {"qkv": dqkv}

    check(forward, backward, inputs, rng)


def test_dropout(rng):
    x = rng.standard_normal((3, 5, 7))

    def forward(x):  # a fresh generator with the same seed -> the same mask every call
        return ops.dropout_forward(x, 0.3, np.random.default_rng(7), train=True)

    check(forward, lambda G, r: {"x": ops.dropout_backward(G, r[1])}, {"x": x}, rng)


def test_residual(rng):
    x, fx = rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 5, 3))

    def backward(G, r):
        dx, dfx = ops.residual_backward(G)
        return {"x": dx, "fx": dfx}

    check(ops.residual_forward, backward, {"x": x, "fx": fx}, rng)


def test_cls_prepend(rng):
    x, cls = rng.standard_normal((3, 5, 7)), rng.standard_normal(7)

    def backward(G, r):
        dx, dcls = ops.cls_prepend_backward(G)
        return {"x": dx, "cls": dcls}

    check(ops.cls_prepend_forward, backward, {"x": x, "cls": cls}, rng)


def test_pos_add(rng):
    x, table = rng.standard_normal((3, 5, 7)), rng.standard_normal((5, 7))

    def backward(G, r):
        dx, dtable = ops.pos_add_backward(G)
        return {"x": dx, "table": dtable}

    check(ops.pos_add_forward, backward, {"x": x, "table": table}, rng)


@pytest.mark.parametrize("mode", ["cls", "gap"])
def test_pool(rng, mode):
    x = rng.standard_normal((3, 5, 7))
    check(lambda x: ops.pool_forward(x, mode), lambda G, r: {"x": ops.pool_backward(G, r[1])}, {"x": x}, rng)


@pytest.mark.parametrize("has_cls", [True, False])
def test_learned2d(rng, has_cls):
    gh, gw, half = 2, 3, 4  # a non-square grid, so X and Y cannot be swapped unnoticed
    inputs = {"x_table": rng.standard_normal((gw, half)), "y_table": rng.standard_normal((gh, half))}
    if has_cls:
        inputs["cls"] = rng.standard_normal(2 * half)

    def forward(x_table, y_table, cls=None):
        return ops.learned2d_forward(x_table, y_table, cls)

    def backward(G, r):
        dx, dy, dcls = ops.learned2d_backward(G, gh, gw, has_cls)
        return {"x_table": dx, "y_table": dy, **({"cls": dcls} if has_cls else {})}

    check(forward, backward, inputs, rng)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy(rng, smoothing):
    logits, labels = rng.standard_normal((5, 7)) * 2, np.array([0, 6, 3, 3, 1])

    def forward(logits):
        return ops.cross_entropy_forward(logits, labels, smoothing)

    check(forward, lambda G, r: {"logits": ops.cross_entropy_backward(float(G), r[1])}, {"logits": logits}, rng)


def test_patch_embedding(rng):
    """Patch embedding = patchify + linear; the gradient flows back into the image."""
    x, w, b = rng.standard_normal((2, 6, 6, 3)), rng.standard_normal((2 * 2 * 3, 5)), rng.standard_normal(5)

    def forward(x, w, b):
        patches, pc = ops.patchify_forward(x, 2)
        y, lc = ops.linear_forward(patches, w, b)
        return y, (pc, lc)

    def backward(G, r):
        pc, lc = r[1]
        dpatches, dw, db = ops.linear_backward(G, lc)
        return {"x": ops.patchify_backward(dpatches, pc), "w": dw, "b": db}

    check(forward, backward, {"x": x, "w": w, "b": b}, rng)


def block_params(rng, D, M, N, relative):
    p = {"norm1.weight": 1 + 0.3 * rng.standard_normal(D), "norm1.bias": rng.standard_normal(D),
         "attn.qkv.weight": rng.standard_normal((D, 3 * D)) * 0.5, "attn.qkv.bias": rng.standard_normal(3 * D),
         "attn.proj.weight": rng.standard_normal((D, D)) * 0.5, "attn.proj.bias": rng.standard_normal(D),
         "norm2.weight": 1 + 0.3 * rng.standard_normal(D), "norm2.bias": rng.standard_normal(D),
         "mlp.fc1.weight": rng.standard_normal((D, M)) * 0.5, "mlp.fc1.bias": rng.standard_normal(M),
         "mlp.fc2.weight": rng.standard_normal((M, D)) * 0.5, "mlp.fc2.bias": rng.standard_normal(D)}
    if relative:
        p["attn.rel_pos"] = rng.standard_normal((2 * N - 1, D)) * 0.3
    return p


@pytest.mark.parametrize("relative", [False, True])
def test_mhsa(rng, relative):
    B, N, D, heads = 2, 5, 6, 3
    p = block_params(rng, D, 7, N, relative)
    inputs = {"x": rng.standard_normal((B, N, D)), **{k: v for k, v in p.items() if k.startswith("attn.")}}

    def forward(x, **p):
        return mhsa_forward(REF, x, p, heads)

    def backward(G, r):
        dx, g = mhsa_backward(REF, G, r[1])
        return {"x": dx, **g}

    check(forward, backward, inputs, rng)


@pytest.mark.parametrize("gelu", ["erf", "tanh"])
def test_mlp(rng, gelu):
    B, N, D, M = 2, 5, 6, 7
    p = block_params(rng, D, M, N, False)
    inputs = {"x": rng.standard_normal((B, N, D)), **{k: v for k, v in p.items() if k.startswith("mlp.")}}

    def forward(x, **p):
        return mlp_forward(REF, x, p, gelu, 0.0, None, False)

    def backward(G, r):
        dx, g = mlp_backward(REF, G, r[1])
        return {"x": dx, **g}

    check(forward, backward, inputs, rng)


@pytest.mark.parametrize("relative,with_pos,dropout", [(False, False, 0.0), (True, False, 0.0), (False, True, 0.2)])
def test_block(rng, relative, with_pos, dropout):
    B, N, D, M, heads = 2, 5, 6, 7, 2
    inputs = {"x": rng.standard_normal((B, N, D)), **block_params(rng, D, M, N, relative)}
    if with_pos:
        inputs["pos_table"] = rng.standard_normal((N, D))

    def forward(x, pos_table=None, **p):
        return block_forward(REF, x, p, heads=heads, gelu="erf", eps=1e-6, dropout=dropout,
                             rng=np.random.default_rng(3), train=True, pos_table=pos_table)

    def backward(G, r):
        dx, g = block_backward(REF, G, r[1], has_pos_table=with_pos)
        return {"x": dx, **g}

    check(forward, backward, inputs, rng)
