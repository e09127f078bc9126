# %% [markdown]
# # Lesson 5 - Training a ViT on real handwritten digits
#
# Everything so far was the forward and backward pass. Training adds four things:
# a loss (softmax cross-entropy, with label smoothing), an optimiser (AdamW: Adam with
# decoupled weight decay), a learning-rate schedule (linear warmup, then cosine decay) and
# augmentation (small shifts, rotations and zooms, so 1,347 training images go further).
# `tinyvit train --preset digits` does exactly this; here we call it from Python, shortened.

# %%
from pathlib import Path

import numpy as np

from tinyvit.data import denormalize
from tinyvit.train.evaluate import format_confusion
from tinyvit.train.recipe import build_recipe, train_preset
from tinyvit.viz.plots import heatmap_grid, image_grid, line_plot

FIGURES = Path(__file__).resolve().parent / "figures"
EPOCHS = 20  # the full preset trains for 240 epochs; see README

# %% [markdown]
# ## 1. The recipe
# The preset upscales the 8x8 digits to 16x16 and cuts them into 4x4 patches: 16 patch tokens
# plus [CLS]. The model has 4 blocks of width 64.

# %%
recipe = build_recipe("digits", train={"epochs": EPOCHS})
print(recipe.model)
print(recipe.train)

# %%
trainer = train_preset("digits", train={"epochs": EPOCHS, "eval_every": 1})
summary = trainer.summary()
print(f"test accuracy after {EPOCHS} epochs: {summary['final_test_acc']:.2%} "
      f"({summary['elapsed_seconds']:.0f} s, {summary['img_per_s']:.0f} images/s)")

# %% [markdown]
# ## 2. The learning curves
# Training loss includes label smoothing, so it never reaches zero; the test loss does not.

# %%
h = trainer.history
epochs = [r["epoch"] for r in h]
line_plot(epochs, {"train loss": [r["train_loss"] for r in h], "test loss": [r["test_loss"] for r in h]},
          FIGURES / "05_loss.png", xlabel="epoch", ylabel="cross-entropy", title="digits: loss")
line_plot(epochs, {"train accuracy": [r["train_acc"] for r in h], "test accuracy": [r["test_acc"] for r in h],
                   "learning rate / peak": [r["lr"] / recipe.train.lr for r in h]},
          FIGURES / "05_accuracy.png", xlabel="epoch", ylabel="fraction", title="digits: accuracy and schedule")

# %% [markdown]
# ## 3. Where it still errs
# Rows are the true digit, columns the prediction.

# %%
ev = trainer.last_eval
print(format_confusion(ev.confusion, trainer.dataset.class_names))

# %% [markdown]
# ## 4. Predictions, and where the trained model looks
# After training, the [CLS] token's attention in the last block concentrates on the patches
# that carry strokes, unlike the diffuse attention of the untrained model in lesson 4.

# %%
data, model = trainer.dataset, trainer.model
x = trainer.x_test[:16]                                       # normalised test images
logits = model.forward(x)
pred = logits.argmax(axis=1)
titles = [f"{p} ({'ok' if p == t else 'true ' + str(t)})" for p, t in zip(pred, data.y_test[:16], strict=True)]
image_grid(denormalize(x, trainer.mean, trainer.std), titles, FIGURES / "05_predictions.png",
           title="test digits: prediction (truth)")

cls_attention = model.attention_maps()[-1][:8, :, 0, 1:]       # (B, H, N-1): [CLS] looking at each patch
g = model.config.grid_size
heatmap_grid(cls_attention.reshape(8, -1, g, g).transpose(1, 0, 2, 3), FIGURES / "05_cls_attention.png",
             cell=1.1, title="last block: [CLS] attention to each patch (rows: heads, columns: images)")
print("mean attention entropy of [CLS] in the last block:",
      float(-(cls_attention * np.log(cls_attention + 1e-12)).sum(-1).mean()), "nats (uniform:", np.log(g * g), ")")
