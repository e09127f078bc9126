"""The training loop: batches, augmentation, forward, loss, backward, clipping, AdamW, evaluation.

    trainer = Trainer(model, dataset, TrainConfig(epochs=30), DataSpec("digits"), out_dir="runs/digits")
    summary = trainer.fit()

Every epoch appends one JSON line to OUT/metrics.jsonl and rewrites OUT/last.npz (and
OUT/best.npz when the test accuracy improves). Trainer.from_checkpoint() continues a run
exactly: the batch order, the augmentations and the dropout masks come from generators
whose states the checkpoint keeps, so 1 + 1 epochs give the same weights as 2.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np

from tinyvit.checkpoint import Checkpoint, check_class_names, save_checkpoint
from tinyvit.data.augment import Augment
from tinyvit.data.batching import iterate_batches, num_batches
from tinyvit.errors import TinyViTError
from tinyvit.paths import user_path
from tinyvit.train.config import DataSpec, TrainConfig
from tinyvit.train.data import normalize_images
from tinyvit.train.data_parallel import DataParallel
from tinyvit.train.evaluate import EvalResult, evaluate
from tinyvit.train.optim import AdamW, clip_grad_norm
from tinyvit.train.schedule import warmup_cosine


class TrainingDiverged(TinyViTError):
    """The loss or the gradient became NaN or infinite; the last good checkpoint is kept."""


def check_output_dir(out_dir: str | Path) -> Path:
    """Create out_dir if needed and make sure we can write files in it (one-line error if not)."""
    out = user_path(out_dir, "output folder")
    if out.exists() and not out.is_dir():
        raise TinyViTError(f"output directory {out} is a file, not a folder.")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".tinyvit-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise TinyViTError(f"output directory {out} is not writable: {err.strerror or err}") from None
    return out


def check_dataset_fits(dataset, config) -> None:
    """The images and labels of `dataset` must be what the model takes and predicts."""
    h, w, c = dataset.image_shape
    if (h, w) != (config.image_size, config.image_size) or c != config.in_channels:
        raise TinyViTError(f"dataset '{dataset.name}' has {h}x{w} images with {c} channel(s), but the model "
                           f"expects {config.image_size}x{config.image_size} with {config.in_channels}.")
    if dataset.num_classes != config.num_classes:
        raise TinyViTError(f"dataset '{dataset.name}' has {dataset.num_classes} classes, but the model "
                           f"predicts {config.num_classes}.")


class Trainer:
    """Trains `model` on `dataset` with the recipe `train`; see the module docstring."""

    def __init__(self, model, dataset, train: TrainConfig, data: DataSpec | None = None,
                 out_dir: str | Path | None = None, progress: bool = True, log=print, log_every: int = 0):
        if not all(hasattr(model, name) for name in ("params", "grads", "config", "ops")):
            raise TinyViTError(f"Trainer trains a tinyvit ViT, got {type(model).__name__}.")
        if not isinstance(train, TrainConfig):
            raise TinyViTError(f"Trainer's train must be a TrainConfig, got {type(train).__name__} "
                               "(TrainConfig(**d) builds one from a dict).")
        check_dataset_fits(dataset, model.config)
        if len(dataset.x_train) == 0:
            raise TinyViTError(f"dataset '{dataset.name}' has no training images.")
        if len(dataset.x_test) == 0:   # the run is judged, and its best checkpoint chosen, on the test split
            raise TinyViTError(f"dataset '{dataset.name}' has no test images: the trainer evaluates on them "
                               "(and keeps the best epoch's model), so give it at least one.")
        self.model, self.dataset, self.train, self.data = model, dataset, train, data or DataSpec(dataset.name)
        self.out_dir = check_output_dir(out_dir) if out_dir is not None else None
        self.progress, self.log = progress, log
        self.log_every = log_every or max(1, train.epochs // 20)
        self.data_parallel = DataParallel(model)   # each thread runs forward and backward on a share of the batch
        self.optimizer = AdamW(model.params, weight_decay=train.weight_decay, beta1=train.beta1,
                               beta2=train.beta2, eps=train.eps, update_fn=model.ops.adamw_update)
        # Two independent streams: changing the augmentation never changes the batch order.
        data_seed, aug_seed = np.random.SeedSequence(train.seed).spawn(2)
        self.data_rng = np.random.default_rng(data_seed)
        self.aug_rng = np.random.default_rng(aug_seed)
        self.augment = Augment(**train.augment_kwargs())
        self.augmenting = any(bool(v) for v in train.augment_kwargs().values())
        self.mean, self.std = np.asarray(dataset.mean, np.float32), np.asarray(dataset.std, np.float32)
        self.x_test = normalize_images(dataset.x_test, self.mean, self.std)
        self.epoch = 0                 # epochs completed
        self.best_acc, self.best_epoch = -1.0, 0
        self.elapsed = 0.0             # seconds spent training (and evaluating), summed over resumes
        self.last_eval: EvalResult | None = None
        self.history: list[dict] = []

    # ---------------------------------------------------------------- sizes
    @property
    def drop_last(self) -> bool:
        """Skip the ragged last batch (a tiny batch gives a noisy step), unless there is only one."""
        return len(self.dataset.x_train) >= self.train.batch_size

    @property
    def steps_per_epoch(self) -> int:
        return num_batches(len(self.dataset.x_train), self.train.batch_size, self.drop_last)

    @property
    def total_steps(self) -> int:
        return self.train.epochs * self.steps_per_epoch

    def lr_at(self, step: int) -> float:
        t = self.train
        warmup = round(t.warmup_epochs * self.steps_per_epoch)
        return warmup_cosine(step, self.total_steps, t.lr, warmup, min(t.min_lr, t.lr))

    # ---------------------------------------------------------------- resume
    @classmethod
    def from_checkpoint(cls, ckpt: Checkpoint, dataset, out_dir: str | Path | None = None,
                        epochs: int | None = None, **kwargs) -> Trainer:
        """Continue the run saved in `ckpt` (a training checkpoint such as last.npz)."""
        meta = ckpt.meta
        if ckpt.optimizer is None or "train" not in meta or "rng" not in meta:
            raise TinyViTError(f"{ckpt.path} cannot be resumed: it holds no training state "
                               "(optimizer moments and random generator states).")
        train = TrainConfig.from_dict(meta["train"])
        if epochs is not None:
            train.epochs = epochs
            train.validate()
        if train.epochs <= ckpt.epoch:
            raise TinyViTError(f"{ckpt.path} has already completed {ckpt.epoch} of {train.epochs} epochs; "
                               f"pass --epochs N with N > {ckpt.epoch} to train longer.")
        data = DataSpec.from_dict(meta["data"]) if "data" in meta else None
        model = ckpt.build_model()                       # parameters and dropout generator
        trainer = cls(model, dataset, train, data, out_dir=out_dir, **kwargs)
        stored_mean = np.asarray(meta.get("mean", trainer.mean), np.float32)
        if stored_mean.shape != trainer.mean.shape or not np.allclose(stored_mean, trainer.mean, atol=1e-5):
            raise TinyViTError(f"{ckpt.path} was trained on different data (its normalisation mean "
                               f"{stored_mean.tolist()} differs from this dataset's {trainer.mean.tolist()}).")
        check_class_names(ckpt, dataset)
        trainer.optimizer.load_state_dict(ckpt.optimizer)
        ckpt.restore_rng(trainer.data_rng, "data")
        ckpt.restore_rng(trainer.aug_rng, "augment")
        trainer.epoch = ckpt.epoch
        trainer.best_acc = float(meta.get("best_acc", -1.0))
        trainer.best_epoch = int(meta.get("best_epoch", 0))
        trainer.elapsed = float(meta.get("elapsed", 0.0))
        if trainer.out_dir is not None:
            trainer.history = _read_metrics(trainer.out_dir / "metrics.jsonl", upto_epoch=trainer.epoch)
        return trainer

    # ---------------------------------------------------------------- checkpoints
    def checkpoint_meta(self) -> dict:
        return {
            "train": self.train.to_dict(),
            "data": self.data.to_dict(),
            "dataset_name": self.dataset.name,
            "class_names": list(self.dataset.class_names),
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "epoch": self.epoch,
            "best_acc": self.best_acc,
            "best_epoch": self.best_epoch,
            "elapsed": self.elapsed,
            "metrics": self.history[-1] if self.history else None,
            "rng": {"data": self.data_rng.bit_generator.state, "augment": self.aug_rng.bit_generator.state},
        }

    def save(self, name: str) -> Path | None:
        if self.out_dir is None:
            return None
        return save_checkpoint(self.out_dir / name, self.model, self.checkpoint_meta(), self.optimizer)

    # ---------------------------------------------------------------- training
    def _diverged(self, what: str, value: float, step: int) -> TrainingDiverged:
        last = self.out_dir / "last.npz" if self.out_dir is not None else None
        if last is not None and last.is_file() and self.epoch > 0:
            kept = f"the last good checkpoint, {last} (epoch {self.epoch}), is kept"
        else:
            kept = "no checkpoint had been written yet"
        return TrainingDiverged(f"training diverged: the {what} became {value} at epoch {self.epoch + 1}, step "
                                f"{step} (lr {self.lr_at(step):.3g}); {kept}. Try a lower --lr or --clip 1.0.")

    def train_epoch(self, bar=None) -> dict:
        """One pass over the training split; returns the epoch's mean loss, accuracy and speed."""
        model, t = self.model, self.train
        x, y = self.dataset.x_train, self.dataset.y_train
        loss_sum, correct, seen, norm_sum, steps = 0.0, 0, 0, 0.0, 0
        start = time.perf_counter()
        for xb, yb in iterate_batches(x, y, t.batch_size, shuffle=True, rng=self.data_rng,
                                      drop_last=self.drop_last):
            if self.augmenting:
                xb = self.augment(xb, self.aug_rng)
            xb = normalize_images(xb, self.mean, self.std)
            step = self.optimizer.t + 1
            loss, logits = self.data_parallel.gradients(xb, yb, t.label_smoothing)   # forward, loss, backward
            if not math.isfinite(loss):
                raise self._diverged("loss", loss, step)
            norm = clip_grad_norm(model.grads, t.clip)
            if not math.isfinite(norm):
                raise self._diverged("gradient norm", norm, step)
            self.optimizer.step(model.grads, self.lr_at(step))
            n = len(yb)
            loss_sum += loss * n
            correct += int((logits.argmax(axis=1) == yb).sum())
            seen += n
            norm_sum += norm
            steps += 1
            if bar is not None:
                bar.update(n)
                if steps % 5 == 0:
                    bar.set_postfix_str(self._postfix(loss_sum / seen, correct / seen), refresh=False)
        seconds = time.perf_counter() - start
        return {"train_loss": loss_sum / seen, "train_acc": correct / seen, "train_seconds": seconds,
                "img_per_s": seen / seconds if seconds > 0 else float("nan"),
                "grad_norm": norm_sum / steps, "lr": self.lr_at(self.optimizer.t)}

    def _postfix(self, loss: float, acc: float) -> str:
        test = f" test {self.last_eval.accuracy:.2%}" if self.last_eval is not None else ""
        return f"ep {self.epoch + 1}/{self.train.epochs} loss {loss:.3f} acc {acc:.2%}{test}"

    def evaluate(self) -> EvalResult:
        return evaluate(self.model, self.x_test, self.dataset.y_test, self.train.eval_batch_size)

    def fit(self, stop_after: int | None = None) -> dict:
        """Train up to train.epochs (or stop after epoch `stop_after`); return the summary."""
        from tqdm.auto import tqdm

        t = self.train
        per_epoch = self.steps_per_epoch * min(t.batch_size, len(self.dataset.x_train))
        metrics_path = self.out_dir / "metrics.jsonl" if self.out_dir is not None else None
        if metrics_path is not None:
            _write_metrics(metrics_path, self.history)
        bar = tqdm(total=t.epochs * per_epoch, initial=self.epoch * per_epoch, unit="img",
                   disable=None if self.progress else True, dynamic_ncols=True, smoothing=0.05, leave=False)
        write = self.log if bar.disable else bar.write
        try:
            while self.epoch < t.epochs and (stop_after is None or self.epoch < stop_after):
                start, cpu_start = time.perf_counter(), time.process_time()
                record = {"epoch": self.epoch + 1, **self.train_epoch(bar)}
                self.epoch += 1
                if self.epoch % t.eval_every == 0 or self.epoch == t.epochs:
                    self.last_eval = self.evaluate()
                    record.update(test_loss=self.last_eval.loss, test_acc=self.last_eval.accuracy)
                else:
                    record.update(test_loss=None, test_acc=None)
                record["seconds"] = time.perf_counter() - start
                # CPU time of this process: close to the wall time on an idle machine, and a
                # fairer measure of speed than wall time when other programs share the cores.
                record["cpu_seconds"] = time.process_time() - cpu_start
                self.elapsed += record["seconds"]
                record["elapsed"] = self.elapsed
                improved = record["test_acc"] is not None and record["test_acc"] > self.best_acc
                if improved:
                    self.best_acc, self.best_epoch = record["test_acc"], self.epoch
                self.history.append(record)
                if metrics_path is not None:
                    with open(metrics_path, "a") as f:
                        f.write(json.dumps(_jsonable(record)) + "\n")
                self.save("last.npz")
                if improved:
                    self.save("best.npz")
                if self.epoch % self.log_every == 0 or self.epoch == t.epochs or self.epoch == 1:
                    write(_epoch_line(record, t.epochs))
                bar.set_postfix_str(self._postfix(record["train_loss"], record["train_acc"]), refresh=False)
        finally:
            bar.close()
        summary = self.summary()
        if self.out_dir is not None:
            with open(self.out_dir / "summary.json", "w") as f:
                json.dump(_jsonable(summary), f, indent=2)
        return summary

    def summary(self) -> dict:
        ev = self.last_eval
        train_secs = sum(r.get("train_seconds", 0.0) for r in self.history)
        images = sum(r.get("img_per_s", 0.0) * r.get("train_seconds", 0.0) for r in self.history)
        return {
            "dataset": self.dataset.name,
            "epochs_done": self.epoch,
            "epochs": self.train.epochs,
            "finished": self.epoch >= self.train.epochs,
            "params": self.model.num_params(),
            "final_test_acc": ev.accuracy if ev else None,
            "final_test_loss": ev.loss if ev else None,
            "best_test_acc": self.best_acc if self.best_acc >= 0 else None,
            "best_epoch": self.best_epoch,
            "elapsed_seconds": self.elapsed,
            "cpu_seconds": sum(r.get("cpu_seconds", 0.0) for r in self.history),
            "img_per_s": images / train_secs if train_secs else None,
            "confusion": ev.confusion.tolist() if ev else None,
            "class_names": list(self.dataset.class_names),
        }


