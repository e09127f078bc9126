"""Data parallelism: one training step's gradients, the batch split over the CPU's threads.

PyTorch's DistributedDataParallel trains on several GPUs this way, and tinyvit does it on the
cores of one CPU: every thread holds a replica of the model that shares its weights, runs the
forward pass, the loss and the backward pass on its own share of the batch, and the shares'
gradients are then added up (the "all-reduce"). The batch's mean loss is the shares' mean
losses weighted by their sizes, so each share's backward starts from its weight n_share / B,
and the sum is the whole batch's gradient (up to rounding).

Why not let every kernel split its own work over the threads, as the forward and backward of
ViT do when called directly? A step is a few hundred kernel calls, and each hand-off between
the threads, and each wait for the slower one, costs time: run side by side, a train step was
4-5 % faster on cifar-tiny, 5-12 % on mnist and ~12 % on digits (see the README's Speed section).

    step = DataParallel(model)
    loss, logits = step.gradients(x, y)     # fills model.grads, like forward + loss + backward
    optimizer.step(model.grads, lr)
"""

from __future__ import annotations

import numpy as np

from tinyvit.errors import TinyViTError


class DataParallel:
    """Runs a training step's forward, loss and backward of `model`, split over the threads on
    the numba backend; on the numpy backend (whose BLAS calls use the threads themselves), or
    on one thread, on the whole batch."""

    def __init__(self, model):
        self.model = model
        self.replicas: list = []   # made on first use, kept: they share the model's weights

    def gradients(self, x: np.ndarray, y: np.ndarray, label_smoothing: float = 0.0) -> tuple[float, np.ndarray]:
        """Images x (B, H, W, C) and labels y (B,) -> (mean loss, logits (B, K)); fills model.grads.

        The same as model.forward(x, train=True), cross_entropy_forward, model.backward, up to
        rounding. After a split step model.cache is empty: each share's cache is dropped."""
        model = self.model
        if len(y) != len(x):   # a share would otherwise take the wrong labels, or too few
            raise TinyViTError(f"{len(x)} images but {len(y)} labels: a batch needs one label per image.")
        shares = _share_count(model, len(x))
        if shares == 1:
            return batch_gradients(model, x, y, label_smoothing)
        from tinyvit.kernels.threads import map_shares

        while len(self.replicas) < shares - 1:
            self.replicas.append(model.replica(seed=0))
        models = [model, *self.replicas[:shares - 1]]
        for replica in models[1:]:
            replica.params = model.params       # the same arrays, even if model.params was replaced
            if model.config.dropout > 0:        # its own masks, drawn from the model's generator:
                replica.rng = np.random.default_rng(model.rng.integers(2**63))   # a checkpoint keeps its state
        B = len(x)
        results = map_shares(lambda share, start, stop: batch_gradients(
            models[share], x[start:stop], y[start:stop], label_smoothing, (stop - start) / B), B)
        for replica in models[1:]:
            for name, grad in model.grads.items():
                grad += replica.grads[name]     # the all-reduce: the shares' gradients added up
        for m in models:
            m.cache = None                      # free the activations: nothing reads them after the step
        loss = sum(share_loss for share_loss, _ in results)
        return loss, np.concatenate([logits for _, logits in results])


def _share_count(model, count: int) -> int:
    """How many shares to split a batch of `count` into: one a thread on the numba backend (so one
    on one thread, or under NUMBA_DISABLE_JIT=1); one on the numpy backend, whose BLAS calls use
    the threads themselves."""
    if model.ops.name != "numba":
        return 1
    from tinyvit.kernels.threads import share_count

    return share_count(count)


def batch_gradients(model, x, y, label_smoothing: float = 0.0, weight: float = 1.0) -> tuple[float, np.ndarray]:
    """Forward (dropout on), mean cross-entropy and backward of one batch on one model, each kernel
    splitting its own work over the threads: fills model.grads; returns (weight * loss, logits).
    A share of a larger batch counts `weight` (its size / the batch's) in that batch's mean loss."""
    logits = model.forward(x, train=True)
    loss, cache = model.ops.cross_entropy_forward(logits, y, label_smoothing)
    model.backward(model.ops.cross_entropy_backward(weight, cache))   # d(weight * the share's mean loss)
    return weight * float(loss), logits
