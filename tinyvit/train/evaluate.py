"""Evaluation: accuracy, mean loss and the confusion matrix of a model on a labelled split."""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from tinyvit.errors import TinyViTError


@dataclass
class EvalResult:
    accuracy: float            # fraction correct, in [0, 1]
    loss: float                # mean cross-entropy (no label smoothing)
    confusion: np.ndarray      # (K, K) counts: row = true class, column = predicted class
    count: int

    def per_class_accuracy(self) -> np.ndarray:
        """Recall of every class (NaN for a class absent from the split)."""
        totals = self.confusion.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.diag(self.confusion) / totals


def check_batch_size(batch_size) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise TinyViTError(f"batch_size must be a whole number >= 1, got {batch_size!r}.")


def predict_logits(model, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """Logits (N, K) of already-normalised images x (N, H, W, C), in batches, dropout off."""
    check_batch_size(batch_size)
    out = [model.predict(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    if not out:
        return np.zeros((0, model.config.num_classes), dtype=model.dtype)
    return np.concatenate(out)


def evaluate(model, x: np.ndarray, y: np.ndarray, batch_size: int = 500) -> EvalResult:
    """Accuracy, loss and confusion matrix of model on normalised images x with labels y."""
    check_batch_size(batch_size)
    K = model.config.num_classes
    confusion = np.zeros((K, K), dtype=np.int64)
    total_loss = 0.0
    for i in range(0, len(x), batch_size):
        xb, yb = x[i:i + batch_size], y[i:i + batch_size]
        logits = model.predict(xb)
        loss, _ = model.ops.cross_entropy_forward(logits, yb, 0.0)
        total_loss += float(loss) * len(xb)
        np.add.at(confusion, (yb, logits.argmax(axis=1)), 1)
    n = len(x)
    accuracy = float(np.trace(confusion) / n) if n else 0.0
    return EvalResult(accuracy=accuracy, loss=total_loss / n if n else float("nan"), confusion=confusion, count=n)


def format_confusion(confusion: np.ndarray, class_names: list[str], max_name: int = 12) -> str:
    """The confusion matrix as a text table (rows: true class, columns: predicted)."""
    K = len(confusion)
    names = [str(n)[:max_name] for n in class_names]
    if names == [str(k) for k in range(K)]:
        names = ["" for _ in names]  # the index already says it
    width = max(5, len(str(int(confusion.max()))) + 1 if confusion.size else 5)
    label_w = max((len(n) for n in names), default=0)
    head = " " * (label_w + 4) + "".join(f"{k:>{width}}" for k in range(K)) + "   <- predicted"
    lines = [head]
    for k in range(K):
        label = f"{k:>3} {names[k]}".ljust(label_w + 4)
        lines.append(label + "".join(f"{int(c):>{width}}" for c in confusion[k]))
    return "\n".join(lines)
