"""The assembled ViT: its API, its input checks, its costs and its symmetries."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import randomize, tiny_config

from tinyvit import ViT, ViTConfig
from tinyvit.model.cost import forward_flops
from tinyvit.ops import patchify_forward, unpatchify


def test_forward_backward_shapes_and_names(rng):
    model = ViT(tiny_config(dtype="float32"))
    x = rng.random((5, 8, 8, 2)).astype(np.float32)
    logits = model.forward(x)
    assert logits.shape == (5, 3)
    dx = model.backward(np.ones_like(logits))
    assert dx.shape == x.shape
    assert model.params.keys() == model.grads.keys()
    assert all(model.params[k].shape == model.grads[k].shape for k in model.params)
    for name in ("patch_embed.weight", "cls_token", "pos_embed.table", "blocks.1.attn.qkv.weight",
                 "blocks.0.mlp.fc2.bias", "norm.weight", "head.weight"):
        assert name in model.params
    assert model.params["patch_embed.weight"].shape == (4 * 4 * 2, 16)
    assert model.params["blocks.0.attn.qkv.weight"].shape == (16, 48)


def test_inspectable_caches(rng):
    model = ViT(tiny_config(depth=3))
    model.forward(rng.random((2, 8, 8, 2)))
    maps = model.attention_maps()
    assert len(maps) == 3 and maps[0].shape == (2, 2, 5, 5)  # (B, heads, N, N), N = 4 patches + [CLS]
    np.testing.assert_allclose(maps[2].sum(axis=-1), 1.0)
    block = model.cache.blocks[0]
    assert block.norm1.mean.shape == block.norm1.rstd.shape == (2, 5, 1)
    assert block.mlp.act.x.shape == (2, 5, 24)  # pre-GELU activations


def test_official_initialisation():
    model = ViT(ViTConfig(image_size=32, patch_size=4, dim=64, depth=2, heads=4, mlp_dim=256, backend="numpy"))
    p = model.params
    assert not p["head.weight"].any() and not p["head.bias"].any() and not p["cls_token"].any()
    assert not p["blocks.0.attn.qkv.bias"].any() and np.all(p["blocks.0.norm1.weight"] == 1)
    assert abs(p["pos_embed.table"].std() - 0.02) < 0.002
    fc1 = p["blocks.0.mlp.fc1.weight"]  # xavier-uniform: bound sqrt(6 / (64 + 256))
    bound = np.sqrt(6 / 320)
    assert np.abs(fc1).max() <= bound and np.abs(fc1).max() > 0.95 * bound
    pe = p["patch_embed.weight"]  # lecun normal: std sqrt(1 / fan_in), truncated at 2 std
    assert abs(pe.std() - np.sqrt(1 / 48)) < 0.1 * np.sqrt(1 / 48)
    assert np.abs(pe).max() <= 2 * np.sqrt(1 / 48) / 0.87962566103423978 + 1e-7


def test_untrained_model_predicts_uniformly(rng):
    from tinyvit.ops import cross_entropy_forward

    model = ViT(tiny_config(num_classes=7))
    loss, _ = cross_entropy_forward(model.forward(rng.random((4, 8, 8, 2))), np.array([0, 1, 2, 6]))
    assert loss == pytest.approx(np.log(7))  # the zero head


def test_same_seed_bit_identical_different_seed_differs(rng):
    x = rng.random((3, 8, 8, 2))
    a, b, c = (ViT(tiny_config(seed=s, dropout=0.1)) for s in (5, 5, 6))
    for name in a.params:
        assert np.array_equal(a.params[name], b.params[name])
    assert not np.array_equal(a.params["blocks.0.attn.qkv.weight"], c.params["blocks.0.attn.qkv.weight"])
    randomize(a, 1)
    randomize(b, 1)
    assert np.array_equal(a.forward(x, train=True), b.forward(x, train=True))  # dropout masks too


def test_float32_and_float64_agree_and_float32_never_upcasts(rng):
    m64 = randomize(ViT(tiny_config(pos_embed="relative")), 2, scale=0.3)
    m32 = ViT(tiny_config(pos_embed="relative", dtype="float32"))
    for k in m32.params:
        m32.params[k][...] = m64.params[k]
    x = rng.random((3, 8, 8, 2))
    l64, l32 = m64.forward(x), m32.forward(x.astype(np.float32))
    assert l32.dtype == np.float32
    np.testing.assert_allclose(l32, l64, rtol=1e-4, atol=1e-5)
    g = rng.standard_normal(l64.shape)
    dx64, dx32 = m64.backward(g), m32.backward(g.astype(np.float32))
    assert dx32.dtype == np.float32
    np.testing.assert_allclose(dx32, dx64, rtol=1e-3, atol=1e-5)
    for k in m32.grads:
        assert m32.grads[k].dtype == np.float32
        np.testing.assert_allclose(m32.grads[k], m64.grads[k], rtol=1e-3, atol=1e-5)
    for arr in arrays_in(m32.cache):
        assert arr.dtype in (np.float32, np.int64), arr.dtype


def arrays_in(obj):
    """Every ndarray inside a (nested) cache dataclass."""
    if isinstance(obj, np.ndarray):
        yield obj
    elif dataclasses.is_dataclass(obj):
        for f in dataclasses.fields(obj):
            yield from arrays_in(getattr(obj, f.name))
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            yield from arrays_in(item)


def test_backward_overwrites_rather_than_accumulates(rng):
    model = randomize(ViT(tiny_config()))
    x = rng.random((2, 8, 8, 2))
    g = rng.standard_normal((2, 3))
    model.forward(x)
    model.backward(g)
    first = {k: v.copy() for k, v in model.grads.items()}
    model.forward(x)
    model.backward(g)
    for k in first:
        np.testing.assert_array_equal(model.grads[k], first[k])


def permute_patches(x, patch_size, perm):
    patches, _ = patchify_forward(x, patch_size)
    return unpatchify(patches[:, perm], patch_size, x.shape[1], x.shape[2])


@pytest.mark.parametrize("pos_embed,invariant", [("none", True), ("learned", False), ("learned2d", False),
                                                 ("sincos2d", False), ("relative", False)])
def test_a_bag_of_patches_cannot_see_order(rng, pos_embed, invariant):
    model = randomize(ViT(tiny_config(image_size=12, patch_size=4, pool="gap", pos_embed=pos_embed)), 3)
    x = rng.random((2, 12, 12, 2))
    shuffled = permute_patches(x, 4, rng.permutation(9))
    same = np.allclose(model.forward(x), model.forward(shuffled), rtol=1e-10, atol=1e-12)
    assert same == invariant


def test_parameter_count_of_vit_tiny_matches_the_paper_model():
    """ViT-Ti/16 at 224 with 1000 classes has 5,717,416 parameters (timm's vit_tiny_patch16_224)."""
    model = ViT(ViTConfig(image_size=224, patch_size=16, in_channels=3, num_classes=1000, dim=192, depth=12,
                          heads=3, mlp_dim=768, backend="numpy"))
    assert model.num_params() == 5_717_416


def test_flops_of_vit_base_match_the_published_count():
    """ViT-B/16 at 224 is quoted at 17.6 GMACs (fvcore, counting the same matmuls)."""
    c = ViTConfig(image_size=224, patch_size=16, num_classes=1000, dim=768, depth=12, heads=12,
                  mlp_dim=3072, backend="numpy")
    assert forward_flops(c) / 2 == pytest.approx(17.58e9, rel=0.005)
    # and the tiny count by hand: patch embed + 1 block + head
    t = ViTConfig(image_size=8, patch_size=4, in_channels=1, num_classes=2, dim=4, depth=1, heads=1,
                  mlp_dim=8, backend="numpy")
    N = 5
    assert forward_flops(t) == 2 * 4 * 16 * 4 + (2 * N * 4 * 12 + 4 * N * N * 4 + 2 * N * 16 + 4 * N * 4 * 8) + 16


@pytest.mark.parametrize("make_input,fragment", [
    (lambda: [[0.0]], "must be a NumPy array of shape (B, 8, 8, 2)"),
    (lambda: np.zeros((8, 8, 2)), "got shape (8, 8, 2)"),
    (lambda: np.zeros((1, 8, 8, 3)), "3 channel(s), but the model expects in_channels=2"),
    (lambda: np.zeros((1, 16, 16, 2)), "16x16, but the model expects 8x8"),
    (lambda: np.zeros((1, 8, 8, 2), dtype=np.uint8), "must be floating point"),
    (lambda: np.zeros((0, 8, 8, 2)), "empty batch"),
    (lambda: np.zeros((3, 2, 8, 8)), "(channels first? use x.transpose(0, 2, 3, 1))"),
])
def test_wrong_inputs_name_expected_and_received(make_input, fragment):
    model = ViT(tiny_config())
    with pytest.raises(ValueError) as info:
        model.forward(make_input())
    assert fragment in str(info.value)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_replaced_parameters_must_keep_their_shape_and_dtype(backend):
    # The fast kernels trust the shapes: a smaller array used to be read past its end, silently.
    model = ViT(tiny_config(backend=backend))
    x = np.zeros((2, 8, 8, 2), dtype=model.dtype)
    good = model.params["patch_embed.weight"]
    for value, fragment in ((good[:3], "has shape (3, 16)"), (good.astype(np.float32), "dtype float32"),
                            (good.tolist(), "is a list, not a NumPy array")):
        model.params["patch_embed.weight"] = value
        with pytest.raises(ValueError, match=r"model.params\['patch_embed.weight'\] ") as info:
            model.forward(x)
        assert fragment in str(info.value)
    del model.params["patch_embed.weight"]
    with pytest.raises(ValueError, match="model.params has no 'patch_embed.weight'"):
        model.forward(x)
    model.params["patch_embed.weight"] = good
    model.forward(x)


def test_fast_kernels_check_the_shapes_they_trust():
    pytest.importorskip("numba")
    from tinyvit.backend import get_ops

    ops, x = get_ops("numba"), np.ones((2, 5, 8), dtype=np.float32)
    with pytest.raises(ValueError, match=r"linear: x \(..., 8\) needs w of shape \(8, OUT\)"):
        ops.linear_forward(x, np.ones((3, 4), np.float32), None)
    with pytest.raises(ValueError, match=r"and b of shape \(OUT,\), got w \(8, 4\) and b \(3,\)"):
        ops.linear_gelu_forward(x, np.ones((8, 4), np.float32), np.ones(3, np.float32))
    with pytest.raises(ValueError, match=r"layernorm: x \(..., 8\) needs gamma and beta of shape \(8,\)"):
        ops.layernorm_forward(x, np.ones(3, np.float32), np.ones(8, np.float32))
    with pytest.raises(ValueError, match="must hold q, k and v of 3 equal heads"):
        ops.attention_forward(np.ones((2, 5, 12), np.float32), 3)


def test_backward_needs_a_forward_and_the_right_shape():
    model = ViT(tiny_config())
    with pytest.raises(ValueError, match="needs a forward"):
        model.backward(np.zeros((1, 3)))
    model.forward(np.zeros((2, 8, 8, 2)))
    with pytest.raises(ValueError, match=r"dlogits has shape \(1, 3\), expected \(2, 3\)"):
        model.backward(np.zeros((1, 3)))


def test_complex_dlogits_are_refused_not_cut_to_their_real_part():
    from tinyvit import TinyViTError

    model = ViT(tiny_config())
    logits = model.forward(np.zeros((2, 8, 8, 2)))
    with pytest.raises(TinyViTError, match="dlogits must hold real numbers, got dtype complex128"):
        model.backward(logits + 1j)
