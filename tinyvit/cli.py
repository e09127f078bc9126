"""The command-line tool: `python -m tinyvit {train,eval,predict,info}` (or the `tinyvit` script).

    python -m tinyvit train --preset digits                 # ~3 minutes, ~99% on the test split
    python -m tinyvit train --preset digits --quick         # ~1 minute for a lesson
    python -m tinyvit eval --checkpoint runs/digits/best.npz
    python -m tinyvit predict --checkpoint runs/digits/best.npz my_digit.png --top-k 3
    python -m tinyvit info --preset cifar10

A mistake a user can make (a missing file, a bad flag value, a checkpoint that does not
fit) is reported as one line on stderr with a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np

from tinyvit.errors import TinyViTError

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130   # 128 + SIGINT, as a shell reports Ctrl-C
EXIT_TERMINATED = 143    # 128 + SIGTERM
DEFAULT_THREADS = 0

# flag name -> ViTConfig field, for the model flags shared by train and info.
MODEL_FLAGS = {
    "image_size": "image_size", "patch_size": "patch_size", "channels": "in_channels", "dim": "dim",
    "depth": "depth", "heads": "heads", "mlp_dim": "mlp_dim", "pool": "pool", "pos_embed": "pos_embed",
    "pos_embed_placement": "pos_embed_placement", "dropout": "dropout", "gelu": "gelu", "dtype": "dtype",
    "backend": "backend",
}
# flag name -> TrainConfig field.
TRAIN_FLAGS = {
    "epochs": "epochs", "batch_size": "batch_size", "lr": "lr", "min_lr": "min_lr",
    "weight_decay": "weight_decay", "beta1": "beta1", "beta2": "beta2", "warmup": "warmup_epochs",
    "label_smoothing": "label_smoothing", "clip": "clip", "crop_pad": "crop_pad", "flip": "flip",
    "rotate": "rotate", "scale": "scale", "translate": "translate", "eval_every": "eval_every",
}
AUGMENT_FIELDS = ("crop_pad", "flip", "rotate", "scale", "translate")


# =============================================================================== parser
# Argument types shared with python -m tinyvit.bench: a wrong number is argparse's one-line usage error.
def _number(text: str, cast, lowest: int, what: str):
    try:
        value = cast(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if not lowest <= value < float("inf"):   # also refuses nan
        raise argparse.ArgumentTypeError(f"expected a {'finite ' if cast is float else ''}number >= {lowest}, "
                                         f"got {text}")
    return value


def positive_int(text: str) -> int:
    return _number(text, int, 1, "a whole number")


def nonneg_int(text: str) -> int:
    return _number(text, int, 0, "a whole number")


def nonneg_float(text: str) -> float:
    return _number(text, float, 0, "a number")


def path_arg(text: str) -> str:
    if not text.strip():   # Path("") is ".", the current folder: never what was meant
        raise argparse.ArgumentTypeError("expected a path, got an empty string")
    return text


def _add_model_flags(p: argparse.ArgumentParser) -> None:
    from tinyvit.config import BACKENDS, DTYPES, GELUS, PLACEMENTS, POOLS, POS_EMBEDS

    g = p.add_argument_group("model (each overrides the preset)")
    g.add_argument("--image-size", type=positive_int, metavar="PX",
                   help="input side in pixels; images are resized to it (digits: 16)")
    g.add_argument("--patch-size", type=positive_int, metavar="PX", help="patch side in pixels (digits: 4)")
    g.add_argument("--channels", type=int, choices=(1, 3), help="1 = grayscale, 3 = RGB (folder preset only; "
                   "the others are fixed by the data)")
    g.add_argument("--dim", type=positive_int, help="token width D (digits: 64)")
    g.add_argument("--depth", type=positive_int, help="number of Transformer blocks (digits: 4)")
    g.add_argument("--heads", type=positive_int, help="attention heads per block; must divide --dim (digits: 4)")
    g.add_argument("--mlp-dim", type=positive_int, help="hidden width of each block's MLP (digits: 128)")
    g.add_argument("--pool", choices=POOLS, help="summarise the image by the [CLS] token or the mean of the "
                   "patch tokens (gap) (digits: cls)")
    g.add_argument("--pos-embed", choices=POS_EMBEDS, help="position embedding; 'none' makes the patches an "
                   "unordered bag (digits: learned, layout: sincos2d)")
    g.add_argument("--pos-embed-placement", choices=PLACEMENTS, help="add the position table once (stem) or at "
                   "every block (default: stem)")
    g.add_argument("--dropout", type=float, help="dropout rate after attention, in the MLP and on the embeddings "
                   "(default: 0)")
    g.add_argument("--gelu", choices=GELUS, help="exact GELU (erf) or the tanh approximation (default: erf)")
    g.add_argument("--dtype", choices=DTYPES, help="floating-point type of parameters and activations "
                   "(default: float32)")
    g.add_argument("--backend", choices=BACKENDS, help="numpy (reference ops) or numba (fast kernels); default: "
                   "numba when it is installed")


def _add_runtime_flags(p: argparse.ArgumentParser, progress: bool = False) -> None:
    g = p.add_argument_group("runtime")
    g.add_argument("--threads", type=nonneg_int, default=DEFAULT_THREADS,
                   help="BLAS/Numba threads (default: 0, the libraries' own choice: every core)")
    if progress:
        g.add_argument("--no-progress", action="store_true", help="no progress bar (log lines only)")


def build_parser() -> argparse.ArgumentParser:
    from tinyvit import __version__
    from tinyvit.presets import PRESETS

    parser = argparse.ArgumentParser(
        prog="tinyvit", description="Train, evaluate and inspect a Vision Transformer written from scratch in NumPy.",
        epilog="Run 'tinyvit COMMAND --help' for the flags of a command.")
    parser.add_argument("--version", action="version", version=f"tinyvit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    presets = ", ".join(PRESETS)

    # ------------------------------------------------------------------- train
    t = sub.add_parser(
        "train", help="train a ViT on a dataset preset",
        description="Train a ViT from scratch. Start from --preset and override any setting with a flag. "
                    "Writes OUT/metrics.jsonl (one JSON line per epoch), OUT/last.npz (every epoch), "
                    "OUT/best.npz (best test accuracy) and OUT/summary.json, and ends by printing the final "
                    "test accuracy.",
        epilog="Presets: " + "; ".join(f"{p.name}: {p.description}" for p in PRESETS.values()))
    g = t.add_argument_group("data and run")
    g.add_argument("--preset", default="digits", help=f"recipe to start from: {presets} (default: digits)")
    g.add_argument("--data-dir", type=path_arg, metavar="DIR", help="dataset folder: the 4 IDX files (mnist, fashion), "
                   "cifar-10-batches-py or its parent (cifar10), or ROOT with train/ and test/ class folders "
                   "(folder); default: $TINYVIT_DATA/NAME or ~/.cache/tinyvit/NAME")
    g.add_argument("--download", action="store_true", help="fetch MNIST, Fashion-MNIST or CIFAR-10 into "
                   "--data-dir (or the cache) first, verifying checksums")
    g.add_argument("--out", type=path_arg, metavar="DIR",
                   help="output folder (default: runs/PRESET, or runs/PRESET-2, -3, "
                   "... if it holds a run; with --resume, the checkpoint's folder); a folder that holds a run "
                   "is never written over")
    g.add_argument("--epochs", type=positive_int, help="epochs to train (digits: 240; with --resume, a larger "
                   "value extends the run)")
    g.add_argument("--seed", type=nonneg_int, default=0, help="seeds the weights, the batch order, the "
                   "augmentation and (unless --data-seed) the data split (default: 0)")
    g.add_argument("--data-seed", type=nonneg_int, help="seed of the train/test split (digits) or of the "
                   "generated images (shapes, layout) (default: --seed)")
    g.add_argument("--n-train", type=positive_int, help="training images to generate (shapes, layout: 8000)")
    g.add_argument("--n-test", type=positive_int, help="test images to generate (shapes, layout: 2000)")
    g.add_argument("--quick", action="store_true", help="a short run of the preset for a lesson "
                   "(digits: 60 epochs, about a minute)")
    g.add_argument("--resume", nargs="?", const="", metavar="CHECKPOINT",
                   help="continue a run exactly where it stopped, from CHECKPOINT (default: OUT/last.npz); "
                        "the recipe comes from the checkpoint")
    g.add_argument("--stop-after", type=positive_int, metavar="EPOCH", help="stop after this epoch (the "
                   "schedule still plans for --epochs), e.g. to resume later")
    g.add_argument("--eval-every", type=positive_int, metavar="N", help="evaluate on the test split every N "
                   "epochs and at the end (digits: 2, others: 1); other epochs log test_acc null")
    _add_model_flags(t)
    g = t.add_argument_group("optimisation (each overrides the preset)")
    g.add_argument("--lr", type=float, help="peak learning rate of AdamW (digits: 2e-3)")
    g.add_argument("--min-lr", type=float, help="learning rate at the end of the cosine (default: 1e-5)")
    g.add_argument("--weight-decay", type=float, help="AdamW decoupled weight decay, on weight matrices only "
                   "(digits: 0.05)")
    g.add_argument("--beta1", type=float, help="AdamW beta1 (default: 0.9)")
    g.add_argument("--beta2", type=float, help="AdamW beta2 (default: 0.999)")
    g.add_argument("--batch-size", type=positive_int, help="images per step (digits: 64)")
    g.add_argument("--warmup", type=float, metavar="EPOCHS", help="linear warmup length in epochs, then cosine "
                   "decay (digits: 5)")
    g.add_argument("--label-smoothing", type=float, help="label smoothing of the cross-entropy (digits: 0.1)")
    g.add_argument("--clip", type=float, help="clip the global gradient norm to this; 0 = off (default: 1.0)")
    g = t.add_argument_group("augmentation (each overrides the preset)")
    g.add_argument("--translate", type=float, metavar="PX", help="random shift by up to +-PX pixels (digits: 2)")
    g.add_argument("--rotate", type=float, metavar="DEG", help="random rotation by up to +-DEG degrees "
                   "(digits: 10)")
    g.add_argument("--scale", type=float, metavar="S", help="random zoom in [1-S, 1+S] (digits: 0.1)")
    g.add_argument("--crop-pad", type=nonneg_int, metavar="PX", help="zero-pad by PX then random-crop back "
                   "(cifar10: 4)")
    g.add_argument("--flip", action=argparse.BooleanOptionalAction, help="random left-right mirroring "
                   "(off for digits and layout, where it changes the label)")
    g.add_argument("--no-augment", action="store_true", help="turn every augmentation off")
    _add_runtime_flags(t, progress=True)
    t.set_defaults(func=cmd_train)

    # ------------------------------------------------------------------- eval
    e = sub.add_parser("eval", help="accuracy and loss of a checkpoint on a dataset split",
                       description="Evaluate a checkpoint: prints accuracy and loss (and, with --confusion, the "
                                   "confusion matrix). The dataset defaults to the one recorded in the checkpoint.")
    e.add_argument("--checkpoint", required=True, type=path_arg, metavar="FILE",
                   help="a .npz written by 'tinyvit train'")
    e.add_argument("--preset", help=f"evaluate on this preset's dataset instead ({presets})")
    e.add_argument("--data-dir", type=path_arg, metavar="DIR",
                   help="dataset folder (default: the one recorded in the checkpoint)")
    e.add_argument("--download", action="store_true", help="fetch the dataset first (mnist, fashion, cifar10)")
    e.add_argument("--split", choices=("test", "train"), default="test", help="which split (default: test)")
    e.add_argument("--batch-size", type=positive_int, default=500, help="images per forward pass (default: 500)")
    e.add_argument("--confusion", action="store_true", help="also print the confusion matrix")
    e.add_argument("--backend", choices=("numpy", "numba"), help="run on this backend (default: the recorded one)")
    _add_runtime_flags(e)
    e.set_defaults(func=cmd_eval)

    # ------------------------------------------------------------------- predict
    pr = sub.add_parser("predict", help="classify image files with a checkpoint",
                        description="Print the top-k classes of each image with their probabilities. Any size of "
                                    "RGB, RGBA or grayscale image is converted and resized to the model's input "
                                    "and normalised exactly as in training.")
    pr.add_argument("images", nargs="+", type=path_arg, metavar="IMAGE",
                    help="image files (png, jpg, bmp, gif, webp, tiff)")
    pr.add_argument("--checkpoint", required=True, type=path_arg, metavar="FILE",
                    help="a .npz written by 'tinyvit train'")
    pr.add_argument("--top-k", type=positive_int, default=3, metavar="K", help="classes to show per image "
                    "(default: 3)")
    pr.add_argument("--invert", action="store_true", help="invert the pixel values first (dark strokes on a light "
                    "background, e.g. a digit drawn in a paint program, become light on dark like the digits data)")
    pr.add_argument("--backend", choices=("numpy", "numba"), help="run on this backend (default: the recorded one)")
    _add_runtime_flags(pr)
    pr.set_defaults(func=cmd_predict)

    # ------------------------------------------------------------------- info
    i = sub.add_parser("info", help="parameter count, FLOPs and a layer-by-layer shape trace",
                       description="Describe a model: its config, parameter count (and which parameters get weight "
                                   "decay), FLOPs per image, and the shape of every layer's output in one forward "
                                   "pass. The model comes from --checkpoint, or from --preset and the model flags.")
    i.add_argument("--preset", help=f"model of this preset ({presets}) (default: digits)")
    i.add_argument("--checkpoint", type=path_arg, metavar="FILE",
                   help="describe the model stored in this checkpoint instead")
    i.add_argument("--num-classes", type=positive_int, help="output classes (default: the preset's)")
    i.add_argument("--batch-size", type=positive_int, default=1, help="batch size B of the shape trace (default: 1)")
    _add_model_flags(i)
    i.set_defaults(func=cmd_info)
    return parser


# =============================================================================== helpers
def set_threads(n: int):
    """Limit BLAS (and Numba) to n threads; returns an object to keep alive (0 = leave the defaults)."""
    if not n:
        return None
    limiter = None
    try:
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(limits=n)
    except ImportError:
        pass
    from tinyvit.backend import numba_available

    if numba_available():
        try:
            import numba

            numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
        except (ImportError, ValueError, AttributeError):
            pass
    return limiter


def _overrides(args, table: dict) -> dict:
    """{field: value} for every flag of `table` given on the command line."""
    return {field: getattr(args, flag) for flag, field in table.items()
            if getattr(args, flag, None) is not None}


def _check_channels_flag(args, preset) -> None:
    """--channels picks how a folder's images are read; every other dataset has its own channel count."""
    if args.channels is not None and preset.dataset != "folder":
        raise TinyViTError(f"--channels only applies to the folder preset; {preset.dataset} images have "
                           f"{preset.model['in_channels']} channel(s).")


