"""ViTConfig accepts what can work and names the field of everything that cannot."""

from __future__ import annotations

import pytest

from tinyvit import TinyViTError, ViTConfig


def test_defaults_are_valid_and_derived_sizes():
    c = ViTConfig(image_size=224, patch_size=16, backend="numpy")
    assert (c.grid_size, c.num_patches, c.num_tokens, c.patch_dim) == (14, 196, 197, 768)
    assert ViTConfig(image_size=224, patch_size=16, pool="gap", backend="numpy").num_tokens == 196


@pytest.mark.parametrize("field,value,fragment", [
    ("image_size", 30, "image_size=30 is not divisible by patch_size=4"),
    ("dim", 30, "dim=30 is not divisible by heads=4"),
    ("depth", 0, "depth=0 is invalid"),
    ("heads", -2, "heads=-2 is invalid"),
    ("patch_size", 2.5, "patch_size=2.5 is invalid"),
    ("pool", "mean", "pool='mean' is unknown"),
    ("pos_embed", "2d", "pos_embed='2d' is unknown"),
    ("pos_embed_placement", "everywhere", "pos_embed_placement='everywhere' is unknown"),
    ("gelu", "relu", "gelu='relu' is unknown"),
    ("dtype", "float16", "dtype='float16' is unknown"),
    ("backend", "torch", "backend='torch' is unknown"),
    ("dropout", 1.0, "dropout=1.0 is invalid"),
    ("layernorm_eps", 0.0, "layernorm_eps=0.0 is invalid"),
    ("layernorm_eps", float("inf"), "layernorm_eps=inf is invalid: it must be a finite number > 0"),
    ("layernorm_eps", True, "layernorm_eps=True is invalid"),
    ("seed", -1, "seed=-1 is invalid"),
])
def test_invalid_fields_raise_one_clear_sentence(field, value, fragment):
    with pytest.raises(ValueError) as info:
        ViTConfig(**{field: value})
    assert fragment in str(info.value)
    assert isinstance(info.value, TinyViTError)


def test_numpy_scalars_are_plain_numbers():
    # num_classes = y.max() + 1 is an np.int64: accepted, and stored as an int (the config goes to JSON).
    import json

    import numpy as np

    from tinyvit.train import TrainConfig

    c = ViTConfig(num_classes=np.int64(10), layernorm_eps=np.float32(1e-6), backend="numpy")
    assert type(c.num_classes) is int and type(c.layernorm_eps) is float and c.num_classes == 10
    json.dumps(c.to_dict())
    t = TrainConfig(lr=np.float32(1e-3), epochs=np.int32(3))
    assert type(t.lr) is float and type(t.epochs) is int
    with pytest.raises(ValueError, match="lr=True is invalid"):
        TrainConfig(lr=True)


def test_position_embedding_constraints():
    with pytest.raises(ValueError, match="dim=9 is odd.*learned2d"):
        ViTConfig(dim=9, heads=3, pos_embed="learned2d")
    with pytest.raises(ValueError, match="dim=18 is not divisible by 4.*sincos2d"):
        ViTConfig(dim=18, heads=2, pos_embed="sincos2d")
    with pytest.raises(ValueError, match="pos_embed_placement='every_layer' works only with"):
        ViTConfig(pos_embed="relative", pos_embed_placement="every_layer")
    ViTConfig(dim=9, heads=3, pos_embed="learned")  # any width works for 1-D tables


def test_round_trip_through_a_dict():
    c = ViTConfig(dim=32, heads=2, pool="gap", backend="numpy")
    assert ViTConfig.from_dict(c.to_dict()) == c
    with pytest.raises(ValueError, match="unknown ViTConfig field"):
        ViTConfig.from_dict({"dimension": 3})
