"""Position embeddings: every variant of the ViT paper's Table 8, plus SimpleViT's sin-cos.

Attention treats its input as a set, so without position information a ViT sees a bag of
patches. The variants (ViTConfig.pos_embed):

- 'none': nothing is added.
- 'learned': one learned vector per token position, [CLS] included (1-D, the default).
- 'learned2d': an X table and a Y table of width D/2; a patch at (row, col) gets
  concat(X[col], Y[row]); [CLS] gets its own learned vector.
- 'sincos2d': the same X/Y idea with fixed sines and cosines (no parameters); [CLS] gets zeros.
- 'relative': no table is added to the tokens; each attention layer learns one key per
  offset p_q - p_k between the 1-D positions of query and key (see ops/attention.py).
  Tokens are numbered in sequence order, so [CLS] is position 0 and patch (r, c) is
  position 1 + r*grid + c: [CLS] uses the offsets -(N-1)..-1 towards the patches (and
  the patches +1..+(N-1) towards it), exactly as if it were a patch before the first one.
"""

from __future__ import annotations

import numpy as np


def learned2d_forward(x_table: np.ndarray, y_table: np.ndarray,
                      cls: np.ndarray | None) -> np.ndarray:
    """x_table (gw, D/2), y_table (gh, D/2), cls (D,) or None -> table (N, D).

    Row r*gw + c of the patch part is concat(x_table[c], y_table[r]), raster order.
    """
    gw, half = x_table.shape
    gh = y_table.shape[0]
    xs = np.broadcast_to(x_table[None, :, :], (gh, gw, half))   # column c -> x_table[c]
    ys = np.broadcast_to(y_table[:, None, :], (gh, gw, half))   # row r    -> y_table[r]
    table = np.concatenate([xs, ys], axis=-1).reshape(gh * gw, 2 * half)
    if cls is not None:
        table = np.concatenate([cls[None, :], table], axis=0)   # [CLS] row first
    return table


def learned2d_backward(dtable: np.ndarray, gh: int, gw: int,
                       has_cls: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """dtable (N, D) -> dx_table (gw, D/2), dy_table (gh, D/2), dcls (D,) or None."""
    dcls = dtable[0] if has_cls else None                      # undo the [CLS] row concat
    grid = dtable[1:] if has_cls else dtable
    grid = grid.reshape(gh, gw, -1)                             # undo the raster reshape
    half = grid.shape[-1] // 2
    dx_table = grid[..., :half].sum(axis=0)                     # x_table[c] was used by every row
    dy_table = grid[..., half:].sum(axis=1)                     # y_table[r] was used by every column
    return dx_table, dy_table, dcls


def sincos2d_table(grid: int, dim: int, has_cls: bool, dtype=np.float32,
                   temperature: float = 10000.0) -> np.ndarray:
    """Fixed 2-D sine-cosine table (N, D), as in SimpleViT; dim must be divisible by 4.

    A patch at (row, col) gets [sin(col*w), cos(col*w), sin(row*w), cos(row*w)] with D/4
    frequencies w = temperature^(-k / (D/4 - 1)) for k = 0 .. D/4-1 (D/4 = 1: w = 1).
    """
    quarter = dim // 4
    k = np.arange(quarter, dtype=np.float64)
    omega = 1.0 / temperature ** (k / max(quarter - 1, 1))      # (D/4,)
    rows, cols = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")
    x = cols.reshape(-1, 1) * omega[None, :]                    # (N, D/4)
    y = rows.reshape(-1, 1) * omega[None, :]
    table = np.concatenate([np.sin(x), np.cos(x), np.sin(y), np.cos(y)], axis=1)
    if has_cls:
        table = np.concatenate([np.zeros((1, dim)), table], axis=0)
    return table.astype(dtype)


def relative_offsets(n: int) -> np.ndarray:
    """(N, N) int index: entry (i, j) = i - j + N - 1, the row of offset p_q - p_k in a (2N-1) table."""
    i = np.arange(n)
    return i[:, None] - i[None, :] + n - 1