def _model_dict(args, preset, num_classes: int | None = None) -> dict:
    model = dict(preset.model)
    model.update(_overrides(args, MODEL_FLAGS))
    if num_classes is not None:
        model["num_classes"] = num_classes
    return model


def _make_config(model: dict):
    from tinyvit.config import ViTConfig

    return ViTConfig.from_dict(model)


def _describe_model(cfg, model) -> str:
    return (f"ViT {cfg.image_size}x{cfg.image_size}x{cfg.in_channels}, patch {cfg.patch_size} "
            f"({cfg.num_tokens} tokens), dim {cfg.dim}, depth {cfg.depth}, heads {cfg.heads}, mlp {cfg.mlp_dim}, "
            f"pool {cfg.pool}, pos {cfg.pos_embed}, dropout {cfg.dropout:g} | {model.num_params():,} params, "
            f"{model.flops_per_image() / 1e6:.2f} MFLOPs/image | backend {cfg.backend}")


def _fmt_seconds(s: float) -> str:
    s = int(round(s))
    return f"{s // 60}m {s % 60:02d}s" if s >= 60 else f"{s}s"


def _load_dataset(spec, cfg):
    """Load the dataset of `spec` at the model's input size and check it fits the model."""
    from tinyvit.train.data import load_data

    dataset = load_data(spec, image_size=cfg.image_size)
    if dataset.image_shape[2] != cfg.in_channels:
        raise TinyViTError(f"dataset '{spec.name}' has {dataset.image_shape[2]}-channel images, but the model "
                           f"takes {cfg.in_channels}.")
    return dataset


