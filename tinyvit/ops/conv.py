"""A direct 2-D convolution, written as loops: the yardstick that patch embedding is checked against."""

from __future__ import annotations

import numpy as np


def conv2d_direct(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, stride: int) -> np.ndarray:
    """x (B, H, W, C), kernel (P, P, C, D) in HWIO order, bias (D,) -> (B, H', W', D), no padding.

    Every output pixel is the dot product of one P x P x C window with the kernel. With
    stride == P the windows tile the image without overlap: that is a patch embedding.
    """
    B, H, W, C = x.shape
    P = kernel.shape[0]
    Ho, Wo = (H - P) // stride + 1, (W - P) // stride + 1
    out = np.empty((B, Ho, Wo, kernel.shape[-1]), dtype=x.dtype)
    for i in range(Ho):
        for j in range(Wo):
            window = x[:, i * stride:i * stride + P, j * stride:j * stride + P, :]  # (B, P, P, C)
            out[:, i, j] = np.einsum("bpqc,pqcd->bd", window, kernel) + bias
    return out
