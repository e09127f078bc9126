# %% [markdown]
# # Lesson 4 - The Transformer encoder, one named cache at a time
#
# A ViT block is the Transformer encoder of NLP with the LayerNorms moved *before* attention
# and the MLP (pre-norm) and no padding mask (every image has the same number of patches):
#
#     x = x + Attention(LayerNorm(x))
#     x = x + MLP(LayerNorm(x))          MLP = Linear -> GELU -> Linear
#
# This lesson runs one forward pass and then reads what every step kept for the backward pass:
# the caches a student can also inspect at a breakpoint.

# %%
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

from tinyvit import ViT, ViTConfig
from tinyvit.gradcheck import check_model
from tinyvit.ops import gelu_forward
from tinyvit.viz.plots import heatmap_grid, line_plot

FIGURES = Path(__file__).resolve().parent / "figures"
rng = np.random.default_rng(0)

# %%
digits = load_digits()
images = (digits.images[:4] / 16.0)[..., None].astype(np.float32)   # (B, H, W, C) = (4, 8, 8, 1)
config = ViTConfig(image_size=8, patch_size=2, in_channels=1, num_classes=10, dim=32, depth=2, heads=4,
                   mlp_dim=64, pool="cls", pos_embed="learned")
model = ViT(config)
logits = model.forward(images)
print(f"{model.num_params():,} parameters, {model.flops_per_image():,} FLOPs per image; logits {logits.shape}")

# %% [markdown]
# ## 1. The stem: patches -> tokens -> [CLS] -> positions

# %%
c = model.cache
print("patches         ", c.patch_embed.x.shape, "  (B, N patches, P*P*C)")
print("patch embedding ", c.patch_embed.w.shape, "       (P*P*C, D)")
print("tokens entering block 0", c.blocks[0].attn.qkv.x.shape[:2] + (config.dim,), "  (B, N+1, D) with [CLS]")

# %% [markdown]
# ## 2. Inside a block
# LayerNorm keeps the mean and 1/std of every token (its backward needs them). Attention keeps
# its probabilities: row i of head h says where token i looks. The MLP keeps the pre-GELU values.

# %%
for i, block in enumerate(c.blocks):
    print(f"block {i}: LayerNorm mean {block.norm1.mean.shape} rstd {block.norm1.rstd.shape}; "
          f"q,k,v {block.attn.attn.q.shape} (B, H, N, Dh); attention {block.attn.attn.att.shape} (B, H, N, N); "
          f"pre-GELU {block.mlp.act.x.shape} (B, N, M)")
att = np.stack(model.attention_maps())                     # (layers, B, H, N, N)
print("every attention row sums to one:", np.allclose(att.sum(-1), 1.0))

# %% [markdown]
# An untrained model's attention is diffuse: every row spreads its weight over many tokens, in
# patterns that come from the random weights, not from the image. Training (lesson 5) changes that.

# %%
heatmap_grid(att[:, 0], FIGURES / "04_attention_untrained.png", cell=2.0,
             title="attention of an untrained ViT (rows: layers, columns: heads; image 0)")

# %% [markdown]
# ## 3. GELU: the smooth ReLU of the MLP
# GELU(x) = x * Phi(x), Phi the normal CDF. PyTorch computes Phi exactly with erf; the official JAX
# ViT uses a tanh approximation. They differ by less than 5e-4, which `ViTConfig(gelu=...)` selects.

# %%
xs = np.linspace(-4, 4, 81)
exact, _ = gelu_forward(xs, "erf")
approx, _ = gelu_forward(xs, "tanh")
print(f"largest |erf - tanh| GELU difference on [-4, 4]: {np.abs(exact - approx).max():.1e}")
line_plot(xs, {"GELU (erf)": exact, "GELU (tanh approx.)": approx, "ReLU": np.maximum(xs, 0)},
          FIGURES / "04_gelu.png", xlabel="x", ylabel="activation", title="GELU and ReLU")

# %% [markdown]
# ## 4. The backward pass, proven
# Every operation's backward is written by hand. The proof is a finite-difference check: nudge each
# number by +-h, measure the change of the loss, compare with the backward's gradient. In float64,
# with random weights (a zero head would hide every gradient behind it):

# %%
small = ViT(ViTConfig(image_size=8, patch_size=4, in_channels=1, num_classes=3, dim=8, depth=2, heads=2,
                      mlp_dim=16, dtype="float64", backend="numpy"))
for p in small.params.values():
    p += rng.normal(0, 0.5, p.shape)
errors = check_model(small, rng.random((2, 8, 8, 1)), np.array([0, 2]), entries=None)
worst = max(errors, key=errors.get)
print(f"checked every entry of {len(errors) - 1} parameters and the images: worst relative error "
      f"{errors[worst]:.1e} ({worst})")
