"""The pre-norm Transformer block, spelled out operation by operation.

Each function takes `ops`, the backend namespace (see tinyvit/backend.py), and `p`, the
block's parameters under their local names ('norm1.weight', 'attn.qkv.weight', ...).
Each backward returns the gradients under the same local names.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyvit.ops import (
    AttentionCache,
    DropoutCache,
    GeluCache,
    LayerNormCache,
    LinearCache,
    dropout_backward,
    dropout_forward,
    pos_add_backward,
    pos_add_forward,
    residual_backward,
    residual_forward,
)


@dataclass
class MHSACache:
    qkv: LinearCache        # the fused q, k, v projection
    attn: AttentionCache    # .att holds the attention probabilities (B, H, N, N)
    proj: LinearCache       # the output projection


def mhsa_forward(ops, x: np.ndarray, p: dict, heads: int) -> tuple[np.ndarray, MHSACache]:
    """Multi-head self-attention. x (B, N, D) -> (B, N, D)."""
    qkv, qkv_cache = ops.linear_forward(x, p["attn.qkv.weight"], p["attn.qkv.bias"])   # (B, N, 3D)
    a, attn_cache = ops.attention_forward(qkv, heads, p.get("attn.rel_pos"))          # (B, N, D)
    y, proj_cache = ops.linear_forward(a, p["attn.proj.weight"], p["attn.proj.bias"])  # (B, N, D)
    return y, MHSACache(qkv=qkv_cache, attn=attn_cache, proj=proj_cache)


def mhsa_backward(ops, dy: np.ndarray, cache: MHSACache) -> tuple[np.ndarray, dict]:
    """dy (B, N, D) -> dx (B, N, D), grads."""
    g = {}
    da, g["attn.proj.weight"], g["attn.proj.bias"] = ops.linear_backward(dy, cache.proj)
    dqkv, drel = ops.attention_backward(da, cache.attn)
    if drel is not None:
        g["attn.rel_pos"] = drel
    dx, g["attn.qkv.weight"], g["attn.qkv.bias"] = ops.linear_backward(dqkv, cache.qkv)
    return dx, g


@dataclass
class MLPCache:
    fc1: LinearCache
    act: GeluCache          # .x holds the pre-GELU activations (B, N, M)
    drop: DropoutCache
    fc2: LinearCache


def mlp_forward(ops, x: np.ndarray, p: dict, gelu: str, dropout: float,
                rng: np.random.Generator, train: bool) -> tuple[np.ndarray, MLPCache]:
    """The MLP: linear, GELU, (dropout), linear. x (B, N, D) -> (B, N, D).

    linear + GELU is one operation (ops/fused.py) so a backend may fuse them; act.x is still
    the pre-GELU activation.
    """
    a, fc1, act = ops.linear_gelu_forward(x, p["mlp.fc1.weight"], p["mlp.fc1.bias"], gelu)  # (B, N, M)
    a, drop = dropout_forward(a, dropout, rng, train)                          # (B, N, M)
    y, fc2 = ops.linear_forward(a, p["mlp.fc2.weight"], p["mlp.fc2.bias"])    # (B, N, D)
    return y, MLPCache(fc1=fc1, act=act, drop=drop, fc2=fc2)


def mlp_backward(ops, dy: np.ndarray, cache: MLPCache) -> tuple[np.ndarray, dict]:
    """dy (B, N, D) -> dx (B, N, D), grads."""
    g = {}
    da, g["mlp.fc2.weight"], g["mlp.fc2.bias"] = ops.linear_backward(dy, cache.fc2)
    da = dropout_backward(da, cache.drop)
    dx, g["mlp.fc1.weight"], g["mlp.fc1.bias"] = ops.linear_gelu_backward(da, cache.fc1, cache.act)
    return dx, g


@dataclass
class BlockCache:
    norm1: LayerNormCache   # .mean and .rstd of every token before attention
    attn: MHSACache
    drop1: DropoutCache
    norm2: LayerNormCache   # ... and before the MLP
    mlp: MLPCache
    drop2: DropoutCache


def block_forward(ops, x: np.ndarray, p: dict, *, heads: int, gelu: str, eps: float,
                  dropout: float, rng: np.random.Generator, train: bool,
                  pos_table: np.ndarray | None = None) -> tuple[np.ndarray, BlockCache]:
    """One pre-norm block: x + MHSA(LN(x)), then x + MLP(LN(x)). x (B, N, D) -> (B, N, D).

    `pos_table` (N, D) is added at the block's input when position embeddings are placed
    at every layer (ViT paper, Table 8).
    """
    if pos_table is not None:
        x = pos_add_forward(x, pos_table)                                              # (B, N, D)
    h, norm1 = ops.layernorm_forward(x, p["norm1.weight"], p["norm1.bias"], eps)       # (B, N, D)
    a, attn = mhsa_forward(ops, h, p, heads)                                           # (B, N, D)
    a, drop1 = dropout_forward(a, dropout, rng, train)
    x = residual_forward(x, a)                                                         # (B, N, D)
    h, norm2 = ops.layernorm_forward(x, p["norm2.weight"], p["norm2.bias"], eps)       # (B, N, D)
    m, mlp = mlp_forward(ops, h, p, gelu, dropout, rng, train)                         # (B, N, D)
    m, drop2 = dropout_forward(m, dropout, rng, train)
    x = residual_forward(x, m)                                                         # (B, N, D)
    return x, BlockCache(norm1=norm1, attn=attn, drop1=drop1, norm2=norm2, mlp=mlp, drop2=drop2)


def block_backward(ops, dy: np.ndarray, cache: BlockCache,
                   has_pos_table: bool = False) -> tuple[np.ndarray, dict]:
    """dy (B, N, D) -> dx (B, N, D), grads (with 'pos_table' (N, D) if one was added)."""
    g = {}
    dx, dm = residual_backward(dy)                                   # x = x + m
    dm = dropout_backward(dm, cache.drop2)
    dh, g_mlp = mlp_backward(ops, dm, cache.mlp)                      # m = mlp(h)
    # h = LN(x): x had two uses, the LayerNorm and the skip connection, so its gradient is the
    # sum of both; layernorm_backward adds the skip path's dx to its own (dx + dx_LN).
    dx, g["norm2.weight"], g["norm2.bias"] = ops.layernorm_backward(dh, cache.norm2, dx)
    dx, da = residual_backward(dx)                                    # x = x + a
    da = dropout_backward(da, cache.drop1)
    dh, g_attn = mhsa_backward(ops, da, cache.attn)                   # a = mhsa(h)
    dx, g["norm1.weight"], g["norm1.bias"] = ops.layernorm_backward(dh, cache.norm1, dx)   # h = LN(x)
    if has_pos_table:
        dx, g["pos_table"] = pos_add_backward(dx)                     # x = x + pos_table
    g.update(g_mlp)
    g.update(g_attn)
    return dx, g