# =============================================================================== train
def cmd_train(args) -> int:
    from tinyvit.presets import get_preset
    from tinyvit.train import Trainer
    from tinyvit.train.recipe import build_recipe, load_recipe_data

    limiter = set_threads(args.threads)  # noqa: F841  (kept alive for the whole run)
    if args.resume is not None:
        return _resume(args)
    preset = get_preset(args.preset)
    _check_channels_flag(args, preset)
    out = _new_run_folder(args.out, preset.name)
    train = dict(crop_pad=0, flip=False, rotate=0.0, scale=0.0, translate=0.0) if args.no_augment else {}
    train.update(_overrides(args, TRAIN_FLAGS))
    data = {k: getattr(args, k) for k in ("n_train", "n_test") if getattr(args, k) is not None}
    # The configs are built (and so validated) before any data is loaded.
    recipe = build_recipe(args.preset, quick=args.quick, seed=args.seed, data_seed=args.data_seed,
                          model=_overrides(args, MODEL_FLAGS), train=train, data=data, data_dir=args.data_dir,
                          download=args.download)
    dataset = load_recipe_data(recipe)
    cfg, train_cfg, spec = recipe.model, recipe.train, recipe.data
    from tinyvit.model import ViT

    vit = ViT(cfg)
    trainer = Trainer(vit, dataset, train_cfg, spec, out_dir=out, progress=not args.no_progress)
    _print_header(preset.name, dataset, cfg, vit, trainer)
    if preset.expected and not args.quick and not _overrides(args, MODEL_FLAGS) and not _overrides(args, TRAIN_FLAGS):
        print(f"expected: {preset.expected}")
    return _run(trainer, args)


