"""Cut images into patch rows and glue them back: (B, H, W, C) <-> (B, N, P*P*C)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PatchifyCache:
    image_shape: tuple  # (B, H, W, C), what the backward must rebuild
    patch_size: int


def patchify_forward(x: np.ndarray, patch_size: int) -> tuple[np.ndarray, PatchifyCache]:
    """Images (B, H, W, C) -> patch rows (B, N, P*P*C).

    The grid is read in raster order (row by row) and the pixels inside a patch are
    ordered (row, col, channel). With that order a patch-embedding kernel of shape
    (P, P, C, D) reshaped to (P*P*C, D) is exactly the official ViT checkpoint layout.
    """
    B, H, W, C = x.shape
    P = patch_size
    gh, gw = H // P, W // P
    x = x.reshape(B, gh, P, gw, P, C)       # split rows into (grid row, row in patch), same for cols
    x = x.transpose(0, 1, 3, 2, 4, 5)       # (B, gh, gw, P, P, C): grid first, patch content last
    patches = x.reshape(B, gh * gw, P * P * C)
    return patches, PatchifyCache(image_shape=(B, H, W, C), patch_size=P)


def patchify_backward(dpatches: np.ndarray, cache: PatchifyCache) -> np.ndarray:
    """Patch-row gradients (B, N, P*P*C) -> image gradient (B, H, W, C).

    Patchify only moves numbers around, so its backward moves them back: it *is* unpatchify.
    """
    return unpatchify(dpatches, cache.patch_size, cache.image_shape[1], cache.image_shape[2])


def unpatchify(patches: np.ndarray, patch_size: int, height: int, width: int) -> np.ndarray:
    """Patch rows (B, N, P*P*C) -> images (B, H, W, C); the exact inverse of patchify."""
    B, N, PPC = patches.shape
    P = patch_size
    gh, gw = height // P, width // P
    C = PPC // (P * P)
    x = patches.reshape(B, gh, gw, P, P, C)  # undo the final reshape of patchify_forward
    x = x.transpose(0, 1, 3, 2, 4, 5)       # undo the transpose: (B, gh, P, gw, P, C)
    return x.reshape(B, height, width, C)   # undo the split of rows and cols
