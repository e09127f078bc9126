# %% [markdown]
# # Lesson 8 - Attention rollout: what the [CLS] token sees (the paper's Fig. 6)
#
# One layer's attention says where each token looks, but after several layers every token is a
# mix of many. Attention rollout (Abnar & Zuidema, 2020) follows the mixing through the layers:
# average each layer's attention over the heads, add the identity for the residual connection,
# renormalise, and multiply the layers together. Row 0 of the product says how much of each
# input patch reaches the [CLS] token at the top.

# %%
from pathlib import Path

from tinyvit.data import denormalize
from tinyvit.train.recipe import train_preset
from tinyvit.viz import attention_rollout
from tinyvit.viz.plots import overlay_grid

FIGURES = Path(__file__).resolve().parent / "figures"

# %% [markdown]
# A model trained on `shapes`: one object on a noisy background. If the model has learned to look
# at the object, the rollout should light up the object and not the background.

# %%
trainer = train_preset("shapes", model={"patch_size": 4, "dim": 32, "depth": 3, "heads": 4, "mlp_dim": 64},
                       train={"epochs": 8, "lr": 3e-3, "warmup_epochs": 1}, data={"n_train": 3000, "n_test": 500},
                       log=lambda *a: None)
model, c = trainer.model, trainer.model.config
print(f"test accuracy {trainer.summary()['final_test_acc']:.1%}")

# %%
x = trainer.x_test[:8]
pred = model.forward(x).argmax(axis=1)
rollout = attention_rollout(model.attention_maps())                         # (B, N, N)
cls_map = rollout[:, 0, 1:].reshape(-1, c.grid_size, c.grid_size)          # [CLS] row, patch columns
names = trainer.dataset.class_names
overlay_grid(denormalize(x, trainer.mean, trainer.std), cls_map, FIGURES / "08_attention_rollout.png",
             titles=[names[k] for k in pred], title="attention rollout from [CLS] (bottom) on test images (top)")