def _holds_run(folder: Path) -> bool:
    return any((folder / name).exists() for name in ("last.npz", "best.npz", "metrics.jsonl"))


def _free_folder(out: str) -> Path:
    """--out, refused if it holds a run already: a run never writes over another."""
    if _holds_run(Path(out)):
        raise TinyViTError(f"{out} already holds a run: continue it with --resume {Path(out) / 'last.npz'}, "
                           "or choose another --out (delete the folder to start it over).")
    return Path(out)


def _new_run_folder(out: str | None, preset: str) -> Path:
    """Where a new run writes: --out (_free_folder), or else runs/PRESET, or runs/PRESET-2, -3, ...
    if that holds a run."""
    if out:
        return _free_folder(out)
    folder, n = Path("runs") / preset, 1
    while _holds_run(folder):
        n += 1
        folder = Path("runs") / f"{preset}-{n}"
    return folder


def _resume(args) -> int:
    from tinyvit.checkpoint import load_checkpoint
    from tinyvit.train import DataSpec, Trainer

    given = [f"--{flag.replace('_', '-')}" for flag in (*MODEL_FLAGS, *TRAIN_FLAGS)
             if flag not in ("epochs", "backend", "eval_every") and getattr(args, flag, None) is not None]
    given += [f for f, on in (("--quick", args.quick), ("--no-augment", args.no_augment),
                              ("--n-train", args.n_train is not None), ("--n-test", args.n_test is not None),
                              ("--data-seed", args.data_seed is not None)) if on]
    if given:
        raise TinyViTError(f"--resume continues the recorded recipe; drop {', '.join(given)} "
                           "(only --epochs, --out, --data-dir, --backend and runtime flags may change).")
    path = Path(args.resume) if args.resume else Path(args.out or Path("runs") / args.preset) / "last.npz"
    ckpt = load_checkpoint(path, backend=args.backend)
    if "data" not in ckpt.meta:
        raise TinyViTError(f"{path} cannot be resumed: it does not record its dataset.")
    spec = DataSpec.from_dict(ckpt.meta["data"])
    if args.data_dir is not None:
        spec.data_dir = args.data_dir
    spec.download = args.download
    out = path.parent
    if args.out and Path(args.out).resolve() != path.parent.resolve():
        out = _free_folder(args.out)                       # another folder: it must not hold a run
    dataset = _load_dataset(spec, ckpt.config)
    trainer = Trainer.from_checkpoint(ckpt, dataset, out_dir=out, epochs=args.epochs, progress=not args.no_progress)
    if args.eval_every is not None:
        trainer.train.eval_every = args.eval_every
    print(f"resuming {path} at epoch {trainer.epoch + 1} of {trainer.train.epochs}")
    _print_header(spec.name, dataset, ckpt.config, trainer.model, trainer)
    return _run(trainer, args)


