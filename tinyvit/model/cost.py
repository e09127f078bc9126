"""What a ViT costs: forward FLOPs per image, counted from the config alone."""

from __future__ import annotations

from tinyvit.config import ViTConfig


def forward_flops(c: ViTConfig) -> int:
    """Forward FLOPs for one image, counting matmuls and attention (one multiply-add = 2).

    LayerNorm, GELU, softmax and the adds are left out: they are a few percent. A training
    step costs about three times this, since the backward does two matmuls for every one
    of the forward (the input gradient and the weight gradient).
    """
    Np, N, D, M = c.num_patches, c.num_tokens, c.dim, c.mlp_dim
    per_block = 2 * N * D * 3 * D           # qkv projection
    per_block += 2 * N * N * D               # scores q @ k^T, all heads together
    per_block += 2 * N * N * D               # weighted sum att @ v
    if c.pos_embed == "relative":
        per_block += 2 * N * (2 * N - 1) * D  # every query against every offset key
    per_block += 2 * N * D * D               # output projection
    per_block += 2 * 2 * N * D * M           # the MLP's two linear layers
    patch_embed = 2 * Np * c.patch_dim * D
    head = 2 * D * c.num_classes
    return patch_embed + c.depth * per_block + head
