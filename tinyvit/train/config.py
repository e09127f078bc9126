"""TrainConfig (how to train) and DataSpec (what to train on): plain dataclasses saved in checkpoints."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from tinyvit.config import dataclass_from_dict, is_number, plain_scalars
from tinyvit.errors import TinyViTError


@dataclass
class TrainConfig:
    """The optimisation recipe. Defaults follow the ViT/DeiT recipes scaled down to small data."""

    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3              # peak learning rate, reached at the end of warmup
    min_lr: float = 1e-5          # the cosine ends here
    weight_decay: float = 0.05    # AdamW's decoupled decay, matrices only (see optim.py)
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    warmup_epochs: float = 5.0    # linear warmup length, in epochs (fractions allowed)
    label_smoothing: float = 0.1
    clip: float = 1.0             # max global gradient norm; 0 turns clipping off
    seed: int = 0                 # seeds the batch order and the augmentation
    # Augmentation strengths (tinyvit.data.augment.Augment); zero turns a step off.
    crop_pad: int = 0             # zero-pad then random-crop back (pixels)
    flip: bool = False            # random left-right mirror
    rotate: float = 0.0           # +- degrees
    scale: float = 0.0            # zoom in [1 - scale, 1 + scale]
    translate: float = 0.0        # +- pixels, each axis
    eval_every: int = 1           # evaluate on the test split every N epochs (and always at the end)
    eval_batch_size: int = 500

    def __post_init__(self) -> None:
        plain_scalars(self)
        self.validate()

    def validate(self) -> None:
        for name in ("epochs", "batch_size", "eval_every", "eval_batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise TinyViTError(f"{name}={value!r} is invalid: it must be a positive integer.")
        for name in ("lr", "min_lr", "weight_decay", "warmup_epochs", "clip", "rotate", "translate"):
            value = getattr(self, name)
            if not is_number(value) or not value >= 0 or value == float("inf"):
                raise TinyViTError(f"{name}={value!r} is invalid: it must be a finite number >= 0.")
        if self.lr <= 0:
            raise TinyViTError(f"lr={self.lr!r} is invalid: the learning rate must be > 0.")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise TinyViTError(f"label_smoothing={self.label_smoothing!r} is invalid: it must be in [0, 1).")
        if not 0.0 <= self.scale < 1.0:
            raise TinyViTError(f"scale={self.scale!r} is invalid: the zoom range must be in [0, 1).")
        if isinstance(self.crop_pad, bool) or not isinstance(self.crop_pad, int) or self.crop_pad < 0:
            raise TinyViTError(f"crop_pad={self.crop_pad!r} is invalid: it must be a whole number >= 0.")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise TinyViTError(f"seed={self.seed!r} is invalid: it must be a non-negative integer.")
        for name in ("beta1", "beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise TinyViTError(f"{name}={getattr(self, name)!r} is invalid: it must be in [0, 1).")

    def augment_kwargs(self) -> dict:
        return {"crop_pad": self.crop_pad, "flip": self.flip, "rotate": self.rotate, "scale": self.scale,
                "translate": self.translate}

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        return dataclass_from_dict(cls, values)


@dataclass
class DataSpec:
    """Which dataset to load and how: enough to load the very same splits again later."""

    name: str = "digits"
    data_dir: str | None = None
    download: bool = False
    seed: int = 0                 # the split (digits) or the generator (shapes, layout)
    options: dict = field(default_factory=dict)  # loader arguments, e.g. image_size, n_train

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> DataSpec:
        return dataclass_from_dict(cls, values)
