# %% [markdown]
# # Lesson 3 - The [CLS] token and position embeddings
#
# Two things are added to the patch tokens before the Transformer sees them:
# 1. a learnable [CLS] token in front, whose output at the top will summarise the image
#    (BERT's trick; the alternative is to average all outputs, "GAP" - lesson 9);
# 2. a position embedding, because attention by itself cannot tell where a token came from.

# %%
from pathlib import Path

import numpy as np

from tinyvit import ViT, ViTConfig
from tinyvit.ops import cls_prepend_forward, patchify_forward, sincos2d_table, unpatchify
from tinyvit.viz import position_similarity
from tinyvit.viz.plots import heatmap_grid, line_plot

FIGURES = Path(__file__).resolve().parent / "figures"
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Prepend [CLS]
# The same learned vector goes in front of every image's patch tokens: N patches become N+1 tokens.

# %%
tokens = rng.normal(size=(2, 16, 8))                       # (B, N, D): 16 patch tokens
cls = np.zeros(8)                                          # (D,), zero-initialised like the official ViT
with_cls = cls_prepend_forward(tokens, cls)                # (B, N+1, D)
print("patch tokens", tokens.shape, "-> with [CLS]", with_cls.shape)

# %% [markdown]
# ## 2. Attention is blind to order
# Self-attention computes the same thing for a set of tokens in any order: shuffle the inputs and
# the outputs are shuffled the same way. Average them (GAP) and the result does not change at all.
# Without a position embedding a ViT sees a *bag of patches*. Let us shuffle the patches of an
# image and compare the logits of two random models, one without and one with position embeddings.

# %%
image = rng.random((1, 16, 16, 3))
patches, _ = patchify_forward(image, 4)
shuffled = unpatchify(patches[:, rng.permutation(16)], 4, 16, 16)

for pos in ("none", "learned"):
    model = ViT(ViTConfig(image_size=16, patch_size=4, dim=32, heads=2, depth=2, pool="gap", pos_embed=pos,
                          dtype="float64", backend="numpy"))
    for p in model.params.values():                        # random weights: an untrained head is all zeros
        p += rng.normal(0, 0.3, p.shape)
    change = np.abs(model.forward(image) - model.forward(shuffled)).max()
    print(f"pos_embed={pos!r:10}: largest change of the logits when the patches are shuffled = {change:.2e}")

# %% [markdown]
# ## 3. Why may we simply *add* the position to the token?
# One could concatenate instead, but adding keeps the width D. In a high-dimensional space, two
# random vectors are almost orthogonal (their cosine is about N(0, 1/D)), so a position vector and
# the content mostly live in different directions, and the layers can learn to pull them apart.

# %%
dims = [2, 8, 32, 128, 512]
spread = []
for d in dims:
    a, b = rng.normal(size=(2000, d)), rng.normal(size=(2000, d))
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    spread.append(np.abs(cos).mean())
    print(f"D={d:4d}: mean |cosine| of two random vectors = {spread[-1]:.3f}")
expected = [np.sqrt(2 / (np.pi * d)) for d in dims]  # the mean of |N(0, 1/D)|
line_plot(dims, {"mean |cos| of random pairs": spread, "sqrt(2 / (pi D))": expected},
          FIGURES / "03_random_vectors_orthogonal.png", xlabel="width D", ylabel="|cosine|", logx=True,
          title="In high dimensions random vectors are nearly orthogonal")

# %% [markdown]
# ## 4. What a position table looks like
# The paper learns the table (1-D: one vector per position). A fixed 2-D sine-cosine table
# (SimpleViT) needs no training and shows the structure a learned table tends to find: each
# position is most similar to its neighbours in the same row and column. Each small square is
# one position (row, col); its pixels are the cosine similarity to every other position.

# %%
grid, D = 7, 64
table = sincos2d_table(grid, D, has_cls=False, dtype=np.float64)   # (N, D)
# The low frequencies give every position almost the same cosines; removing the mean over
# positions takes that shared part away and leaves what tells positions apart.
sim = position_similarity(table - table.mean(axis=0), grid)        # (g, g, g, g)
heatmap_grid(sim, FIGURES / "03_sincos2d_similarity.png", vmin=-1, vmax=1, cmap="RdBu_r",
             title="cosine similarity of 2-D sin-cos position embeddings (7x7 grid)")

# %% [markdown]
# ## 5. The paper's Table 8
# ImageNet 5-shot linear accuracy of ViT-B/16 with each kind of position embedding:
#
# | position embedding | at the stem | every layer | every layer, shared |
# |---|---|---|---|
# | none | 0.61382 | N/A | N/A |
# | 1-D learned | 0.64206 | 0.63964 | 0.64292 |
# | 2-D learned | 0.64001 | 0.64046 | 0.64022 |
# | relative | 0.64032 | N/A | N/A |
#
# Any position information helps (+3 points); *which* kind hardly matters at this patch size.
# Lesson 6 reproduces the first column on a task where position is everything.
