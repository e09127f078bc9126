"""The analyses behind the paper's figures, on inputs whose answers are known."""

from __future__ import annotations

import numpy as np

from tinyvit.viz import attention_rollout, mean_attention_distance, patch_filter_components, position_similarity


def test_position_similarity_skips_cls_and_is_one_on_the_diagonal(rng):
    table = rng.standard_normal((1 + 9, 16))
    sim = position_similarity(table, 3)
    assert sim.shape == (3, 3, 3, 3)
    for r in range(3):
        for c in range(3):
            assert np.isclose(sim[r, c, r, c], 1.0)
    a, b = table[1 + 2], table[1 + 4]  # patches (0, 2) and (1, 1)
    assert np.isclose(sim[0, 2, 1, 1], a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_mean_attention_distance_known_values():
    grid, P = 2, 4
    self_only = np.eye(4)[None, None]                        # (B, H, N, N): every patch looks at itself
    assert mean_attention_distance(self_only, grid, P, has_cls=False) == [0.0]
    uniform = np.full((1, 1, 5, 5), 0.2)                     # with a [CLS] row and column, dropped
    expected = (0 + 1 + 1 + np.sqrt(2)) / 4 * P              # from any patch of a 2x2 grid
    np.testing.assert_allclose(mean_attention_distance(uniform, grid, P, has_cls=True), [expected])


def test_attention_rollout():
    N = 3
    identity = np.eye(N)[None, None]                         # (1, 1, N, N)
    np.testing.assert_allclose(attention_rollout([identity, identity]), np.eye(N)[None])
    uniform = np.full((1, 2, N, N), 1 / N)
    one = 0.5 * np.full((N, N), 1 / N) + 0.5 * np.eye(N)
    np.testing.assert_allclose(attention_rollout([uniform]), one[None])
    np.testing.assert_allclose(attention_rollout([uniform, uniform]), (one @ one)[None])


def test_patch_filter_components_are_orthonormal(rng):
    weight = rng.standard_normal((4 * 4 * 3, 20))
    comps = patch_filter_components(weight, 4, 3, count=6)
    assert comps.shape == (6, 4, 4, 3)
    flat = comps.reshape(6, -1)
    np.testing.assert_allclose(flat @ flat.T, np.eye(6), atol=1e-12)


def test_wrong_inputs_are_one_line_errors(rng, tmp_path):
    import pytest

    from tinyvit import TinyViTError
    from tinyvit.viz import plots

    with pytest.raises(TinyViTError, match="has 17 tokens, but a 3x3 grid of patches has 9"):
        position_similarity(rng.standard_normal((17, 8)), 3)
    with pytest.raises(TinyViTError, match="has 17 tokens, but a 3x3 grid"):
        mean_attention_distance(np.ones((1, 2, 18, 18)) / 18, grid=3, patch_size=2, has_cls=True)
    with pytest.raises(TinyViTError, match="non-empty list of attention maps"):
        attention_rollout([])
    with pytest.raises(TinyViTError, match="non-empty list of attention maps"):
        attention_rollout(np.ones((1, 2, 5, 5)))
    with pytest.raises(TinyViTError, match="count must be a positive whole number, got -1"):
        patch_filter_components(rng.standard_normal((12, 8)), 2, 3, count=-1)
    weight = rng.standard_normal((12, 8))
    assert patch_filter_components(weight, 2, 3, count=np.int64(3)).shape == (3, 2, 2, 3)   # NumPy ints count
    with pytest.raises(TinyViTError, match="the weight holds NaN or infinite values"):
        patch_filter_components(np.where(weight > 1, np.nan, weight), 2, 3)
    with pytest.raises(TinyViTError, match="has_cls must be True or False, got 2"):
        mean_attention_distance(np.ones((1, 2, 10, 10)) / 10, grid=3, patch_size=2, has_cls=2)
    with pytest.raises(TinyViTError, match=r"\(P\*P\*C, D\) = \(12, D\) weight, got shape \(10, 8\)"):
        patch_filter_components(rng.standard_normal((10, 8)), 2, 3)
    with pytest.raises(TinyViTError, match="3 images but 2 titles"):
        plots.image_grid(np.zeros((3, 4, 4, 1)), ["a", "b"], tmp_path / "g.png")
    with pytest.raises(TinyViTError, match="2 labels but 3 values"):
        plots.bar_plot(["a", "b"], [0.1, 0.2, 0.3], tmp_path / "b.png", ylabel="acc")
    with pytest.raises(TinyViTError, match="a 10x10 image does not cut into a square grid of 4x4 patches"):
        plots.patch_grid_figure(np.zeros((10, 10, 1)), 4, tmp_path / "p.png")
    # A path without .png gets it: the file written and the path returned are the same.
    written = plots.bar_plot(["a"], [0.5], tmp_path / "v2" / "fig", ylabel="acc")
    assert written == tmp_path / "v2" / "fig.png" and written.is_file()
