"""The math of a ViT: every operation as a readable NumPy `*_forward` / `*_backward` pair.

These are the reference implementations. The Numba kernels in tinyvit/kernels are checked
against them, and `ViTConfig(backend='numpy')` runs the model on them alone.
"""

from tinyvit.ops.adamw import adamw_update
from tinyvit.ops.attention import AttentionCache, attention_backward, attention_forward, merge_heads, split_heads
from tinyvit.ops.conv import conv2d_direct
from tinyvit.ops.dropout import DropoutCache, dropout_backward, dropout_forward
from tinyvit.ops.fused import linear_gelu_backward, linear_gelu_forward
from tinyvit.ops.gelu import GeluCache, gelu_backward, gelu_forward
from tinyvit.ops.layernorm import LayerNormCache, layernorm_backward, layernorm_forward
from tinyvit.ops.linear import LinearCache, linear_backward, linear_forward
from tinyvit.ops.loss import CrossEntropyCache, cross_entropy_backward, cross_entropy_forward
from tinyvit.ops.patchify import PatchifyCache, patchify_backward, patchify_forward, unpatchify
from tinyvit.ops.posembed import learned2d_backward, learned2d_forward, relative_offsets, sincos2d_table
from tinyvit.ops.residual import residual_backward, residual_forward
from tinyvit.ops.softmax import SoftmaxCache, softmax_backward, softmax_forward
from tinyvit.ops.tokens import (
                                  PoolCache,
                                  cls_prepend_backward,
                                  cls_prepend_forward,
                                  pool_backward,
                                  pool_forward,
                                  pos_add_backward,
                                  pos_add_forward,
)

__all__ = [
    "AttentionCache",
    "CrossEntropyCache",
    "DropoutCache",
    "GeluCache",
    "LayerNormCache",
    "LinearCache",
    "PatchifyCache",
    "PoolCache",
    "SoftmaxCache",
    "adamw_update",
    "attention_backward",
    "attention_forward",
    "cls_prepend_backward",
    "cls_prepend_forward",
    "conv2d_direct",
    "cross_entropy_backward",
    "cross_entropy_forward",
    "dropout_backward",
    "dropout_forward",
    "gelu_backward",
    "gelu_forward",
    "layernorm_backward",
    "layernorm_forward",
    "learned2d_backward",
    "learned2d_forward",
    "linear_backward",
    "linear_forward",
    "linear_gelu_backward",
    "linear_gelu_forward",
    "merge_heads",
    "patchify_backward",
    "patchify_forward",
    "pool_backward",
    "pool_forward",
    "pos_add_backward",
    "pos_add_forward",
    "relative_offsets",
    "residual_backward",
    "residual_forward",
    "sincos2d_table",
    "softmax_backward",
    "softmax_forward",
    "split_heads",
    "unpatchify",
]
