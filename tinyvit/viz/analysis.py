"""The numbers behind the paper's Figs. 6 and 7, computed from a model's parameters and caches."""

from __future__ import annotations

import numbers

import numpy as np

from tinyvit.errors import TinyViTError


def _check_tokens(what: str, count: int, grid: int, cls_allowed: bool = True) -> None:
    """count tokens must be the grid x grid patches (and, if allowed, a [CLS] token)."""
    fits = (grid * grid, grid * grid + 1) if cls_allowed else (grid * grid,)
    if count not in fits:
        raise TinyViTError(f"{what} has {count} tokens, but a {grid}x{grid} grid of patches has {grid * grid}"
                           + (" (or one more with [CLS])." if cls_allowed else "."))


def position_similarity(table: np.ndarray, grid: int) -> np.ndarray:
    """Cosine similarity of every patch's position embedding with every other: (g, g, g, g).

    `table` is (N, D) with the g*g patch rows last (a [CLS] row first is skipped).
    Entry [r, c] is a g x g map of how similar position (r, c) is to each position:
    a trained 1-D table shows rows and columns, as in Fig. 7 (centre).
    """
    if np.ndim(table) != 2:
        raise TinyViTError(f"position_similarity needs an (N, D) table, got shape {np.shape(table)}.")
    _check_tokens("the position table", len(table), grid)
    patches = table[-grid * grid:]                                           # (g*g, D)
    unit = patches / np.maximum(np.linalg.norm(patches, axis=1, keepdims=True), 1e-12)
    return (unit @ unit.T).reshape(grid, grid, grid, grid)


def mean_attention_distance(att: np.ndarray, grid: int, patch_size: int, has_cls: bool) -> np.ndarray:
    """Mean attention distance in pixels per head: (H,), averaged over images and queries.

    For every query patch, the pixel distance to every key patch weighted by the
    attention it pays there (Fig. 7, right). [CLS] is left out, and the patch-to-patch
    weights are renormalised to sum to one. Small = local, like a convolution; large = global.
    """
    if np.ndim(att) != 4 or att.shape[-1] != att.shape[-2]:
        raise TinyViTError(f"mean_attention_distance needs attention maps (B, H, N, N), got shape {np.shape(att)}.")
    if not isinstance(has_cls, (bool, np.bool_)):
        raise TinyViTError(f"mean_attention_distance: has_cls must be True or False, got {has_cls!r}.")
    _check_tokens("the attention map", att.shape[-1] - has_cls, grid, cls_allowed=False)
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
    if isinstance(att_maps, np.ndarray) or not att_maps:
        raise TinyViTError("attention_rollout needs a non-empty list of attention maps (B, H, N, N), one per "
                           "block, as model.attention_maps() returns.")
    shapes = {np.shape(att) for att in att_maps}
    if len(shapes) != 1 or len(next(iter(shapes))) != 4:
        raise TinyViTError(f"attention_rollout needs maps of one shape (B, H, N, N), got {sorted(shapes)}.")
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
    if np.ndim(weight) != 2 or weight.shape[0] != patch_size * patch_size * channels:
        raise TinyViTError(f"patch_filter_components needs a (P*P*C, D) = ({patch_size * patch_size * channels}, D) "
                           f"weight, got shape {np.shape(weight)}.")
    if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 1:
        raise TinyViTError(f"patch_filter_components: count must be a positive whole number, got {count!r}.")
    if not np.isfinite(weight).all():   # the SVD would fail to converge, with a LinAlgError
        raise TinyViTError("patch_filter_components: the weight holds NaN or infinite values.")
    count = int(count)
    w = weight - weight.mean(axis=1, keepdims=True)                         # centre over the D filters
    u, _, _ = np.linalg.svd(w, full_matrices=False)                         # columns: components
    count = min(count, u.shape[1])
    return u[:, :count].T.reshape(count, patch_size, patch_size, channels)
