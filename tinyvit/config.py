"""ViTConfig: every size and switch of a Vision Transformer, checked when it is made."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np

from tinyvit.errors import TinyViTError

POOLS = ("cls", "gap")
POS_EMBEDS = ("none", "learned", "learned2d", "sincos2d", "relative")
PLACEMENTS = ("stem", "every_layer", "every_layer_shared")
GELUS = ("erf", "tanh")
DTYPES = ("float32", "float64")
BACKENDS = ("numpy", "numba")


def _default_backend() -> str:
    """'numba' when Numba imports, else 'numpy' (see tinyvit.backend for the warning)."""
    from tinyvit.backend import default_backend

    return default_backend()


@dataclass
class ViTConfig:
    """The hyperparameters of a ViT. Defaults give a small model for 32x32 RGB images.

    The names follow the ViT paper: an image of image_size x image_size pixels with
    in_channels channels is cut into (image_size / patch_size)^2 patches; each becomes a
    token of width `dim`; `depth` pre-norm Transformer blocks with `heads` attention heads
    and an MLP of width `mlp_dim` follow; `pool` picks how the image is summarised.
    """

    image_size: int = 32
    patch_size: int = 4
    in_channels: int = 3
    num_classes: int = 10
    dim: int = 64
    depth: int = 4
    heads: int = 4
    mlp_dim: int = 128
    pool: str = "cls"  # 'cls': token 0 ([CLS]); 'gap': mean of the patch tokens
    pos_embed: str = "learned"  # see tinyvit/ops/posembed.py for every variant
    pos_embed_placement: str = "stem"  # 'stem' | 'every_layer' | 'every_layer_shared'
    dropout: float = 0.0
    layernorm_eps: float = 1e-6  # the official ViT's value (Hugging Face uses 1e-12)
    gelu: str = "erf"  # 'erf' (exact, like PyTorch) | 'tanh' (the official JAX models)
    dtype: str = "float32"
    seed: int = 0
    backend: str = ""  # '' picks the default: 'numba' when it imports, else 'numpy'

    def __post_init__(self) -> None:
        plain_scalars(self)
        if not self.backend:
            self.backend = _default_backend()
        self.validate()

    # ----------------------------------------------------------------- derived sizes
    @property
    def grid_size(self) -> int:
        """Patches per side: a 224 image with 16x16 patches has a 14x14 grid."""
        return self.image_size // self.patch_size

    @property
    def num_patches(self) -> int:
        return self.grid_size**2

    @property
    def num_tokens(self) -> int:
        """Sequence length N: the patches plus the [CLS] token when pool='cls'."""
        return self.num_patches + (1 if self.pool == "cls" else 0)

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads

    @property
    def patch_dim(self) -> int:
        """Length of one flattened patch: P*P*C."""
        return self.patch_size * self.patch_size * self.in_channels

    # ----------------------------------------------------------------- validation
    def validate(self) -> None:
        """Raise TinyViTError (a ValueError) naming the first field that cannot work."""
        for name in ("image_size", "patch_size", "in_channels", "num_classes", "dim",
                     "depth", "heads", "mlp_dim"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise TinyViTError(f"ViTConfig.{name}={value!r} is invalid: it must be a positive integer.")
        for name, allowed in (("pool", POOLS), ("pos_embed", POS_EMBEDS),
                              ("pos_embed_placement", PLACEMENTS), ("gelu", GELUS),
                              ("dtype", DTYPES), ("backend", BACKENDS)):
            value = getattr(self, name)
            if value not in allowed:
                raise TinyViTError(f"ViTConfig.{name}={value!r} is unknown: allowed values are "
                                   f"{', '.join(repr(a) for a in allowed)}.")
        if self.image_size % self.patch_size:
            raise TinyViTError(f"ViTConfig.image_size={self.image_size} is not divisible by "
                               f"patch_size={self.patch_size}: the image must cut into whole patches.")
        if self.dim % self.heads:
            raise TinyViTError(f"ViTConfig.dim={self.dim} is not divisible by heads={self.heads}: "
                               "each head takes an equal slice of the width.")
        if self.pos_embed == "learned2d" and self.dim % 2:
            raise TinyViTError(f"ViTConfig.dim={self.dim} is odd, but pos_embed='learned2d' needs an even "
                               "dim (an X table and a Y table of dim/2 each).")
        if self.pos_embed == "sincos2d" and self.dim % 4:
            raise TinyViTError(f"ViTConfig.dim={self.dim} is not divisible by 4, which pos_embed='sincos2d' "
                               "needs (sin and cos of x and of y).")
        if self.pos_embed_placement != "stem" and self.pos_embed not in ("learned", "learned2d"):
            raise TinyViTError(f"ViTConfig.pos_embed_placement={self.pos_embed_placement!r} works only with "
                               f"pos_embed 'learned' or 'learned2d', not {self.pos_embed!r}; use 'stem'.")
        if not (is_number(self.dropout) and 0.0 <= self.dropout < 1.0):
            raise TinyViTError(f"ViTConfig.dropout={self.dropout!r} is invalid: it must be in [0, 1).")
        if not (is_number(self.layernorm_eps) and 0 < self.layernorm_eps < math.inf):
            raise TinyViTError(f"ViTConfig.layernorm_eps={self.layernorm_eps!r} is invalid: it must be a "
                               "finite number > 0.")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise TinyViTError(f"ViTConfig.seed={self.seed!r} is invalid: it must be a non-negative integer.")

    # ----------------------------------------------------------------- (de)serialising
    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> ViTConfig:
        """Build a config from a dict, rejecting keys that are not fields."""
        return dataclass_from_dict(cls, values)


def plain_scalars(config) -> None:
    """Turn the NumPy scalars among a config dataclass's fields into Python numbers, in place.

    num_classes=y.max() + 1 is an np.int64: a fine value, but not an int, and not JSON.
    """
    for f in fields(config):
        value = getattr(config, f.name)
        if isinstance(value, np.generic):
            setattr(config, f.name, value.item())


def is_number(value) -> bool:
    """An int or float, but not a bool (True is an int to Python, never a sensible rate or size)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def dataclass_from_dict(cls, values: dict):
    """cls(**values) for a config dataclass, with one clear sentence for keys that are not fields."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise TinyViTError(f"unknown {cls.__name__} field(s) {', '.join(unknown)}; known fields are "
                           f"{', '.join(sorted(known))}.")
    return cls(**values)
