# %% [markdown]
# # Lesson 7 - What a trained ViT learns (the paper's Fig. 7)
#
# Three views into a trained model:
# 1. the patch-embedding filters: their leading principal components look like the basis
#    functions of a patch (edges, colour blobs);
# 2. the learned 1-D position embeddings: nobody told the model the patches form a grid, yet
#    each position ends up most similar to its neighbours in the same row and column;
# 3. the mean attention distance per head: how far, in pixels, a head looks on average.
#    Some heads look far already in the first layer; others stay local, like a convolution.

# %%
from pathlib import Path

import numpy as np

from tinyvit.train.recipe import train_preset
from tinyvit.viz import mean_attention_distance, patch_filter_components, position_similarity
from tinyvit.viz.plots import attention_distance_plot, heatmap_grid, image_grid

FIGURES = Path(__file__).resolve().parent / "figures"

# %% [markdown]
# A small model with a learned 1-D table (8x8 patches: a 4x4 grid), trained on `layout`, where
# knowing positions is the whole task.

# %%
trainer = train_preset("layout", model={"pos_embed": "learned", "dim": 32, "depth": 3, "heads": 4, "mlp_dim": 64},
                       train={"epochs": 10, "lr": 3e-3, "warmup_epochs": 1}, data={"n_train": 4000, "n_test": 500},
                       log=lambda *a: None)
model, c = trainer.model, trainer.model.config
print(f"test accuracy {trainer.summary()['final_test_acc']:.1%}")

# %% [markdown]
# ## 1. Patch-embedding filters (Fig. 7, left)

# %%
components = patch_filter_components(model.params["patch_embed.weight"], c.patch_size, c.in_channels, count=16)
image_grid(components, [f"PC {k}" for k in range(16)], FIGURES / "07_patch_filters.png",
           title="principal components of the patch-embedding filters")

# %% [markdown]
# ## 2. Position-embedding similarity (Fig. 7, centre)
# Square (r, c) shows the cosine similarity of position (r, c)'s embedding with every position.

# %%
sim = position_similarity(model.params["pos_embed.table"], c.grid_size)   # (g, g, g, g)
heatmap_grid(sim, FIGURES / "07_position_similarity.png", vmin=-1, vmax=1, cmap="RdBu_r",
             title="cosine similarity of learned 1-D position embeddings")
rows, cols = np.divmod(np.arange(c.num_patches), c.grid_size)
flat = sim.reshape(c.num_patches, c.num_patches)
same_row = flat[(rows[:, None] == rows[None]) & (cols[:, None] != cols[None])].mean()
elsewhere = flat[(rows[:, None] != rows[None]) & (cols[:, None] != cols[None])].mean()
print(f"mean similarity: same row {same_row:.2f}, neither same row nor column {elsewhere:.2f}")

# %% [markdown]
# ## 3. Mean attention distance (Fig. 7, right)

# %%
model.forward(trainer.x_test[:200])
distances = np.stack([mean_attention_distance(att, c.grid_size, c.patch_size, has_cls=c.pool == "cls")
                      for att in model.attention_maps()])                     # (layers, heads)
print("mean attention distance in pixels (rows: layers, columns: heads):")
print(np.array2string(distances, precision=1))
attention_distance_plot(distances, FIGURES / "07_attention_distance.png", c.image_size,
                        title="how far each head looks")