def _epochs(n: float) -> str:
    return f"{n:g} epoch" + ("" if n == 1 else "s")


def _print_header(name, dataset, cfg, model, trainer) -> None:
    t = trainer.train
    aug = ", ".join(f"{k} {v:g}" if not isinstance(v, bool) else k for k, v in t.augment_kwargs().items() if v)
    h, w, c = dataset.image_shape
    print(f"data: {dataset.name} ({name}): {len(dataset.x_train)} train / {len(dataset.x_test)} test images "
          f"{h}x{w}x{c}, {dataset.num_classes} classes")
    print("model: " + _describe_model(cfg, model))
    print(f"recipe: {t.epochs} epochs x {trainer.steps_per_epoch} steps of {t.batch_size}, AdamW lr {t.lr:g} "
          f"(warmup {t.warmup_epochs:g} ep, cosine to {t.min_lr:g}), weight decay {t.weight_decay:g}, "
          f"label smoothing {t.label_smoothing:g}, clip {t.clip:g}, augment: {aug or 'none'}, seed {t.seed}")
    if trainer.out_dir is not None:
        print(f"writing {trainer.out_dir}/metrics.jsonl, last.npz, best.npz")
    sys.stdout.flush()
    # Recipes that run but not as the flags suggest (train/loop.py, lr_at): say so, once.
    if t.warmup_epochs >= t.epochs:
        _warn(f"the warmup ({_epochs(t.warmup_epochs)}) is not shorter than the run ({_epochs(t.epochs)}): "
              f"the learning rate never reaches {t.lr:g}; lower --warmup.")
    if t.min_lr > t.lr:
        _warn(f"--min-lr {t.min_lr:g} is above --lr {t.lr:g}: the learning rate stays at {t.lr:g} after the "
              "warmup instead of decaying.")


