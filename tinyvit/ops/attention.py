"""Multi-head scaled dot-product self-attention, optionally with a relative-position bias.

This is the core between the two projections: qkv (B, N, 3D) in, merged heads (B, N, D)
out. The qkv and output projections are ordinary linear layers (see model/layers.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinyvit.ops.posembed import relative_offsets
from tinyvit.ops.softmax import SoftmaxCache, softmax_backward, softmax_forward


@dataclass
class AttentionCache:
    q: np.ndarray                 # (B, H, N, Dh) queries (before the 1/sqrt(Dh) scaling) ...
    k: np.ndarray                 # (B, H, N, Dh) keys ...
    v: np.ndarray                 # (B, H, N, Dh) ... and values: views of qkv, not copies
    att: np.ndarray               # (B, H, N, N) attention probabilities: row i = where token i looks
    rel: np.ndarray | None        # (H, 2N-1, Dh) relative-position keys, or None
    offsets: np.ndarray | None    # (N, N) index into the 2N-1 offsets: i - j + N - 1


def split_heads(t: np.ndarray, heads: int) -> np.ndarray:
    """(B, N, D) -> (B, H, N, Dh)."""
    B, N, D = t.shape
    return t.reshape(B, N, heads, D // heads).transpose(0, 2, 1, 3)


def merge_heads(t: np.ndarray) -> np.ndarray:
    """(B, H, N, Dh) -> (B, N, D); the inverse of split_heads."""
    B, H, N, Dh = t.shape
    return t.transpose(0, 2, 1, 3).reshape(B, N, H * Dh)


def attention_forward(qkv: np.ndarray, heads: int,
                      rel_pos: np.ndarray | None = None) -> tuple[np.ndarray, AttentionCache]:
    """qkv (B, N, 3D), rel_pos (2N-1, D) or None -> out (B, N, D).

    The 3D columns of qkv are [q of every head | k of every head | v of every head],
    the order of the official checkpoints (and timm's fused qkv layer).
    """
    B, N, D3 = qkv.shape
    D = D3 // 3
    Dh = D // heads
    q = split_heads(qkv[..., 0 * D:1 * D], heads)                # (B, H, N, Dh)
    k = split_heads(qkv[..., 1 * D:2 * D], heads)                # (B, H, N, Dh)
    v = split_heads(qkv[..., 2 * D:3 * D], heads)                # (B, H, N, Dh)
    qs = q * (1.0 / math.sqrt(Dh))                               # scale the query, as Flax does
    scores = qs @ k.swapaxes(-1, -2)                             # (B, H, N, N) content logits
    rel = offsets = None
    if rel_pos is not None:
        # Relative attention (ViT paper, appendix D.4): the same query also attends to one
        # learned key per offset p_q - p_k, and those logits are a bias on the content logits.
        rel = rel_pos.reshape(2 * N - 1, heads, Dh).transpose(1, 0, 2)  # (H, 2N-1, Dh)
        rel_logits = qs @ rel.swapaxes(-1, -2)                   # (B, H, N, 2N-1) query i vs every offset
        offsets = relative_offsets(N)                            # (N, N)
        scores = scores + np.take_along_axis(rel_logits, offsets[None, None], axis=-1)
    att, _ = softmax_forward(scores)                             # (B, H, N, N)
    out = att @ v                                                # (B, H, N, Dh)
    out = merge_heads(out)                                       # (B, N, D)
    return out, AttentionCache(q=q, k=k, v=v, att=att, rel=rel, offsets=offsets)


def attention_backward(dout: np.ndarray,
                       cache: AttentionCache) -> tuple[np.ndarray, np.ndarray | None]:
    """dout (B, N, D) -> dqkv (B, N, 3D), drel_pos (2N-1, D) or None."""
    q, k, v, att = cache.q, cache.k, cache.v, cache.att
    B, H, N, Dh = q.shape
    qs = q * (1.0 / math.sqrt(Dh))                               # the scaled query, as in the forward
    dout = split_heads(dout, H)                                  # undo merge_heads: (B, H, N, Dh)
    datt = dout @ v.swapaxes(-1, -2)                             # out = att @ v -> datt = dout @ v^T
    dv = att.swapaxes(-1, -2) @ dout                             #               -> dv = att^T @ dout
    dscores = softmax_backward(datt, SoftmaxCache(y=att))        # att = softmax(scores)
    dqs = dscores @ k                                            # scores = qs @ k^T -> dqs = dscores @ k
    dk = dscores.swapaxes(-1, -2) @ qs                           #                   -> dk = dscores^T @ qs
    drel_pos = None
    if cache.rel is not None:
        # Undo the gather: in row i every key j has its own offset, so a plain scatter suffices.
        drel_logits = np.zeros((B, H, N, 2 * N - 1), dtype=q.dtype)
        np.put_along_axis(drel_logits, cache.offsets[None, None], dscores, axis=-1)
        dqs += drel_logits @ cache.rel                           # rel_logits = qs @ rel^T
        drel = np.einsum("bhio,bhid->hod", drel_logits, qs)      # (H, 2N-1, Dh)
        drel_pos = drel.transpose(1, 0, 2).reshape(2 * N - 1, H * Dh)
    dq = dqs * (1.0 / math.sqrt(Dh))                             # qs = q * scale -> dq = dqs * scale
    D = H * Dh
    dqkv = np.empty((B, N, 3 * D), dtype=q.dtype)
    dqkv[..., 0 * D:1 * D] = merge_heads(dq)                     # undo the three split_heads
    dqkv[..., 1 * D:2 * D] = merge_heads(dk)
    dqkv[..., 2 * D:3 * D] = merge_heads(dv)
    return dqkv, drel_pos
