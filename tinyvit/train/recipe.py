"""A preset's full recipe from Python: what `tinyvit train --preset NAME` does, for lessons and notebooks.

    trainer = train_preset("digits", quick=True, model={"pos_embed": "learned2d"})
    trainer.summary()["final_test_acc"], trainer.model.attention_maps()
"""

from __future__ import annotations

from dataclasses import dataclass

from tinyvit.config import ViTConfig
from tinyvit.presets import data_options, get_preset
from tinyvit.train.config import DataSpec, TrainConfig

_DATA_SIZE_FIELDS = ("n_train", "n_test")


@dataclass
class Recipe:
    """The three configs of one run: the model, the optimisation and the data."""

    model: ViTConfig
    train: TrainConfig
    data: DataSpec


def build_recipe(name: str, *, quick: bool = False, seed: int = 0, data_seed: int | None = None,
                 model: dict | None = None, train: dict | None = None, data: dict | None = None,
                 data_dir: str | None = None, download: bool = False) -> Recipe:
    """Preset `name`, then its `quick` overrides (if asked), then the given overrides, field by field.

    `model` holds ViTConfig fields, `train` TrainConfig fields and `data` loader options
    (n_train, n_test). `seed` seeds the model, the batch order and (unless `data_seed` is
    given) the data split or generator.
    """
    preset = get_preset(name)
    quick_values = preset.quick if quick else {}
    model_fields = {**preset.model, **{k: v for k, v in quick_values.items() if k in ViTConfig.__dataclass_fields__},
                    **(model or {}), "seed": seed}
    train_fields = {**preset.train, **{k: v for k, v in quick_values.items() if k in TrainConfig.__dataclass_fields__},
                    **(train or {}), "seed": seed}
    extra = {**preset.data, **{k: v for k, v in quick_values.items() if k in _DATA_SIZE_FIELDS}, **(data or {})}
    spec = DataSpec(name=preset.dataset, data_dir=data_dir, download=download,
                    seed=seed if data_seed is None else data_seed,
                    options=data_options(preset.dataset, model_fields, extra))
    return Recipe(model=ViTConfig.from_dict(model_fields), train=TrainConfig.from_dict(train_fields), data=spec)


def load_recipe_data(recipe: Recipe):
    """Load the recipe's dataset at the model's input size; an image folder sets num_classes."""
    from tinyvit.errors import TinyViTError
    from tinyvit.train.data import load_data

    dataset = load_data(recipe.data, image_size=recipe.model.image_size)
    channels = dataset.image_shape[2]
    if channels != recipe.model.in_channels:
        raise TinyViTError(f"dataset '{recipe.data.name}' has {channels}-channel images, but the model "
                           f"takes {recipe.model.in_channels}.")
    if dataset.num_classes != recipe.model.num_classes:
        recipe.model = ViTConfig.from_dict({**recipe.model.to_dict(), "num_classes": dataset.num_classes})
    return dataset


def train_preset(name: str, *, out_dir: str | None = None, progress: bool = False, log=print, **overrides):
    """Build the recipe (see build_recipe for the overrides), load the data, train; return the Trainer.

    The trained model is trainer.model, its data trainer.dataset, the per-epoch metrics
    trainer.history and the final figures trainer.summary().
    """
    from tinyvit.model import ViT
    from tinyvit.train.loop import Trainer

    recipe = build_recipe(name, **overrides)
    dataset = load_recipe_data(recipe)
    trainer = Trainer(ViT(recipe.model), dataset, recipe.train, recipe.data, out_dir=out_dir, progress=progress,
                      log=log)
    trainer.fit()
    return trainer
