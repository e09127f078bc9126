"""AdamW parameter groups, the warmup + cosine schedule and global-norm clipping."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.conftest import tiny_config
from tinyvit import TinyViTError, ViT
from tinyvit.ops import adamw_update
from tinyvit.train import AdamW, TrainConfig, clip_grad_norm, global_grad_norm, param_groups, warmup_cosine


def test_param_groups_decay_only_weight_matrices():
    for pos in ("learned", "learned2d", "relative"):
        for placement in ("stem", "every_layer"):
            if pos == "relative" and placement != "stem":
                continue
            model = ViT(tiny_config(pos_embed=pos, pos_embed_placement=placement))
            groups = param_groups(model.params)
            assert sorted(groups["decay"] + groups["no_decay"]) == sorted(model.params)
            for name in groups["decay"]:
                assert model.params[name].ndim == 2 and name.endswith(".weight"), name
                assert "norm" not in name and "pos_embed" not in name
            for name in groups["no_decay"]:
                assert (name.endswith(".bias") or "norm" in name or name == "cls_token"
                        or "pos_embed" in name or name.endswith("rel_pos")), name
    groups = param_groups(ViT(tiny_config(depth=1)).params)
    assert sorted(groups["decay"]) == ["blocks.0.attn.proj.weight", "blocks.0.attn.qkv.weight",
                                       "blocks.0.mlp.fc1.weight", "blocks.0.mlp.fc2.weight", "head.weight",
                                       "patch_embed.weight"]
    assert {"cls_token", "pos_embed.table", "norm.weight", "norm.bias", "blocks.0.norm1.weight",
            "blocks.0.attn.qkv.bias"} <= set(groups["no_decay"])


def test_adamw_first_step_known_answer():
    # Step 1 of Adam moves every entry by lr * sign(g) (up to eps); decay shrinks decayed weights first.
    w = np.array([[1.0, -2.0], [0.5, 3.0]])
    b = np.array([1.0, -1.0])
    params = {"fc.weight": w.copy(), "fc.bias": b.copy()}
    grads = {"fc.weight": np.array([[0.1, -0.2], [0.0, 5.0]]), "fc.bias": np.array([-3.0, 0.5])}
    opt = AdamW(params, weight_decay=0.1)
    opt.step(grads, lr=0.01)
    expected_w = w * (1 - 0.01 * 0.1) - 0.01 * np.sign(grads["fc.weight"])
    np.testing.assert_allclose(params["fc.weight"], expected_w, atol=1e-7)
    np.testing.assert_allclose(params["fc.bias"], b - 0.01 * np.sign(grads["fc.bias"]), atol=1e-7)  # no decay
    assert opt.t == 1


def test_adamw_matches_reference_op_over_steps(rng):
    p = rng.normal(size=(3, 4))
    ref, m, v = p.copy(), np.zeros_like(p), np.zeros_like(p)
    params = {"w.weight": p.copy()}
    opt = AdamW(params, weight_decay=0.05, beta1=0.8, beta2=0.99, eps=1e-6)
    for step in range(1, 6):
        g = rng.normal(size=p.shape)
        adamw_update(ref, g, m, v, step=step, lr=0.02, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.05)
        opt.step({"w.weight": g}, lr=0.02)
    np.testing.assert_array_equal(params["w.weight"], ref)
    state = opt.state_dict()
    np.testing.assert_array_equal(state["m"]["w.weight"], m)
    np.testing.assert_array_equal(state["v"]["w.weight"], v)


def test_adamw_state_round_trip_and_checks(rng):
    params = {"a.weight": rng.normal(size=(2, 2))}
    opt = AdamW(params)
    opt.step({"a.weight": np.ones((2, 2))}, lr=0.1)
    other = AdamW({"a.weight": params["a.weight"].copy()})
    other.load_state_dict({k: (dict(v) if isinstance(v, dict) else v) for k, v in opt.state_dict().items()})
    assert other.t == 1
    np.testing.assert_array_equal(other.m["a.weight"], opt.m["a.weight"])
    with pytest.raises(TinyViTError, match="shape"):
        other.load_state_dict({"t": 1, "m": {"a.weight": np.zeros(3)}, "v": {"a.weight": np.zeros(3)}})
    with pytest.raises(TinyViTError, match="betas"):
        AdamW(params, beta1=1.0)
    with pytest.raises(TinyViTError, match=r"optimizer state has no 't'"):
        other.load_state_dict({"m": opt.m, "v": opt.v})


@pytest.mark.parametrize("kwargs,message", [
    ({"weight_decay": float("nan")}, "weight decay must be a finite number >= 0, got nan"),
    ({"eps": -1e-8}, "eps must be a finite number > 0"),
])
def test_adamw_refuses_impossible_settings(kwargs, message):
    with pytest.raises(TinyViTError, match=message):
        AdamW({"a.weight": np.zeros((2, 2))}, **kwargs)


def test_adamw_step_checks_the_gradients_and_the_rate_before_touching_anything():
    params = {"a.weight": np.zeros((2, 2)), "a.bias": np.zeros(2)}
    opt = AdamW(params)
    good = {"a.weight": np.ones((2, 2)), "a.bias": np.ones(2)}
    for grads, lr, message in [({"a.weight": np.ones((2, 2))}, 0.1, "no gradient for a.bias"),
                               ({**good, "a.bias": np.ones(3)}, 0.1, r"a.bias must have the parameter's shape \(2,\)"),
                               (good, float("nan"), "learning rate must be a finite number >= 0, got nan"),
                               (good, -0.1, "got -0.1"), (good, "0.1", "got '0.1'")]:
        with pytest.raises(TinyViTError, match=message):
            opt.step(grads, lr=lr)
    assert opt.t == 0 and not params["a.weight"].any()   # nothing was updated


def test_warmup_cosine_values():
    lr = [warmup_cosine(s, total_steps=111, base_lr=1.0, warmup_steps=10, min_lr=0.1) for s in range(1, 112)]
    assert lr[0] == pytest.approx(0.1) and lr[4] == pytest.approx(0.5) and lr[9] == pytest.approx(1.0)
    assert lr[10] == pytest.approx(1.0)  # the first cosine step is at the peak
    assert lr[60] == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi * 0.5)))  # half-way down: 0.55
    assert lr[-1] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(lr[9:], lr[10:], strict=False))  # monotone after warmup
    assert warmup_cosine(1, 10, 0.5) == pytest.approx(0.5)  # no warmup starts at the peak
    assert warmup_cosine(10, 10, 0.5, min_lr=0.01) == pytest.approx(0.01)  # ... and ends at min_lr
    assert warmup_cosine(99, 10, 0.5, min_lr=0.01) == pytest.approx(0.01)  # past the end: stays at min


def test_clip_grad_norm():
    grads = {"a": np.array([3.0, 0.0], np.float32), "b": np.array([[0.0], [4.0]], np.float32)}
    assert global_grad_norm(grads) == pytest.approx(5.0)
    assert clip_grad_norm(grads, 10.0) == pytest.approx(5.0)  # under the limit: untouched
    np.testing.assert_array_equal(grads["a"], [3.0, 0.0])
    assert clip_grad_norm(grads, 1.0) == pytest.approx(5.0)  # returns the norm before clipping
    assert global_grad_norm(grads) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(grads["a"], [0.6, 0.0], rtol=1e-5)  # direction kept
    assert grads["a"].dtype == np.float32
    assert clip_grad_norm(grads, 0.0) == pytest.approx(1.0, rel=1e-5)  # 0 = off
    bad = {"a": np.array([np.nan, 1.0])}
    assert math.isnan(clip_grad_norm(bad, 1.0))


def test_train_config_validation():
    assert TrainConfig().augment_kwargs() == {"crop_pad": 0, "flip": False, "rotate": 0.0, "scale": 0.0,
                                              "translate": 0.0}
    for bad in ({"epochs": 0}, {"lr": 0.0}, {"lr": -1.0}, {"label_smoothing": 1.0}, {"scale": 1.5},
                {"batch_size": 2.5}, {"clip": float("nan")}, {"crop_pad": -1}):
        with pytest.raises(TinyViTError):
            TrainConfig(**bad)
    with pytest.raises(TinyViTError, match="unknown TrainConfig field"):
        TrainConfig.from_dict({"learning_rate": 1.0})
    assert TrainConfig.from_dict(TrainConfig(lr=0.5).to_dict()).lr == 0.5