def _last_checkpoint(trainer) -> str:
    """Where an interrupted run can continue from. The epoch is read from the file itself: an
    interrupt during a save leaves the previous checkpoint, one epoch behind the trainer."""
    from tinyvit.checkpoint import load_checkpoint

    last = trainer.out_dir / "last.npz" if trainer.out_dir is not None else None
    if last is None or not last.is_file():
        return "no checkpoint was written"
    try:
        epoch = f" (epoch {load_checkpoint(last).epoch})"
    except TinyViTError:
        epoch = ""
    return f"the last checkpoint is {last}{epoch}; continue with --resume {last}"


def _run(trainer, args) -> int:
    from tinyvit.train.evaluate import format_confusion

    start = time.perf_counter()
    try:
        summary = trainer.fit(stop_after=args.stop_after)
    except KeyboardInterrupt as stop:
        print(f"tinyvit: {_stopped_by(stop)}; {_last_checkpoint(trainer)}", file=sys.stderr)
        return EXIT_TERMINATED if isinstance(stop, Terminated) else EXIT_INTERRUPTED
    wall = time.perf_counter() - start
    ev = trainer.last_eval
    if not summary["finished"]:
        print(f"stopped after epoch {summary['epochs_done']} of {summary['epochs']} in {_fmt_seconds(wall)}; "
              f"continue with: tinyvit train --resume {trainer.out_dir / 'last.npz'}")
    else:
        speed = f", {summary['img_per_s']:.0f} img/s" if summary["img_per_s"] else ""
        print(f"done: {summary['epochs_done']} epochs in {_fmt_seconds(summary['elapsed_seconds'])} "
              f"({_fmt_seconds(summary['cpu_seconds'])} CPU){speed}; "
              f"best test accuracy {summary['best_test_acc']:.2%} at epoch {summary['best_epoch']}")
        if ev is not None and len(ev.confusion) <= 20:
            print("confusion matrix of the test split (rows: true class, columns: predicted):")
            print(format_confusion(ev.confusion, trainer.dataset.class_names))
    if ev is not None:
        correct = int(np.trace(ev.confusion))
        print(f"final test accuracy: {ev.accuracy:.2%} ({correct}/{ev.count}), test loss {ev.loss:.4f}")
    return 0


