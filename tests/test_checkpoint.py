"""Checkpoints: round trip, atomic writes, and one-line errors for files that do not fit."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from tests.conftest import tiny_config
from tinyvit import TinyViTError, ViT
from tinyvit.checkpoint import load_checkpoint, save_checkpoint
from tinyvit.train import AdamW


def _trained(seed=0, **overrides):
    model = ViT(tiny_config(dtype="float32", dropout=0.1, **overrides))
    rng = np.random.default_rng(seed)
    for p in model.params.values():
        p[...] = rng.normal(size=p.shape)
    opt = AdamW(model.params, weight_decay=0.1)
    opt.step({k: rng.normal(size=v.shape).astype(v.dtype) for k, v in model.params.items()}, lr=0.01)
    model.rng.random(5)  # advance the dropout generator
    return model, opt


def test_round_trip(tmp_path):
    model, opt = _trained()
    meta = {"epoch": 3, "class_names": ["a", "b", "c"], "rng": {"data": np.random.default_rng(7).bit_generator.state}}
    path = save_checkpoint(tmp_path / "last.npz", model, meta, opt)
    assert [p.name for p in tmp_path.iterdir()] == ["last.npz"]  # no temp file left behind
    ckpt = load_checkpoint(path)
    assert ckpt.epoch == 3 and ckpt.class_names == ["a", "b", "c"]
    assert ckpt.config == model.config
    for name, value in model.params.items():
        assert ckpt.params[name].dtype == value.dtype
        np.testing.assert_array_equal(ckpt.params[name], value)
        np.testing.assert_array_equal(ckpt.optimizer["m"][name], opt.m[name])
        np.testing.assert_array_equal(ckpt.optimizer["v"][name], opt.v[name])
    assert ckpt.optimizer["t"] == 1
    assert ckpt.meta["rng"]["data"] == np.random.default_rng(7).bit_generator.state
    clone = ckpt.build_model()
    assert clone.rng.random() == model.rng.random()  # the dropout generator continues where it was
    x = np.random.default_rng(1).random((2, 8, 8, 2)).astype(np.float32)
    np.testing.assert_array_equal(clone.forward(x), model.forward(x))
    # Without an optimizer (e.g. a model to share) there is no training state.
    bare = load_checkpoint(save_checkpoint(tmp_path / "model.npz", model))
    assert bare.optimizer is None and bare.epoch == 0 and bare.class_names == ["0", "1", "2"]


def test_file_is_plain_npz_without_pickle(tmp_path):
    model, opt = _trained()
    path = save_checkpoint(tmp_path / "c.npz", model, {"epoch": 1}, opt)
    with np.load(path, allow_pickle=False) as archive:
        meta = json.loads(str(archive["__tinyvit__"]))
        assert meta["format"] == "tinyvit-checkpoint" and meta["config"]["dim"] == 16
        assert "param/head.weight" in archive.files and "adam_v/cls_token" in archive.files


def test_overwrite_is_atomic(tmp_path, monkeypatch):
    model, opt = _trained()
    path = save_checkpoint(tmp_path / "last.npz", model, {"epoch": 1}, opt)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(TinyViTError, match="cannot write checkpoint .*No space left"):
        save_checkpoint(path, model, {"epoch": 2}, opt)
    assert path.read_bytes() == before  # the old checkpoint survives intact
    assert [p.name for p in tmp_path.iterdir()] == ["last.npz"]


def test_unwritable_location(tmp_path):
    model, _ = _trained()
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(TinyViTError, match="cannot write checkpoint"):
        save_checkpoint(blocker / "sub" / "last.npz", model)


def test_not_a_checkpoint(tmp_path):
    with pytest.raises(TinyViTError, match="checkpoint file not found"):
        load_checkpoint(tmp_path / "missing.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"this is not a zip archive")
    with pytest.raises(TinyViTError, match=r"is not a tinyvit checkpoint \(not a .npz archive: a checkpoint is"):
        load_checkpoint(junk)
    array = tmp_path / "array.npy"            # np.load reads this as an array, not an archive
    np.save(array, np.zeros(3))
    with pytest.raises(TinyViTError, match="not a .npz archive"):
        load_checkpoint(array)
    other = tmp_path / "other.npz"
    np.savez(other, weights=np.zeros(3))
    with pytest.raises(TinyViTError, match="is not a tinyvit checkpoint .*no tinyvit metadata"):
        load_checkpoint(other)
    wrong_format = tmp_path / "wrong.npz"
    np.savez(wrong_format, __tinyvit__=np.array(json.dumps({"format": "something-else"})))
    with pytest.raises(TinyViTError, match="not a tinyvit checkpoint"):
        load_checkpoint(wrong_format)
    model, opt = _trained()
    good = save_checkpoint(tmp_path / "good.npz", model, {"epoch": 1}, opt)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(TinyViTError, match=r"not a tinyvit checkpoint \(a damaged or truncated .npz archive\)"):
        load_checkpoint(truncated)


def _rewrite(src, dst, drop=(), replace=None, meta_update=None):
    """Copy a checkpoint archive, dropping/replacing entries (to make damaged files)."""
    with np.load(src) as archive:
        arrays = {k: archive[k] for k in archive.files if k not in drop}
    arrays.update(replace or {})
    if meta_update:
        meta = json.loads(str(arrays["__tinyvit__"]))
        meta.update(meta_update)
        arrays["__tinyvit__"] = np.array(json.dumps(meta))
    np.savez(dst, **arrays)
    return dst


def test_damaged_or_mismatched_checkpoints(tmp_path):
    model, opt = _trained()
    good = save_checkpoint(tmp_path / "good.npz", model, {"epoch": 1}, opt)
    with pytest.raises(TinyViTError, match="does not match its model config: missing head.weight"):
        load_checkpoint(_rewrite(good, tmp_path / "a.npz", drop=("param/head.weight",)))
    with pytest.raises(TinyViTError, match="head.weight has shape"):
        load_checkpoint(_rewrite(good, tmp_path / "b.npz", replace={"param/head.weight": np.zeros((16, 4))}))
    with pytest.raises(TinyViTError, match="non-finite"):
        load_checkpoint(_rewrite(good, tmp_path / "c.npz", replace={"param/cls_token": np.full(16, np.nan)}))
    with pytest.raises(TinyViTError, match="optimizer state"):
        load_checkpoint(_rewrite(good, tmp_path / "d.npz", drop=("adam_m/cls_token",)))
    with pytest.raises(TinyViTError, match="newer tinyvit"):
        load_checkpoint(_rewrite(good, tmp_path / "e.npz", meta_update={"version": 99}))
    with pytest.raises(TinyViTError, match="invalid model config"):
        load_checkpoint(_rewrite(good, tmp_path / "f.npz", meta_update={"config": {**model.config.to_dict(),
                                                                                     "heads": 3}}))
    with pytest.raises(TinyViTError, match="damaged model config|unknown ViTConfig"):
        load_checkpoint(_rewrite(good, tmp_path / "g.npz", meta_update={"config": {"depth": 1, "colour": 2}}))
    # A checkpoint for a different model than the one asked for: one line naming the differences.
    with pytest.raises(TinyViTError, match=r"different model .*dim=16 vs 32") as err:
        load_checkpoint(good, config=tiny_config(dtype="float32", dropout=0.1, dim=32))
    assert "\n" not in str(err.value)
    # ... but backend and seed may differ.
    same = load_checkpoint(good, config=tiny_config(dtype="float32", dropout=0.1, seed=5), backend="numpy")
    assert same.config.backend == "numpy"


def test_save_refuses_what_load_would_refuse(tmp_path):
    model, opt = _trained()
    model.params["head.bias"][0] = np.nan
    with pytest.raises(TinyViTError, match="cannot save .*head.bias holds non-finite values"):
        save_checkpoint(tmp_path / "nan.npz", model)
    model, _ = _trained()
    good = model.params["head.weight"]
    model.params["head.weight"] = good[:, :2]
    with pytest.raises(TinyViTError, match=r"cannot save .*head.weight has shape \(16, 2\), expected \(16, 3\)"):
        save_checkpoint(tmp_path / "shape.npz", model)
    model.params["head.weight"] = good
    with pytest.raises(TinyViTError, match="meta may not set config"):
        save_checkpoint(tmp_path / "m.npz", model, {"config": {"dim": 3}})
    with pytest.raises(TinyViTError, match="meta must be a dict, got list"):
        save_checkpoint(tmp_path / "m.npz", model, [1])
    with pytest.raises(TinyViTError, match="meta must hold JSON values .*set is not JSON-serialisable"):
        save_checkpoint(tmp_path / "m.npz", model, {"classes": {1, 2}})
    with pytest.raises(TinyViTError, match="save_checkpoint needs a ViT, got NoneType"):
        save_checkpoint(tmp_path / "m.npz", None)
    assert list(tmp_path.iterdir()) == []                 # nothing written, no temp file left
    # NumPy numbers (an accuracy computed with NumPy) are saved as plain JSON numbers.
    path = save_checkpoint(tmp_path / "ok.npz", model, {"acc": np.float32(0.5), "hist": np.arange(2)}, opt)
    assert load_checkpoint(path).meta["acc"] == 0.5 and load_checkpoint(path).meta["hist"] == [0, 1]


@pytest.mark.parametrize("meta_update,fragment", [
    ({"version": "2b"}, "its format version is '2b', not a whole number"),
    ({"config": None}, "it has no model config"),
    ({"epoch": "one"}, "epoch is 'one', not a whole number >= 0"),
    ({"train": [1]}, "train is not a record"),
    ({"class_names": ["a"]}, "class_names must list 3 names"),
    ({"std": [0, 0]}, "std must be 2 finite number(s), all > 0"),
    ({"mean": ["x", 1]}, "mean must be 2 finite number(s)"),
])
def test_damaged_metadata_is_one_line(tmp_path, meta_update, fragment):
    model, opt = _trained()
    good = save_checkpoint(tmp_path / "good.npz", model, {"epoch": 1, "mean": [0.5, 0.5], "std": [1, 1]}, opt)
    with pytest.raises(TinyViTError, match="has damaged metadata") as info:
        load_checkpoint(_rewrite(good, tmp_path / "bad.npz", meta_update=meta_update))
    assert fragment in str(info.value)


def test_damaged_generator_state_and_wrong_arguments(tmp_path):
    model, opt = _trained()
    good = save_checkpoint(tmp_path / "good.npz", model, {"epoch": 1}, opt)
    ckpt = load_checkpoint(_rewrite(good, tmp_path / "rng.npz", meta_update={"rng": {"dropout": {"state": 1}}}))
    with pytest.raises(TinyViTError, match="the state of its dropout random generator cannot be restored"):
        ckpt.build_model()
    with pytest.raises(TinyViTError, match="param|float"):
        load_checkpoint(_rewrite(good, tmp_path / "str.npz", replace={"param/head.bias": np.array(["a"] * 3)}))
    with pytest.raises(TinyViTError, match="the checkpoint path must be a path, got NoneType"):
        load_checkpoint(None)
    with pytest.raises(TinyViTError, match=r"config must be a ViTConfig, got dict \(ViTConfig.from_dict"):
        load_checkpoint(good, config={"dim": 16})


def test_zip_with_pickled_object_is_rejected(tmp_path):
    path = tmp_path / "pickled.npz"
    np.savez(path, __tinyvit__=np.array([{"format": "tinyvit-checkpoint"}], dtype=object))
    assert zipfile.is_zipfile(path)
    with pytest.raises(TinyViTError, match="not a tinyvit checkpoint"):
        load_checkpoint(path)
