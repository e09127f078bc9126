# %% [markdown]
# # Lesson 1 - From words to pixels: why a ViT cuts images into patches
#
# A Transformer reads a *sequence of vectors*. For text the recipe is:
# characters or words -> integer token ids -> a lookup in an embedding table -> vectors.
# Can we do the same with an image, one token per pixel? This lesson counts what that would
# cost and shows the way out that the ViT paper took: one token per 16x16 patch.
#
# Run it as a script (`python lessons/01_tokens_and_pixels.py`) or open it as a notebook:
# every `# %%` line starts a cell. Figures are saved to lessons/figures/.

# %%
from pathlib import Path

import numpy as np

from tinyvit.viz.plots import line_plot

FIGURES = Path(__file__).resolve().parent / "figures"
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Text: token ids and an embedding table
# A vocabulary maps every word to an integer; an embedding table (vocab x D) maps every
# integer to a learned vector. "I love you" becomes 3 tokens, i.e. a (3, D) matrix.

# %%
vocab = {"I": 3, "love": 5, "you": 7}
sentence = ["I", "love", "you"]
ids = np.array([vocab[w] for w in sentence])
D = 8
embedding_table = rng.normal(0, 0.02, size=(10, D))  # (vocab size, D), learned in a real model
tokens = embedding_table[ids]                         # (N, D) = (3, 8)
print("token ids:", ids, "-> token matrix of shape", tokens.shape)

# %% [markdown]
# ## 2. An image, one token per pixel?
# A 224x224 image has 50,176 pixels. BERT reads at most 512 tokens, so that is about 98 times
# longer, and self-attention compares every token with every other: its cost and its N x N
# attention matrix grow with the *square* of the sequence length.

# %%
side = 224
pixels = side * side
print(f"{side}x{side} image: {pixels:,} pixel tokens = {pixels / 512:.0f}x BERT's 512")
att_bytes = pixels**2 * 4
print(f"one float32 attention matrix (N x N) for one head of one layer: {att_bytes / 2**30:.1f} GiB")

# %% [markdown]
# ## 3. Patches: one token per P x P square
# Cut the image into 16x16 patches: a 14x14 grid, 196 tokens. The attention matrix shrinks by
# a factor 256^2 = 65,536. The figure compares the two as the image grows.

# %%
P = 16
grid = side // P
print(f"{side}x{side} image in {P}x{P} patches: a {grid}x{grid} grid = {grid * grid} tokens")

sides = np.array([32, 64, 96, 128, 160, 192, 224, 256, 384])
pixel_tokens = sides**2
patch_tokens = (sides // P) ** 2
line_plot(sides, {"tokens, one per pixel": pixel_tokens, "tokens, one per 16x16 patch": patch_tokens,
                  "attention entries N^2, pixels": pixel_tokens.astype(float) ** 2,
                  "attention entries N^2, patches": patch_tokens.astype(float) ** 2},
          FIGURES / "01_sequence_length.png", xlabel="image side (pixels)", ylabel="count (log scale)",
          title="Why ViT uses patches: attention cost grows with N^2", logy=True)

# %% [markdown]
# Other ways out exist (local attention windows, cheaper attention formulas), but patches are the
# simplest: the Transformer stays exactly the one from NLP. Next lesson: how a patch becomes a token.
