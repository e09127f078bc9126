"""The whole model against finite differences, for every position embedding, placement and pooling."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import randomize, tiny_config

from tinyvit import ViT
from tinyvit.gradcheck import check_model

TOL = 1e-6
PLACEMENTS = ("stem", "every_layer", "every_layer_shared")
COMBINATIONS = [(pe, pl, pool)
                for pe in ("none", "learned", "learned2d", "sincos2d", "relative")
                for pl in (PLACEMENTS if pe in ("learned", "learned2d") else ("stem",))
                for pool in ("cls", "gap")]


@pytest.mark.parametrize("pos_embed,placement,pool", COMBINATIONS)
def test_whole_model_gradients(pos_embed, placement, pool):
    """Eight sampled entries of every parameter, and the whole image gradient."""
    model = randomize(ViT(tiny_config(pos_embed=pos_embed, pos_embed_placement=placement, pool=pool)), seed=4)
    rng = np.random.default_rng(5)
    errors = check_model(model, rng.random((3, 8, 8, 2)), np.array([0, 2, 1]), entries=8)
    assert set(errors) == set(model.params) | {"images"}
    worst = max(errors, key=errors.get)
    assert errors[worst] < TOL, f"{worst}: relative error {errors[worst]:.2e}"


@pytest.mark.parametrize("gelu,dropout", [("erf", 0.0), ("tanh", 0.2)])
def test_every_entry_of_every_parameter(gelu, dropout):
    """Every single entry, with patch 2 (16 patches), tanh GELU and dropout replayed."""
    model = ViT(tiny_config(patch_size=2, in_channels=1, dim=8, heads=2, mlp_dim=12, gelu=gelu, dropout=dropout))
    randomize(model, seed=6)
    rng = np.random.default_rng(7)
    errors = check_model(model, rng.random((2, 8, 8, 1)), np.array([1, 0]), entries=None)
    worst = max(errors, key=errors.get)
    assert errors[worst] < TOL, f"{worst}: relative error {errors[worst]:.2e}"
