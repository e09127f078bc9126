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
