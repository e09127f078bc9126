"""Checkpoints: a whole training state in one .npz file, written atomically.

A checkpoint holds the parameters, the model config, the AdamW moments and step count,
and a JSON metadata record: the training recipe, the dataset (name, split seed, class
names, normalisation), the epoch, and the states of the three random generators (batch
order, augmentation, dropout). With all of that a run can stop and `--resume` exactly:
the continued run makes bit-identical updates to a run that never stopped.

Layout of the archive (np.load(path) shows it; no pickle is involved):
    __tinyvit__        a 0-d string array: the JSON metadata (format, version, config, ...)
    param/<name>       every entry of model.params
    adam_m/<name>      AdamW's first moments (training checkpoints only)
    adam_v/<name>      AdamW's second moments
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinyvit.atomic import atomic_write
from tinyvit.config import ViTConfig
from tinyvit.errors import TinyViTError
from tinyvit.paths import user_path

FORMAT = "tinyvit-checkpoint"
VERSION = 1
META_KEY = "__tinyvit__"
# Metadata keys that save_checkpoint writes itself: a caller's meta may not set them.
RESERVED_META = ("format", "version", "config", "optimizer_step")
# Fields of ViTConfig that may differ between a checkpoint and the model it is loaded into:
# they change how the numbers are computed, not which numbers there are.
IGNORED_CONFIG_FIELDS = ("backend", "seed")


@dataclass
class Checkpoint:
    """What load_checkpoint() returns."""

    path: Path
    config: ViTConfig
    params: dict[str, np.ndarray]
    meta: dict                                   # JSON metadata (see save_checkpoint)
    optimizer: dict | None = field(default=None)  # {'t': int, 'm': {...}, 'v': {...}} or None

    @property
    def epoch(self) -> int:
        return int(self.meta.get("epoch", 0))

    @property
    def class_names(self) -> list[str]:
        names = self.meta.get("class_names")
        return list(names) if names else [str(k) for k in range(self.config.num_classes)]

    def build_model(self):
        """A ViT with this checkpoint's config and parameters (and dropout generator state)."""
        from tinyvit.model import ViT

        model = ViT(self.config)
        for name, value in self.params.items():
            model.params[name][...] = value
        rng_state = self.meta.get("rng", {}).get("dropout")
        if rng_state is not None:
            self.restore_rng(model.rng, "dropout")
        return model

    def restore_rng(self, generator: np.random.Generator, name: str) -> None:
        """Set `generator` to the state recorded under meta['rng'][name] (one line if it is damaged)."""
        try:
            generator.bit_generator.state = self.meta["rng"][name]
        except (KeyError, TypeError, ValueError):
            raise TinyViTError(f"{self.path} has damaged metadata: the state of its {name} random generator "
                               "cannot be restored.") from None


def save_checkpoint(path: str | Path, model, meta: dict | None = None, optimizer=None) -> Path:
    """Write model (+ optimizer state) and `meta` (JSON-able) to `path` atomically; return the path.

    The archive goes through atomic_write: a crash, Ctrl-C or kill mid-write leaves either
    the old checkpoint or the new one, never half a file.
    """
    path = Path(path)
    if not all(hasattr(model, name) for name in ("params", "param_shapes", "config")):
        raise TinyViTError(f"cannot save {path}: save_checkpoint needs a ViT, got {type(model).__name__}.")
    # Refuse here what load_checkpoint would refuse later: a file that cannot be loaded is lost work.
    problem = _params_problem(model.params, model.param_shapes)
    if problem:
        raise TinyViTError(f"cannot save {path}: model.params {problem}.")
    meta = {} if meta is None else meta
    if not isinstance(meta, dict):
        raise TinyViTError(f"cannot save {path}: meta must be a dict, got {type(meta).__name__}.")
    reserved = [key for key in RESERVED_META if key in meta]
    if reserved:
        raise TinyViTError(f"cannot save {path}: meta may not set {', '.join(reserved)} (save_checkpoint "
                           "writes those fields itself).")
    record = {"format": FORMAT, "version": VERSION, "config": model.config.to_dict(), **meta}
    record["rng"] = {**record.get("rng", {}), "dropout": model.rng.bit_generator.state}
    arrays = {}
    for name, value in model.params.items():
        arrays[f"param/{name}"] = value
    if optimizer is not None:
        state = optimizer.state_dict()
        record["optimizer_step"] = int(state["t"])
        for name in model.params:
            arrays[f"adam_m/{name}"] = state["m"][name]
            arrays[f"adam_v/{name}"] = state["v"][name]
    try:
        arrays[META_KEY] = np.array(json.dumps(record, default=_json_value))
    except (TypeError, ValueError) as err:
        raise TinyViTError(f"cannot save {path}: meta must hold JSON values (numbers, strings, lists, "
                           f"dicts): {err}") from None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as f:
            np.savez(f, **arrays)
    except OSError as err:
        raise TinyViTError(f"cannot write checkpoint {path}: {err.strerror or err}") from None
    return path


