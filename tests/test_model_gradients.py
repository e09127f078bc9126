"""The whole model against finite differences, for every position embedding, placement and pooling."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import randomize, tiny_config

from tinyvit import ViT, gradcheck
from tinyvit.errors import TinyViTError
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


def test_a_zero_gradient_is_named_not_passed():
    """A fresh model's zero head stops every gradient behind it: the check would compare 0 with 0."""
    model = ViT(tiny_config())
    rng = np.random.default_rng(8)
    with pytest.warns(UserWarning, match=r"exactly zero at every checked entry of \d+ of \d+ parameters"):
        check_model(model, rng.random((2, 8, 8, 2)), np.array([0, 1]), entries=2)


@pytest.mark.parametrize("call,message", [
    (lambda m, x, y: check_model(ViT(tiny_config(dtype="float32")), x.astype(np.float32), y), "float64"),
    (lambda m, x, y: check_model(m, x.astype(np.float32), y), "the images must be a float64"),
    (lambda m, x, y: check_model(m, list(x), y), "got a list"),
    (lambda m, x, y: check_model(m, x, y, entries=0), "whole number >= 1, got 0"),
    (lambda m, x, y: check_model(m, x, y, entries=2.5), "got 2.5"),
    (lambda m, x, y: check_model("vit", x, y), "checks a tinyvit ViT, got str"),
    (lambda m, x, y: gradcheck.numerical_gradient(lambda: 1.0, np.arange(3)), "got an int64 array"),
    (lambda m, x, y: gradcheck.numerical_gradient(lambda: np.ones(2), np.zeros(3)), "one number"),
    (lambda m, x, y: gradcheck.numerical_gradient(lambda: 1.0, np.zeros(3), h=0), "positive number, got 0"),
    (lambda m, x, y: gradcheck.rel_error(np.ones(2), np.ones(3)), r"got \(2,\) and \(3,\)"),
])
def test_the_gradient_checker_refuses_what_it_cannot_check(call, message):
    model = randomize(ViT(tiny_config()), seed=1)
    x = np.random.default_rng(9).random((2, 8, 8, 2))
    with pytest.raises(TinyViTError, match=message):
        call(model, x, np.array([0, 1]))
