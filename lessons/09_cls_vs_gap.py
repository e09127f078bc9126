# %% [markdown]
# # Lesson 9 - [CLS] token or global average pooling? (the paper's Fig. 9)
#
# The ViT borrows BERT's [CLS] token to summarise the image. The alternative is to average the
# outputs of all patch tokens (GAP), the usual choice of CNNs. The paper found both work equally
# well - but with *different learning rates*: tuned for one, the other looks worse. Here is the
# same experiment in miniature on the digits.

# %%
from pathlib import Path

from tinyvit.train.recipe import train_preset
from tinyvit.viz.plots import line_plot

FIGURES = Path(__file__).resolve().parent / "figures"
LEARNING_RATES = [3e-4, 1e-3, 3e-3, 1e-2]
EPOCHS = 10
SMALL = {"dim": 32, "depth": 2, "heads": 2, "mlp_dim": 64}  # a smaller model than the preset: 8 runs in a minute

# %%
results = {"cls": [], "gap": []}
for pool in results:
    for lr in LEARNING_RATES:
        trainer = train_preset("digits", model={**SMALL, "pool": pool},
                               train={"epochs": EPOCHS, "lr": lr, "warmup_epochs": 1},
                               log=lambda *a: None)
        results[pool].append(trainer.summary()["final_test_acc"])
        print(f"pool={pool}  lr={lr:.0e}  test accuracy {results[pool][-1]:.1%}")

# %%
line_plot(LEARNING_RATES, {f"{pool.upper()} pooling": acc for pool, acc in results.items()},
          FIGURES / "09_cls_vs_gap.png", xlabel="peak learning rate", ylabel="test accuracy", logx=True,
          title=f"digits, {EPOCHS} epochs: [CLS] token vs global average pooling")
for pool, acc in results.items():
    best = max(range(len(acc)), key=acc.__getitem__)
    print(f"{pool}: best {acc[best]:.1%} at lr {LEARNING_RATES[best]:.0e}")
