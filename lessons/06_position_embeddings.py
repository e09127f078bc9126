# %% [markdown]
# # Lesson 6 - Which position embedding? The paper's Table 8 on a task where position is everything
#
# On ImageNet the paper found that *any* position embedding beats none by about 3 points, and
# that the kind hardly matters. Here we make the point sharper with the `layout` dataset: each
# image has a red and a blue square, and the label is where red sits relative to blue
# (above-left, above-right, below-left, below-right). Every patch holds at most one square, so
# a model that cannot tell where a patch came from (no position embedding) can only guess: 25%.

# %%
from pathlib import Path

from tinyvit.data import load_dataset
from tinyvit.train.recipe import train_preset
from tinyvit.viz.plots import bar_plot, image_grid

FIGURES = Path(__file__).resolve().parent / "figures"
# A smaller model and a shorter run than the preset (8,000 images, 4 blocks of width 64), so that
# five models train in about a minute.
SMALL = {"dim": 32, "depth": 2, "heads": 2, "mlp_dim": 64}
TRAIN = {"epochs": 10, "lr": 3e-3, "warmup_epochs": 1}
SIZES = {"n_train": 4000, "n_test": 500}

# %%
sample = load_dataset("layout", n_train=16, n_test=1, patch_size=8)
image_grid(sample.x_train, [sample.class_names[k] for k in sample.y_train], FIGURES / "06_layout_samples.png",
           title="layout: the label is where red is relative to blue")

# %% [markdown]
# ## 1. The variants
# - `none`: a bag of patches.
# - `learned`: one learned vector per position (the paper's default, "1-D").
# - `learned2d`: a learned X table and Y table, each D/2 wide, concatenated.
# - `sincos2d`: the same X/Y idea with fixed sines and cosines (no parameters).
# - `relative`: no table on the tokens; attention learns a bias per offset between query and key.
# The placements of Table 8 (at every layer, or at every layer shared) are one flag away:
# `python -m tinyvit train --preset layout --pos-embed learned --pos-embed-placement every_layer`.

# %%
results = {}
for pos in ("none", "learned", "learned2d", "sincos2d", "relative"):
    trainer = train_preset("layout", model={**SMALL, "pos_embed": pos}, train=TRAIN, data=SIZES, log=lambda *a: None)
    results[pos] = trainer.summary()["final_test_acc"]
    print(f"{pos:10s} test accuracy {results[pos]:.1%}  ({trainer.elapsed:.0f} s)")

# %%
bar_plot(list(results), list(results.values()), FIGURES / "06_position_embeddings.png", ylabel="test accuracy",
         title=f"layout, {TRAIN['epochs']} epochs: position embeddings (Table 8)", reference=0.25,
         reference_label="chance")

# %% [markdown]
# Without positions the model stays at chance; with any of them it learns the task. The fixed
# 2-D table and relative attention know the geometry from the start and learn fastest; a learned
# table must first discover which positions are neighbours, and with a short budget it may not
# get there (try more epochs). With enough training, which kind wins by a point depends on the
# seed - just as in the paper.
# For the full runs: `python -m tinyvit train --preset layout --pos-embed none` (and learned, ...).