# =============================================================================== eval
def cmd_eval(args) -> int:
    from tinyvit.checkpoint import check_class_names, load_checkpoint
    from tinyvit.presets import data_options, get_preset
    from tinyvit.train import DataSpec
    from tinyvit.train.data import normalize_images
    from tinyvit.train.evaluate import evaluate, format_confusion

    limiter = set_threads(args.threads)  # noqa: F841
    ckpt = load_checkpoint(args.checkpoint, backend=args.backend)
    cfg = ckpt.config
    if args.preset is not None:
        preset = get_preset(args.preset)
        model = {**cfg.to_dict()}
        spec = DataSpec(name=preset.dataset, seed=int(ckpt.meta.get("data", {}).get("seed", 0)),
                        options=data_options(preset.dataset, model, preset.data))
    elif "data" in ckpt.meta:
        spec = DataSpec.from_dict(ckpt.meta["data"])
    else:
        raise TinyViTError(f"{args.checkpoint} does not record its dataset; pass --preset NAME.")
    if args.data_dir is not None:
        spec.data_dir = args.data_dir
    spec.download = args.download
    dataset = _load_dataset(spec, cfg)
    if dataset.num_classes != cfg.num_classes:
        raise TinyViTError(f"dataset '{spec.name}' has {dataset.num_classes} classes, but the checkpoint predicts "
                           f"{cfg.num_classes}.")
    check_class_names(ckpt, dataset)
    x, y = (dataset.x_test, dataset.y_test) if args.split == "test" else (dataset.x_train, dataset.y_train)
    if len(x) == 0:
        raise TinyViTError(f"the {args.split} split of '{spec.name}' is empty.")
    mean, std = _normalisation(ckpt, dataset)
    model = ckpt.build_model()
    result = evaluate(model, normalize_images(x, mean, std), y, args.batch_size)
    print(f"checkpoint: {ckpt.path} (epoch {ckpt.epoch}), data: {spec.name} {args.split} split, {result.count} images")
    if args.confusion:
        print(format_confusion(result.confusion, dataset.class_names))
    print(f"{args.split} accuracy: {result.accuracy:.2%} ({int(np.trace(result.confusion))}/{result.count})")
    print(f"{args.split} loss: {result.loss:.4f}")
    return 0


def _normalisation(ckpt, dataset=None):
    """The (mean, std) used in training, from the checkpoint (else the dataset's own)."""
    meta = ckpt.meta
    if "mean" in meta and "std" in meta:
        return np.asarray(meta["mean"], np.float32), np.asarray(meta["std"], np.float32)
    if dataset is not None:
        return dataset.mean, dataset.std
    c = ckpt.config.in_channels
    return np.zeros(c, np.float32), np.ones(c, np.float32)


# =============================================================================== predict
def cmd_predict(args) -> int:
    from tinyvit.checkpoint import load_checkpoint
    from tinyvit.data.images import load_image
    from tinyvit.train.data import normalize_images

    limiter = set_threads(args.threads)  # noqa: F841
    ckpt = load_checkpoint(args.checkpoint, backend=args.backend)
    cfg = ckpt.config
    images = np.stack([load_image(path, cfg.image_size, cfg.in_channels) for path in args.images])
    if args.invert:
        images = 1.0 - images
    mean, std = _normalisation(ckpt)
    model = ckpt.build_model()
    logits = model.predict(normalize_images(images, mean, std)).astype(np.float64)
    z = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    names = ckpt.class_names
    k = min(args.top_k, cfg.num_classes)
    for path, p in zip(args.images, probs, strict=True):
        order = np.argsort(-p, kind="stable")[:k]
        print(f"{path}:")
        for rank, cls in enumerate(order, 1):
            print(f"  {rank}. {names[cls]:<20} {p[cls]:7.2%}")
    return 0


