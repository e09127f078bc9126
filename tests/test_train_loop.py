"""The training loop: it learns, it resumes bit-exactly, it stops cleanly on NaN, it logs every epoch."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tinyvit import TinyViTError, ViT, ViTConfig
from tinyvit.checkpoint import load_checkpoint
from tinyvit.data import Dataset
from tinyvit.train import DataSpec, TrainConfig, Trainer, TrainingDiverged
from tinyvit.train.data import load_data


def tiny_model(**overrides) -> ViT:
    values = dict(image_size=8, patch_size=2, in_channels=1, num_classes=10, dim=32, depth=1, heads=2,
                  mlp_dim=64, backend="numpy")
    values.update(overrides)
    return ViT(ViTConfig(**values))


@pytest.fixture(scope="module")
def digits():
    return load_data(DataSpec("digits", seed=0, options={"image_size": 8}))


def small(ds: Dataset, n_train: int, n_test: int) -> Dataset:
    return Dataset(name=ds.name, x_train=ds.x_train[:n_train], y_train=ds.y_train[:n_train],
                   x_test=ds.x_test[:n_test], y_test=ds.y_test[:n_test], class_names=ds.class_names)


def test_learns_digits(digits, tmp_path):
    recipe = TrainConfig(epochs=6, batch_size=32, lr=3e-3, warmup_epochs=0.5, seed=0)
    trainer = Trainer(tiny_model(), digits, recipe, DataSpec("digits", options={"image_size": 8}),
                      out_dir=tmp_path, progress=False, log=lambda s: None)
    summary = trainer.fit()
    assert summary["finished"] and summary["epochs_done"] == 6
    assert summary["final_test_acc"] > 0.6  # chance is 0.1; this tiny model gets ~0.75 in 6 epochs
    lines = [json.loads(s) for s in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2, 3, 4, 5, 6]
    for key in ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "seconds", "lr", "img_per_s"):
        assert all(key in r for r in lines), key
    assert lines[-1]["test_acc"] == pytest.approx(summary["final_test_acc"])
    assert lines[-1]["train_loss"] < lines[0]["train_loss"] - 0.5
    best = max(lines, key=lambda r: r["test_acc"])
    assert summary["best_test_acc"] == pytest.approx(best["test_acc"])
    assert load_checkpoint(tmp_path / "best.npz").epoch == best["epoch"]
    assert load_checkpoint(tmp_path / "last.npz").epoch == 6
    confusion = np.array(summary["confusion"])
    assert confusion.sum() == len(digits.y_test) and np.trace(confusion) / confusion.sum() == summary["final_test_acc"]
    assert json.loads((tmp_path / "summary.json").read_text())["epochs_done"] == 6


def test_resume_is_bit_exact(digits, tmp_path):
    """2 epochs in one go == 1 epoch, stop, resume from last.npz, 1 more epoch: identical weights."""
    data = small(digits, 200, 50)
    recipe = dict(epochs=2, batch_size=16, lr=2e-3, warmup_epochs=0.5, seed=3, translate=1.0, rotate=5.0,
                  scale=0.1, crop_pad=1, flip=True)
    spec = DataSpec("digits", options={"image_size": 8})

    def fresh(out):
        return Trainer(tiny_model(dropout=0.1, seed=3), data, TrainConfig(**recipe), spec, out_dir=out,
                       progress=False, log=lambda s: None)

    fresh(tmp_path / "a").fit()
    first = fresh(tmp_path / "b")
    summary = first.fit(stop_after=1)
    assert not summary["finished"] and summary["epochs_done"] == 1
    ckpt = load_checkpoint(tmp_path / "b" / "last.npz")
    resumed = Trainer.from_checkpoint(ckpt, data, out_dir=tmp_path / "b", progress=False, log=lambda s: None)
    assert resumed.epoch == 1 and resumed.optimizer.t == first.optimizer.t
    resumed.fit()

    a, b = load_checkpoint(tmp_path / "a" / "last.npz"), load_checkpoint(tmp_path / "b" / "last.npz")
    assert a.epoch == b.epoch == 2
    for name in a.params:
        np.testing.assert_array_equal(a.params[name], b.params[name], err_msg=name)
        np.testing.assert_array_equal(a.optimizer["m"][name], b.optimizer["m"][name], err_msg=name)
    assert a.meta["rng"] == b.meta["rng"]
    ma = [json.loads(s) for s in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    mb = [json.loads(s) for s in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in mb] == [1, 2]
    for ra, rb in zip(ma, mb, strict=True):
        for key in ("train_loss", "train_acc", "test_loss", "test_acc", "lr", "grad_norm"):
            assert ra[key] == rb[key], key


def test_resume_checks(digits, tmp_path):
    data = small(digits, 64, 20)
    trainer = Trainer(tiny_model(), data, TrainConfig(epochs=1, batch_size=32), out_dir=tmp_path, progress=False,
                      log=lambda s: None)
    trainer.fit()
    ckpt = load_checkpoint(tmp_path / "last.npz")
    with pytest.raises(TinyViTError, match="already completed 1 of 1 epochs"):
        Trainer.from_checkpoint(ckpt, data, out_dir=tmp_path)
    longer = Trainer.from_checkpoint(ckpt, data, out_dir=tmp_path, epochs=2, progress=False, log=lambda s: None)
    assert longer.fit()["epochs_done"] == 2
    other = Dataset(name="digits", x_train=data.x_train * 0.5, y_train=data.y_train, x_test=data.x_test,
                    y_test=data.y_test, class_names=data.class_names)
    with pytest.raises(TinyViTError, match="different data"):
        Trainer.from_checkpoint(ckpt, other, out_dir=tmp_path, epochs=3)
    renamed = Dataset(name="digits", x_train=data.x_train, y_train=data.y_train, x_test=data.x_test,
                      y_test=data.y_test, class_names=["zero", *data.class_names[1:]])   # same images, new names
    with pytest.raises(TinyViTError, match=r"trained on the classes 0, 1, .*, but this dataset has zero, 1, "):
        Trainer.from_checkpoint(ckpt, renamed, out_dir=tmp_path, epochs=3)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(digits, tmp_path):
    data = small(digits, 64, 20)
    trainer = Trainer(tiny_model(), data, TrainConfig(epochs=3, batch_size=32), out_dir=tmp_path, progress=False,
                      log=lambda s: None)
    forward = trainer.model.forward

    def poisoned(x, train=False):
        logits = forward(x, train)
        return logits * np.nan if train and trainer.epoch >= 1 else logits

    trainer.model.forward = poisoned
    with pytest.raises(TrainingDiverged, match=r"loss became nan at epoch 2, step 3 .*last good checkpoint") as err:
        trainer.fit()
    assert "\n" not in str(err.value) and isinstance(err.value, TinyViTError)
    ckpt = load_checkpoint(tmp_path / "last.npz")  # still loads: finite, complete, from epoch 1
    assert ckpt.epoch == 1
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 1


def test_nan_before_any_checkpoint(digits, tmp_path):
    trainer = Trainer(tiny_model(), small(digits, 64, 20), TrainConfig(epochs=1, batch_size=32), out_dir=tmp_path,
                      progress=False)
    forward = trainer.model.forward
    trainer.model.forward = lambda x, train=False: forward(x, train) * np.nan    # diverges at once
    with pytest.raises(TrainingDiverged, match="no checkpoint had been written yet"):
        trainer.fit()
    assert not (tmp_path / "last.npz").exists()


def test_a_dataset_with_nan_pixels_or_no_test_images_is_refused(digits):
    data = small(digits, 64, 20)
    x = data.x_train.copy()
    x[5, 2, 3, 0] = np.nan
    with pytest.raises(TinyViTError, match=r"x_train holds NaN or inf values \(first in image 5\)"):
        Dataset(name="digits", x_train=x, y_train=data.y_train, x_test=data.x_test, y_test=data.y_test,
                class_names=data.class_names)
    with pytest.raises(TinyViTError, match="has no test images: the trainer evaluates on them"):
        Trainer(tiny_model(), small(digits, 64, 0), TrainConfig(epochs=1), progress=False)


def test_dataset_must_fit_the_model(digits, tmp_path):
    with pytest.raises(TinyViTError, match="8x8 images with 1 channel.*expects 16x16"):
        Trainer(tiny_model(image_size=16, patch_size=4), digits, TrainConfig())
    with pytest.raises(TinyViTError, match="10 classes, but the model predicts 4"):
        Trainer(tiny_model(num_classes=4), digits, TrainConfig())
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(TinyViTError, match="not writable"):
        Trainer(tiny_model(), digits, TrainConfig(), out_dir=blocker / "run")
    with pytest.raises(TinyViTError, match="output directory .*file is a file, not a folder"):
        Trainer(tiny_model(), digits, TrainConfig(), out_dir=blocker)


def test_eval_every_logs_null_and_always_evaluates_the_last_epoch(digits, tmp_path):
    data = small(digits, 64, 20)
    trainer = Trainer(tiny_model(), data, TrainConfig(epochs=3, batch_size=32, eval_every=2), out_dir=tmp_path,
                      progress=False, log=lambda s: None)
    trainer.fit()
    lines = [json.loads(s) for s in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["test_acc"] is None for r in lines] == [True, False, False]


def test_trainer_and_evaluate_refuse_what_they_cannot_use(digits):
    from tinyvit.train.evaluate import evaluate, predict_logits

    model, data = tiny_model(), small(digits, 20, 10)
    with pytest.raises(TinyViTError, match="Trainer's train must be a TrainConfig, got dict"):
        Trainer(model, data, {"epochs": 1})
    with pytest.raises(TinyViTError, match="Trainer trains a tinyvit ViT, got ViTConfig"):
        Trainer(model.config, data, TrainConfig(epochs=1))
    with pytest.raises(TinyViTError, match="the output folder is empty"):
        Trainer(model, data, TrainConfig(epochs=1), out_dir="")
    x = data.x_test.astype(np.float32)
    for batch_size in (0, -1, 2.5):   # -1 used to report accuracy 0 on no batches at all
        with pytest.raises(TinyViTError, match=f"batch_size must be a whole number >= 1, got {batch_size}"):
            evaluate(model, x, data.y_test, batch_size=batch_size)
        with pytest.raises(TinyViTError, match="batch_size must be a whole number"):
            predict_logits(model, x, batch_size=batch_size)