def _epoch_line(r: dict, epochs: int) -> str:
    test = (f"test loss {r['test_loss']:.4f} acc {r['test_acc']:.2%}" if r["test_acc"] is not None
            else "test -")
    return (f"epoch {r['epoch']:>{len(str(epochs))}}/{epochs}  train loss {r['train_loss']:.4f} "
            f"acc {r['train_acc']:.2%}  {test}  lr {r['lr']:.2e}  {r['img_per_s']:.0f} img/s  "
            f"{r['elapsed']:.0f}s")


def _jsonable(obj):
    """Floats that JSON can hold (NaN/inf -> None), recursively."""
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _read_metrics(path: Path, upto_epoch: int) -> list[dict]:
    """The metric records of epochs 1..upto_epoch from an existing metrics.jsonl."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a crash
        if isinstance(record, dict) and isinstance(record.get("epoch"), int) and record["epoch"] <= upto_epoch:
            records.append(record)
    return records


def _write_metrics(path: Path, records: list[dict]) -> None:
    """(Re)write metrics.jsonl with `records`: a fresh run starts it empty, a resumed one trims it."""
    try:
        with open(path, "w") as f:
            for record in records:
                f.write(json.dumps(_jsonable(record)) + "\n")
    except OSError as err:
        raise TinyViTError(f"cannot write {path}: {err.strerror or err}") from None