# =============================================================================== info
def cmd_info(args) -> int:
    from tinyvit.model import ViT
    from tinyvit.model.summary import format_trace, shape_trace
    from tinyvit.presets import get_preset
    from tinyvit.train.optim import param_groups

    if args.checkpoint:
        from tinyvit.checkpoint import load_checkpoint

        given = [f"--{flag.replace('_', '-')}" for flag in ("preset", "num_classes", *MODEL_FLAGS)
                 if flag != "backend" and getattr(args, flag, None) is not None]
        if given:
            raise TinyViTError(f"--checkpoint describes the model it stores; drop {', '.join(given)} "
                               "(those flags describe a preset's model).")
        ckpt = load_checkpoint(args.checkpoint, backend=args.backend)
        cfg, source = ckpt.config, f"checkpoint {args.checkpoint}"
        model = ckpt.build_model()
    else:
        preset = get_preset(args.preset or "digits")
        _check_channels_flag(args, preset)
        cfg = _make_config(_model_dict(args, preset, args.num_classes))
        source = f"preset {preset.name}" + (" with overrides" if _overrides(args, MODEL_FLAGS) else "")
        model = ViT(cfg)
    groups = param_groups(model.params)
    decayed = sum(model.params[n].size for n in groups["decay"])
    flops = model.flops_per_image()
    print(f"model ({source}): " + _describe_model(cfg, model))
    print("config: " + ", ".join(f"{k}={v}" for k, v in cfg.to_dict().items()))
    print(f"parameters: {model.num_params():,} ({decayed:,} in {len(groups['decay'])} weight matrices get weight "
          f"decay; {model.num_params() - decayed:,} in {len(groups['no_decay'])} biases, LayerNorms, [CLS] and "
          "position tables do not)")
    print(f"FLOPs per image: {flops:,} forward ({flops / 1e6:.2f} M); about {3 * flops / 1e6:.2f} M for a "
          "training step (forward + backward)")
    print(f"shape trace of one forward pass (B = {args.batch_size}):")
    print(format_trace(shape_trace(model, batch=args.batch_size)))
    return 0


# =============================================================================== main
def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m tinyvit` and of the `tinyvit` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings(), _terminate_as_interrupt():
            warnings.showwarning = _show_warning
            return args.func(args)
    except TinyViTError as err:
        _error(str(err))
    except KeyboardInterrupt as stop:
        print(f"tinyvit: {_stopped_by(stop)}", file=sys.stderr)
        return EXIT_TERMINATED if isinstance(stop, Terminated) else EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `tinyvit info | head`: the reader left; leave quietly
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR
    except ImportError as err:  # e.g. --backend numba without numba installed
        _error(str(err))
    except MemoryError:
        _error("out of memory: try a smaller --batch-size or a smaller model")
    except OSError as err:  # file-system trouble the more specific checks did not catch
        where = f" ({err.filename})" if getattr(err, "filename", None) else ""
        _error(f"{err.strerror or err}{where}")
    return EXIT_ERROR


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, a scheduler's time limit) raised like Ctrl-C, so that it unwinds the same way:
    a checkpoint being written is left unfinished and removed, and the resume hint is printed."""


def _stopped_by(stop: KeyboardInterrupt) -> str:
    return "terminated (SIGTERM)" if isinstance(stop, Terminated) else "interrupted"


@contextlib.contextmanager
def _terminate_as_interrupt():
    if threading.current_thread() is not threading.main_thread():   # only the main thread may set handlers
        yield
        return

    def handler(signum, frame):
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _error(message: str) -> None:
    one_line = " ".join(message.split())
    print(f"tinyvit: error: {one_line}", file=sys.stderr)


def _warn(message: str) -> None:
    one_line = " ".join(message.split())
    print(f"tinyvit: warning: {one_line}", file=sys.stderr)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Library warnings (warnings.warn) on the command line: one line, like the errors (the first line
    only: Numba's warning about an unreadable NUMBA_NUM_THREADS goes on with a whole traceback)."""
    lines = str(message).strip().splitlines()
    _warn(lines[0] if lines else "")


if __name__ == "__main__":
    sys.exit(main())
