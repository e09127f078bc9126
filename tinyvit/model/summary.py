"""A layer-by-layer shape trace of one forward pass, read from the caches the model keeps.

    >>> for row in shape_trace(ViT(ViTConfig())): print(row)
    TraceRow(name='input', shape=(1, 32, 32, 3), params=0, note='images (B, H, W, C)')
    ...
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass
class TraceRow:
    name: str            # the layer, named like its parameters ('blocks.0.attn.qkv')
    shape: tuple | None  # the shape of what the layer outputs
    params: int          # trainable scalars owned by this layer
    note: str = ""


def _shape(obj, attr: str) -> tuple | None:
    value = getattr(obj, attr, None)
    return tuple(value.shape) if isinstance(value, np.ndarray) else None


def _linear_out(cache) -> tuple | None:
    """Output shape of a linear layer: its input's leading dims and its weight's columns."""
    x, w = _shape(cache, "x"), _shape(cache, "w")
    return x[:-1] + (w[1],) if x is not None and w is not None else None


def _count(model, *names: str) -> int:
    return int(sum(model.params[n].size for n in names if n in model.params))


def _prefixed(model, prefix: str) -> int:
    return int(sum(v.size for k, v in model.params.items() if k.startswith(prefix)))


def shape_trace(model, batch: int = 1) -> list[TraceRow]:
    """Run one forward pass on blank images and list every layer's output shape for a batch of `batch`.

    The pass itself runs on at most two images, whatever `batch` is: every output has the batch
    as its first axis, so the rest of each shape does not depend on it (and a batch too large for
    memory can still be described).
    """
    c = model.config
    traced = min(batch, 2)
    x = np.zeros((traced, c.image_size, c.image_size, c.in_channels), dtype=model.dtype)
    model.forward(x, train=False)
    cache = model.cache
    B, D, N, Np = traced, c.dim, c.num_tokens, c.num_patches
    rows = [TraceRow("input", tuple(x.shape), 0, "images (B, H, W, C)")]
    patches = _shape(cache.patch_embed, "x") or (B, Np, c.patch_dim)
    rows.append(TraceRow("patchify", patches, 0,
                         f"{c.grid_size}x{c.grid_size} patches of {c.patch_size}x{c.patch_size}x{c.in_channels}"))
    rows.append(TraceRow("patch_embed", _linear_out(cache.patch_embed) or (B, Np, D),
                         _count(model, "patch_embed.weight", "patch_embed.bias"), "linear P*P*C -> D"))
    if c.pool == "cls":
        rows.append(TraceRow("cls_token", (B, N, D), _count(model, "cls_token"), "prepend [CLS]"))
    stem_params = _prefixed(model, "pos_embed.")
    if c.pos_embed in ("learned", "learned2d", "sincos2d"):
        where = "added once" if c.pos_embed_placement == "stem" else f"added at every block ({c.pos_embed_placement})"
        rows.append(TraceRow("pos_embed", (B, N, D), stem_params, f"{c.pos_embed}, {where}"))
    elif c.pos_embed == "relative":
        rows.append(TraceRow("pos_embed", (B, N, D), 0, "relative: a bias inside every attention"))
    else:
        rows.append(TraceRow("pos_embed", (B, N, D), 0, "none: the tokens are an unordered bag"))
    for i, blk in enumerate(cache.blocks):
        p = f"blocks.{i}."
        tokens = _shape(blk.norm1, "x") or (B, N, D)
        if c.pos_embed_placement == "every_layer":
            rows.append(TraceRow(p + "pos_embed", tokens, _prefixed(model, p + "pos_embed."), "per-block table"))
        rows.append(TraceRow(p + "norm1", tokens, _count(model, p + "norm1.weight", p + "norm1.bias"), "LayerNorm"))
        qkv = _linear_out(blk.attn.qkv) or (B, N, 3 * D)
        rows.append(TraceRow(p + "attn.qkv", qkv, _count(model, p + "attn.qkv.weight", p + "attn.qkv.bias"),
                             f"q, k, v for {c.heads} heads of {c.head_dim}"))
        att = _shape(blk.attn.attn, "att") or (B, c.heads, N, N)
        rows.append(TraceRow(p + "attn.softmax", att, _count(model, p + "attn.rel_pos"),
                             "attention weights (B, heads, N, N)"))
        rows.append(TraceRow(p + "attn.proj", _linear_out(blk.attn.proj) or (B, N, D),
                             _count(model, p + "attn.proj.weight", p + "attn.proj.bias"), "merge heads, then linear"))
        rows.append(TraceRow(p + "residual1", tokens, 0, "x + attention"))
        rows.append(TraceRow(p + "norm2", tokens, _count(model, p + "norm2.weight", p + "norm2.bias"), "LayerNorm"))
        rows.append(TraceRow(p + "mlp.fc1", _linear_out(blk.mlp.fc1) or (B, N, c.mlp_dim),
                             _count(model, p + "mlp.fc1.weight", p + "mlp.fc1.bias"), f"then GELU ({c.gelu})"))
        rows.append(TraceRow(p + "mlp.fc2", _linear_out(blk.mlp.fc2) or (B, N, D),
                             _count(model, p + "mlp.fc2.weight", p + "mlp.fc2.bias"), ""))
        rows.append(TraceRow(p + "residual2", tokens, 0, "x + MLP"))
    rows.append(TraceRow("norm", _shape(cache.norm, "x") or (B, N, D),
                         _count(model, "norm.weight", "norm.bias"), "final LayerNorm"))
    pooled = _shape(cache.head, "x") or (B, D)
    rows.append(TraceRow("pool", pooled, 0, "token 0 ([CLS])" if c.pool == "cls" else "mean of the patch tokens"))
    rows.append(TraceRow("head", _linear_out(cache.head) or (B, c.num_classes),
                         _count(model, "head.weight", "head.bias"), "logits"))
    return [replace(r, shape=(batch, *r.shape[1:])) if r.shape else r for r in rows]


def format_trace(rows: list[TraceRow]) -> str:
    """The trace as an aligned text table."""
    name_w = max(len(r.name) for r in rows)
    shape_w = max(len(str(r.shape)) for r in rows)
    lines = [f"{'layer':<{name_w}}  {'output shape':<{shape_w}}  {'params':>8}  note"]
    for r in rows:
        lines.append(f"{r.name:<{name_w}}  {str(r.shape):<{shape_w}}  {r.params:>8,}  {r.note}".rstrip())
    return "\n".join(lines)
