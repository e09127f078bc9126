"""train/data_parallel.py: the batch split over threads gives the whole batch's loss and gradients."""

import numpy as np
import pytest

from tinyvit import ViT, ViTConfig
from tinyvit.gradcheck import rel_error
from tinyvit.ops import cross_entropy_backward, cross_entropy_forward
from tinyvit.train.data_parallel import DataParallel


def _model(backend="numba", dtype="float64", **kw) -> ViT:
    model = ViT(ViTConfig(image_size=8, patch_size=2, in_channels=2, num_classes=5, dim=12, depth=2, heads=3,
                          mlp_dim=20, backend=backend, dtype=dtype, **kw))
    rng = np.random.default_rng(0)
    for value in model.params.values():     # random weights everywhere (the head starts at zero)
        value[...] += 0.05 * rng.standard_normal(value.shape)
    return model


def _whole_batch(model, x, y, smoothing):
    logits = model.forward(x, train=True)
    loss, cache = cross_entropy_forward(logits, y, smoothing)
    model.backward(cross_entropy_backward(1.0, cache))
    return float(loss), logits, {k: v.copy() for k, v in model.grads.items()}


@pytest.mark.parametrize("dtype,tolerance", [("float64", 1e-12), ("float32", 1e-5)])
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_split_step_gives_the_whole_batchs_loss_and_gradients(two_threads, backend, dtype, tolerance):
    model = _model(backend, dtype)
    rng = np.random.default_rng(1)
    x, y = rng.random((5, 8, 8, 2)).astype(dtype), np.array([0, 3, 4, 1, 1])   # shares of 2 and 3 images
    loss, logits, grads = _whole_batch(model, x, y, 0.1)
    step = DataParallel(model)
    for _ in range(2):                      # the gradients are overwritten, not accumulated
        split_loss, split_logits = step.gradients(x, y, label_smoothing=0.1)
        assert split_loss == pytest.approx(loss, rel=tolerance)
        assert np.array_equal(split_logits, logits)          # each image's forward is the same bits
        for name, grad in grads.items():
            assert model.grads[name].dtype == np.dtype(dtype)
            assert rel_error(model.grads[name], grad) < tolerance, name
    assert len(step.replicas) == (two_threads - 1 if backend == "numba" else 0)
    if step.replicas:                       # the replicas work on the model's own weights
        assert all(r.params[name] is model.params[name] for r in step.replicas for name in model.params)
        assert model.cache is None and all(r.cache is None for r in step.replicas)


def test_replicas_follow_a_replaced_params_dict(two_threads):
    model = _model()
    x, y = np.random.default_rng(2).random((4, 8, 8, 2)), np.array([0, 1, 2, 3])
    step = DataParallel(model)
    step.gradients(x, y)
    model.params = {k: v * 0.5 for k, v in model.params.items()}   # e.g. weights loaded from a file
    _, logits = step.gradients(x, y)
    assert np.array_equal(logits, model.forward(x))


def test_dropout_masks_are_reproducible_and_differ_between_shares(two_threads):
    if two_threads < 2:
        pytest.skip("needs two threads")
    x, y = np.random.default_rng(3).random((4, 8, 8, 2)), np.array([0, 1, 2, 3])
    runs = []
    for _ in range(2):
        model = _model(dropout=0.3, seed=7)
        step = DataParallel(model)
        runs.append([step.gradients(x, y)[1] for _ in range(2)])
    assert all(np.array_equal(a, b) for a, b in zip(*runs, strict=True))      # same seed, same masks
    (first, second), _ = runs
    assert not np.array_equal(first, second)                                  # new masks each step
    twin = np.concatenate([x[:2], x[:2]])                 # the same images in both shares ...
    _, logits = DataParallel(_model(dropout=0.3, seed=7)).gradients(twin, np.array([0, 1, 0, 1]))
    assert not np.array_equal(logits[:2], logits[2:])      # ... see different masks


def test_images_and_labels_must_pair_up(two_threads):
    from tinyvit import TinyViTError

    step = DataParallel(_model())
    with pytest.raises(TinyViTError, match="4 images but 5 labels: a batch needs one label per image"):
        step.gradients(np.zeros((4, 8, 8, 2)), np.zeros(5, dtype=int))