def _json_value(value):
    """json.dumps' fallback: NumPy scalars and arrays (an accuracy computed with NumPy) as plain values."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def check_class_names(ckpt: Checkpoint, dataset) -> None:
    """The dataset must name its classes as the checkpoint's training data did, in the same order:
    a renamed image folder would otherwise swap labels silently."""
    recorded = ckpt.meta.get("class_names")
    if recorded and list(recorded) != list(dataset.class_names):
        raise TinyViTError(f"{ckpt.path} was trained on the classes {', '.join(map(str, recorded))}, but this "
                           f"dataset has {', '.join(map(str, dataset.class_names))}.")


def load_checkpoint(path: str | Path, config: ViTConfig | None = None, backend: str | None = None) -> Checkpoint:
    """Read and validate a checkpoint. Every problem is a one-line TinyViTError.

    config: if given, the checkpoint's model config must match it (the backend and the
    init seed may differ). backend: run the loaded model on this backend instead of the
    recorded one (a recorded 'numba' falls back to 'numpy' where Numba is missing).
    """
    path = user_path(path, "checkpoint path")
    if config is not None and not isinstance(config, ViTConfig):
        raise TinyViTError(f"load_checkpoint's config must be a ViTConfig, got {type(config).__name__} "
                           "(ViTConfig.from_dict(d) builds one from a dict).")
    path = Path(path)
    if not path.is_file():
        raise TinyViTError(f"checkpoint file not found: {path}")
    if not zipfile.is_zipfile(path):   # np.load would read a .npy array, or blame pickling for junk
        with open(path, "rb") as f:
            cut_short = f.read(4) == b"PK\x03\x04"   # a zip's first bytes, but no directory at its end
        raise TinyViTError(f"{path} is not a tinyvit checkpoint (" + (
            "a damaged or truncated .npz archive)." if cut_short else
            "not a .npz archive: a checkpoint is the zip file that 'tinyvit train' writes)."))
    try:
        with np.load(path, allow_pickle=False) as archive:
            if META_KEY not in archive.files:
                raise TinyViTError(f"{path} is not a tinyvit checkpoint (it has no tinyvit metadata).")
            meta = json.loads(str(archive[META_KEY]))
            arrays = {name: archive[name] for name in archive.files if name != META_KEY}
    except TinyViTError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as err:
        raise TinyViTError(f"{path} is not a tinyvit checkpoint (not a readable .npz archive: "
                           f"{str(err).splitlines()[0] if str(err) else type(err).__name__}).") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise TinyViTError(f"{path} is not a tinyvit checkpoint (its metadata has no format '{FORMAT}').")
    _check_meta(meta, path)
    if meta["version"] > VERSION:
        raise TinyViTError(f"{path} was written by a newer tinyvit (checkpoint format version "
                           f"{meta['version']}, this tinyvit reads up to {VERSION}); upgrade tinyvit.")
    cfg_dict = dict(meta["config"])
    if backend:
        cfg_dict["backend"] = backend
    elif cfg_dict.get("backend") == "numba":
        from tinyvit.backend import numba_available

        if not numba_available():
            cfg_dict["backend"] = "numpy"
    try:
        ckpt_config = ViTConfig.from_dict(cfg_dict)
    except TypeError as err:
        raise TinyViTError(f"{path} has a damaged model config: {err}") from None
    except TinyViTError as err:
        raise TinyViTError(f"{path} has an invalid model config: {err}") from None
    if config is not None:
        check_same_config(ckpt_config, config, path)

    from tinyvit.model import ViT

    params = {k[len("param/"):]: v for k, v in arrays.items() if k.startswith("param/")}
    problem = _params_problem(params, ViT(ckpt_config).param_shapes)
    if problem:
        raise TinyViTError(f"checkpoint {path} does not match its model config: {problem}; the file is "
                           "damaged or from another program.")
    _check_data_meta(meta, ckpt_config, path)
    optimizer = None
    m = {k[len("adam_m/"):]: v for k, v in arrays.items() if k.startswith("adam_m/")}
    v = {k[len("adam_v/"):]: v for k, v in arrays.items() if k.startswith("adam_v/")}
    if m or v:
        if set(m) != set(params) or set(v) != set(params):
            raise TinyViTError(f"{path} is damaged: its optimizer state does not cover the same parameters "
                               "as the model.")
        optimizer = {"t": int(meta.get("optimizer_step", 0)), "m": m, "v": v}
    return Checkpoint(path=path, config=ckpt_config, params=params, meta=meta, optimizer=optimizer)


def config_differences(a: ViTConfig, b: ViTConfig) -> list[str]:
    """'field: a vs b' for every model field that differs (ignoring backend and seed)."""
    da, db = a.to_dict(), b.to_dict()
    return [f"{k}={da[k]!r} vs {db[k]!r}" for k in da
            if k not in IGNORED_CONFIG_FIELDS and da[k] != db.get(k)]


def check_same_config(ckpt_config: ViTConfig, config: ViTConfig, path: str | Path) -> None:
    diffs = config_differences(ckpt_config, config)
    if diffs:
        raise TinyViTError(f"checkpoint {path} was made for a different model (checkpoint vs requested: "
                           f"{', '.join(diffs)}).")


def _params_problem(params: dict, expected: dict[str, tuple]) -> str | None:
    """What is wrong with `params` against the expected {name: shape} (names, shapes, float values), or None."""
    missing = sorted(set(expected) - set(params))
    extra = sorted(set(params) - set(expected))
    if missing or extra:
        return f"missing {', '.join(missing[:3])}" if missing else f"has unexpected {', '.join(extra[:3])}"
    for name, shape in expected.items():
        value = params[name]
        if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
            return f"{name} is not an array of floats"
        if value.shape != shape:
            return f"{name} has shape {value.shape}, expected {shape}"
        if not np.all(np.isfinite(value)):
            return f"{name} holds non-finite values (NaN or inf)"
    return None


def _check_meta(meta: dict, path: Path) -> None:
    """The fields every checkpoint has must be of the right kind: a hand-edited or damaged record
    gets one line here, not a traceback wherever the field is first used."""
    def bad(what: str) -> TinyViTError:
        return TinyViTError(f"{path} has damaged metadata: {what}.")

    version = meta.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise bad(f"its format version is {version!r}, not a whole number")
    if not isinstance(meta.get("config"), dict):
        raise bad("it has no model config")
    for key in ("epoch", "best_epoch", "optimizer_step"):
        value = meta.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise bad(f"{key} is {value!r}, not a whole number >= 0")
    for key in ("train", "data", "rng"):
        if key in meta and not isinstance(meta[key], dict):
            raise bad(f"{key} is not a record")


def _check_data_meta(meta: dict, config: ViTConfig, path: Path) -> None:
    """Class names and normalisation, when recorded, must fit the model: predict and eval use them."""
    names = meta.get("class_names")
    if names is not None and (not isinstance(names, list) or len(names) != config.num_classes):
        raise TinyViTError(f"{path} has damaged metadata: class_names must list {config.num_classes} names.")
    for key in ("mean", "std"):
        if key not in meta:
            continue
        try:
            value = np.asarray(meta[key], dtype=np.float64)
        except (TypeError, ValueError):
            value = None
        if (value is None or value.shape not in ((), (config.in_channels,)) or not np.all(np.isfinite(value))
                or (key == "std" and not np.all(value > 0))):
            raise TinyViTError(f"{path} has damaged metadata: {key} must be {config.in_channels} finite "
                               "number(s)" + (", all > 0." if key == "std" else "."))
