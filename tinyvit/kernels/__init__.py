"""Numba kernels for the hot loops; each has a NumPy twin in tinyvit.ops that tests hold it equal to.

KERNELS maps an operation name of tinyvit.backend.SWAPPABLE to its fast implementation.
Every kernel is compiled on first use (per dtype) and cached on disk (kernels/__pycache__).
"""

from tinyvit.kernels.adamw import adamw_update
from tinyvit.kernels.attention import attention_backward, attention_forward
from tinyvit.kernels.gelu import gelu_backward, gelu_forward
from tinyvit.kernels.layernorm import layernorm_backward, layernorm_forward
from tinyvit.kernels.linear import linear_backward, linear_forward, linear_gelu_backward, linear_gelu_forward
from tinyvit.kernels.loss import cross_entropy_backward, cross_entropy_forward

KERNELS: dict = {
    "linear_forward": linear_forward,
    "linear_backward": linear_backward,
    "linear_gelu_forward": linear_gelu_forward,
    "linear_gelu_backward": linear_gelu_backward,
    "layernorm_forward": layernorm_forward,
    "layernorm_backward": layernorm_backward,
    "gelu_forward": gelu_forward,
    "gelu_backward": gelu_backward,
    "attention_forward": attention_forward,
    "attention_backward": attention_backward,
    "cross_entropy_forward": cross_entropy_forward,
    "cross_entropy_backward": cross_entropy_backward,
    "adamw_update": adamw_update,
}
