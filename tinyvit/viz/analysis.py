"""The numbers behind the paper's Figs. 6 and 7, computed from a model's parameters and caches."""

from __future__ import annotations

import numpy as np


def position_similarity(table: np.ndarray, grid: int) -> np.ndarray:
    """Cosine similarity of every patch's position embedding with every other: (g, g, g, g).

    `table` is (N, D) with the g*g patch rows last (a [CLS] row first is skipped).
    Entry [r, c] is a g x g map of how similar position (r, c) is to each position:
    a trained 1-D table shows rows and columns, as in Fig. 7 (centre).
    """
    patches = table[-grid * grid:]                                           # (g*g, D)
    unit = patches / np.maximum(np.linalg.norm(patches, axis=1, keepdims=True), 1e-12)
    return (unit @ unit.T).reshape(grid, grid, grid, grid)


def mean_attention_distance(att: np.ndarray, grid: int, patch_size: int, has_cls: bool) -> np.ndarray:
    """Mean attention distance in pixels per head: (H,), averaged over images and queries.

    For every query patch, the pixel distance to every key patch weighted by the
    attention it pays there (Fig. 7, right). [CLS] is left out, and the patch-to-patch
    weights are renormalised to sum to one. Small = local, like a convolution; large = global.
    """
    if has_cls:
        att = att[:, :, 1:, 1:]                                             # (B, H, g*g, g*g)
    att = att / att.sum(axis=-1, keepdims=True)
    rows, cols = np.divmod(np.arange(grid * grid), grid)
    dist = np.hypot(rows[:, None] - rows[None, :], cols[:, None] - cols[None, :]) * patch_size
    return (att * dist).sum(axis=-1).mean(axis=(0, 2))                      # (H,)


def attention_rollout(att_maps: list[np.ndarray]) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema 2020; the paper's Fig. 6): (B, N, N).

    Each layer's attention is averaged over heads, the residual connection is accounted
    for by adding the identity (half and half), rows are renormalised, and the layers are
    multiplied together: entry [b, i, j] says how much of token j reaches token i at the top.
    """
    B, _, N, _ = att_maps[0].shape
    rollout = np.broadcast_to(np.eye(N), (B, N, N))
    for att in att_maps:
        a = 0.5 * att.mean(axis=1) + 0.5 * np.eye(N)                        # (B, N, N)
        a = a / a.sum(axis=-1, keepdims=True)
        rollout = a @ rollout
    return rollout


def patch_filter_components(weight: np.ndarray, patch_size: int, channels: int,
                            count: int = 28) -> np.ndarray:
    """The leading principal components of the patch-embedding filters, as images (K, P, P, C).

    `weight` is (P*P*C, D): column d is the filter of output channel d. Fig. 7 (left) shows
    that the top components look like plausible basis functions for a patch's structure.
    """
    w = weight - weight.mean(axis=1, keepdims=True)                         # centre over the D filters
    u, _, _ = np.linalg.svd(w, full_matrices=False)                         # columns: components
    count = min(count, u.shape[1])
    return u[:, :count].T.reshape(count, patch_size, patch_size, channels)
