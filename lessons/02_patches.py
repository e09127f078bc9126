# %% [markdown]
# # Lesson 2 - Patches and the patch embedding
#
# The ViT cuts an image into P x P patches, flattens each one into a vector of P*P*C numbers
# and maps it with one shared linear layer to a token of width D. This lesson does it by hand
# on a real handwritten digit, and shows that this "flatten + linear" is exactly a convolution
# whose kernel size and stride are both P.

# %%
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

from tinyvit.ops import conv2d_direct, linear_forward, patchify_forward, unpatchify
from tinyvit.viz.plots import image_grid, patch_grid_figure

FIGURES = Path(__file__).resolve().parent / "figures"
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Cut the image into patches
# An 8x8 digit with 2x2 patches gives a 4x4 grid: 16 tokens. Images are (B, H, W, C),
# channels last, like Pillow and matplotlib.

# %%
digits = load_digits()
image = (digits.images[0] / 16.0)[None, :, :, None]      # (B, H, W, C) = (1, 8, 8, 1)
P = 2
patches, cache = patchify_forward(image, P)               # (B, N, P*P*C) = (1, 16, 4)
print("image", image.shape, "-> patches", patches.shape)
patch_grid_figure(image[0], P, FIGURES / "02_patch_grid.png", title=f"digit {digits.target[0]}: 16 patch tokens")

# %% [markdown]
# The grid is read row by row (raster order), and inside a patch the numbers are ordered
# (row, column, channel). Patchify only moves numbers around, so it can be undone exactly:

# %%
assert np.array_equal(unpatchify(patches, P, 8, 8), image)
print("patch 5 = grid row 1, col 1:", patches[0, 5], "=", image[0, 2:4, 2:4, 0].ravel())

# %% [markdown]
# ## 2. The patch embedding: one linear layer shared by all patches
# A weight of shape (P*P*C, D) turns each flattened patch into a D-dimensional token.
# Every patch uses the same weight, just as every position of a convolution uses the same kernel.

# %%
D = 6
weight = rng.normal(0, 0.5, size=(P * P * 1, D))          # (P*P*C, D)
bias = rng.normal(0, 0.1, size=D)
tokens, _ = linear_forward(patches, weight, bias)         # (B, N, D) = (1, 16, 6)
print("tokens", tokens.shape)

# %% [markdown]
# ## 3. ... which is a convolution with kernel P and stride P
# Reshape the weight to a (P, P, C, D) kernel (the layout of the official ViT checkpoints) and
# slide it over the image in steps of P: the windows tile the image without overlap, and each
# output pixel is one token.

# %%
kernel = weight.reshape(P, P, 1, D)                        # (P, P, C, D)
conv = conv2d_direct(image, kernel, bias, stride=P)        # (B, 4, 4, D)
difference = np.abs(conv.reshape(1, 16, D) - tokens).max()
print(f"largest difference between conv and patchify+linear: {difference:.1e}")
assert difference < 1e-12

# %% [markdown]
# ## 4. What a patch embedding can look like
# Each of the D output channels has a P x P x C filter. Here are filters of a random
# embedding at a bigger patch size; after training (lesson 7) they look like edge and blob detectors.

# %%
P_big, D_big = 4, 16
filters = rng.normal(size=(D_big, P_big, P_big, 1))
image_grid(filters, [f"filter {d}" for d in range(D_big)], FIGURES / "02_random_filters.png",
           title="the D filters of a random 4x4 patch embedding")
