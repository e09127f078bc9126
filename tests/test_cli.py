"""The command line: train/eval/predict/info end to end on tiny models, and one-line user errors."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tinyvit.checkpoint import load_checkpoint
from tinyvit.cli import build_parser, main

TINY = ["--image-size", "8", "--patch-size", "2", "--dim", "16", "--depth", "1", "--heads", "2", "--mlp-dim", "32",
        "--backend", "numpy", "--no-progress", "--warmup", "0.5", "--lr", "3e-3"]


def run(capsys, *argv):
    """main(argv) in-process; returns (exit code, stdout, stderr)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def fails(capsys, *argv, match: str):
    """The command must fail with exactly one line on stderr matching `match`, and no traceback."""
    code, out, err = run(capsys, *argv)
    assert code != 0, out
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("tinyvit: error: "), err
    assert re.search(match, lines[0]), lines[0]
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """One tiny digits run shared by the eval/predict/info tests."""
    out = tmp_path_factory.mktemp("run")
    code = main(["train", "--preset", "digits", "--epochs", "2", "--out", str(out), *TINY])
    assert code == 0
    return out


def test_train_writes_outputs_and_prints_final_accuracy(digits_run, tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, _ = run(capsys, "train", "--preset", "digits", "--epochs", "2", "--out", out, "--seed", "1", *TINY)
    assert code == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    assert all({"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "seconds"} <= set(r) for r in records)
    assert (out / "best.npz").is_file() and (out / "last.npz").is_file()
    last_line = stdout.strip().splitlines()[-1]
    match = re.fullmatch(r"final test accuracy: (\d+\.\d\d)% \((\d+)/450\), test loss \d+\.\d+", last_line)
    assert match, last_line
    assert float(match.group(1)) == pytest.approx(100 * records[-1]["test_acc"], abs=0.006)
    assert "confusion matrix" in stdout
    ckpt = load_checkpoint(out / "last.npz")
    assert ckpt.config.dim == 16 and ckpt.config.seed == 1 and ckpt.config.image_size == 8
    assert ckpt.meta["train"]["translate"] == 2.0 and ckpt.meta["train"]["flip"] is False  # preset values kept
    assert ckpt.meta["data"]["name"] == "digits" and ckpt.meta["class_names"] == [str(d) for d in range(10)]


def test_recipes_that_cannot_do_what_they_say_are_warned_about(tmp_path, capsys):
    tiny = [a for a in TINY if a not in ("--warmup", "0.5", "--lr", "3e-3")]
    code, _, err = run(capsys, "train", "--preset", "digits", "--epochs", "1", "--warmup", "2", "--lr", "3e-3",
                       "--min-lr", "0.01", "--out", tmp_path / "run", *tiny)
    assert code == 0
    warnings = err.strip().splitlines()
    assert warnings == [
        "tinyvit: warning: the warmup (2 epochs) is not shorter than the run (1 epoch): the learning rate never "
        "reaches 0.003; lower --warmup.",
        "tinyvit: warning: --min-lr 0.01 is above --lr 0.003: the learning rate stays at 0.003 after the warmup "
        "instead of decaying."]


@pytest.mark.parametrize("quick", [False, True])
def test_every_preset_warms_up_for_less_than_its_run(quick):
    from tinyvit.presets import PRESETS
    from tinyvit.train.recipe import build_recipe

    for name in PRESETS:
        train = build_recipe(name, quick=quick).train
        assert train.warmup_epochs < train.epochs, (name, quick)


def test_a_new_run_never_writes_over_an_earlier_one(digits_run, tmp_path, monkeypatch, capsys):
    fails(capsys, "train", "--preset", "digits", "--out", digits_run, *TINY,
          match=f"{re.escape(str(digits_run))} already holds a run: continue it with --resume")
    monkeypatch.chdir(tmp_path)                         # the default folder is runs/PRESET, here
    for folder in ("runs/digits", "runs/digits-2"):
        code, out, _ = run(capsys, "train", "--preset", "digits", "--epochs", "1", *TINY)
        assert code == 0 and f"writing {folder}/metrics.jsonl" in out
    assert load_checkpoint(tmp_path / "runs/digits/last.npz").epoch == 1


def test_resume_through_the_cli(digits_run, tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    args = ["train", "--preset", "digits", "--epochs", "2", "--dropout", "0.1", *TINY]
    assert run(capsys, *args, "--out", a)[0] == 0
    code, stdout, _ = run(capsys, *args, "--out", b, "--stop-after", "1")
    assert code == 0 and "stopped after epoch 1 of 2" in stdout
    code, stdout, _ = run(capsys, "train", "--resume", b / "last.npz", "--no-progress")
    assert code == 0 and "resuming" in stdout
    pa, pb = load_checkpoint(a / "last.npz").params, load_checkpoint(b / "last.npz").params
    assert all(np.array_equal(pa[k], pb[k]) for k in pa)
    fails(capsys, "train", "--resume", b / "last.npz", "--lr", "0.1", match="drop --lr")
    fails(capsys, "train", "--resume", b / "last.npz", match="already completed 2 of 2 epochs")
    fails(capsys, "train", "--resume", b / "last.npz", "--out", a, "--epochs", "3", match="already holds a run")


def test_eval_matches_training_metrics(digits_run, capsys):
    best = load_checkpoint(digits_run / "best.npz")
    records = [json.loads(line) for line in (digits_run / "metrics.jsonl").read_text().splitlines()]
    expected = next(r for r in records if r["epoch"] == best.epoch)
    code, out, _ = run(capsys, "eval", "--checkpoint", digits_run / "best.npz", "--confusion")
    assert code == 0
    acc = float(re.search(r"test accuracy: (\d+\.\d+)%", out).group(1))
    loss = float(re.search(r"test loss: (\d+\.\d+)", out).group(1))
    assert acc == pytest.approx(100 * expected["test_acc"], abs=0.006)
    assert loss == pytest.approx(expected["test_loss"], abs=1e-4)
    assert "<- predicted" in out
    code, out, _ = run(capsys, "eval", "--checkpoint", digits_run / "best.npz", "--split", "train")
    assert code == 0 and "train accuracy" in out and "/1347)" in out


def test_predict_any_image_mode_and_size(digits_run, tmp_path, capsys):
    images = {
        "rgb.png": Image.new("RGB", (40, 30), (200, 10, 10)),
        "rgba.png": Image.new("RGBA", (10, 10), (255, 255, 255, 128)),
        "gray.jpg": Image.new("L", (64, 64), 90),
        "sixteen.png": Image.fromarray((np.arange(16 * 16, dtype=np.uint16) * 200).reshape(16, 16)),
    }
    paths = []
    for name, img in images.items():
        img.save(tmp_path / name)
        paths.append(tmp_path / name)
    code, out, _ = run(capsys, "predict", "--checkpoint", digits_run / "last.npz", *paths, "--top-k", "3")
    assert code == 0
    assert len(re.findall(r"^\S.*:$", out, flags=re.M)) == 4
    probs = [float(p) for p in re.findall(r"(\d+\.\d\d)%", out)]
    assert len(probs) == 12 and all(0 <= p <= 100 for p in probs)
    for i in range(4):
        top = probs[3 * i:3 * i + 3]
        assert top == sorted(top, reverse=True) and sum(top) <= 100.05
    code, out, _ = run(capsys, "predict", "--checkpoint", digits_run / "last.npz", paths[0], "--top-k", "50")
    probs = [float(p) for p in re.findall(r"(\d+\.\d\d)%", out)]
    assert len(probs) == 10 and sum(probs) == pytest.approx(100, abs=0.1)  # k capped at the class count


def test_predict_uses_training_normalisation(digits_run, tmp_path, capsys):
    from tinyvit.data import load_dataset

    ds = load_dataset("digits", seed=0, image_size=8)
    x = ds.x_test[:1]
    Image.fromarray(np.round(x[0, :, :, 0] * 255).astype(np.uint8), mode="L").save(tmp_path / "d.png")
    ckpt = load_checkpoint(digits_run / "last.npz")
    model = ckpt.build_model()
    mean, std = np.array(ckpt.meta["mean"], np.float32), np.array(ckpt.meta["std"], np.float32)
    logits = model.forward(((np.round(x * 255) / 255 - mean) / std).astype(np.float32))
    p = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    code, out, _ = run(capsys, "predict", "--checkpoint", digits_run / "last.npz", tmp_path / "d.png", "--top-k", "1")
    assert code == 0
    assert f"{p.max():.2%}" in out and f" {p.argmax()} " in out
    # --invert: a dark digit on white paper is read as the light-on-dark digit it shows.
    Image.fromarray(255 - np.round(x[0, :, :, 0] * 255).astype(np.uint8), mode="L").save(tmp_path / "paper.png")
    code, inverted, _ = run(capsys, "predict", "--checkpoint", digits_run / "last.npz", tmp_path / "paper.png",
                            "--top-k", "1", "--invert")
    assert code == 0 and inverted.splitlines()[1] == out.splitlines()[1]


def test_info_reports_params_flops_and_shapes(capsys):
    code, out, _ = run(capsys, "info", "--preset", "digits")
    assert code == 0
    assert "136,906" in out  # parameters of the digits preset
    from tinyvit import ViT, ViTConfig

    cfg = ViTConfig(image_size=16, patch_size=4, in_channels=1, dim=64, depth=4, heads=4, mlp_dim=128)
    assert f"{ViT(cfg).flops_per_image():,}" in out
    assert re.search(r"blocks\.3\.attn\.softmax\s+\(1, 4, 17, 17\)", out)
    assert re.search(r"head\s+\(1, 10\)", out)
    code, out, _ = run(capsys, "info", "--preset", "layout", "--pos-embed", "none", "--batch-size", "2")
    assert code == 0 and re.search(r"patchify\s+\(2, 16, 192\)", out) and "num_classes=4" in out


def test_info_from_checkpoint(digits_run, capsys):
    code, out, _ = run(capsys, "info", "--checkpoint", digits_run / "last.npz")
    assert code == 0 and "dim 16" in out and re.search(r"input\s+\(1, 8, 8, 1\)", out)
    fails(capsys, "info", "--checkpoint", digits_run / "last.npz", "--dim", "32", "--preset", "cifar10",
          match=r"--checkpoint describes the model it stores; drop --preset, --dim")


def test_info_traces_any_batch_and_checks_channels_like_train(capsys):
    # The trace runs on two images and labels the batch axis, so a huge --batch-size costs nothing.
    code, out, _ = run(capsys, "info", "--preset", "digits", "--batch-size", "1000000")
    assert code == 0 and re.search(r"blocks\.3\.attn\.softmax\s+\(1000000, 4, 17, 17\)", out)
    fails(capsys, "info", "--preset", "digits", "--channels", "3", match="--channels only applies to the folder preset")


def test_help_documents_every_flag(capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, type(parser._subparsers._group_actions[0])))
    for name, p in sub.choices.items():
        for action in p._actions:
            if action.option_strings and action.dest != "help":
                assert action.help and len(action.help) > 8, (name, action.option_strings)
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0
        text = capsys.readouterr().out
        for action in p._actions:
            for flag in action.option_strings:
                assert flag in text, (name, flag)
    for flag in ("--preset", "--data-dir", "--epochs", "--out", "--seed", "--pos-embed", "--pool", "--lr",
                 "--weight-decay", "--batch-size", "--warmup", "--label-smoothing", "--dropout", "--clip", "--dim",
                 "--depth", "--heads", "--mlp-dim", "--patch-size", "--image-size", "--backend", "--resume",
                 "--download", "--quick", "--translate", "--rotate", "--scale", "--crop-pad", "--flip"):
        assert flag in sub.choices["train"].format_help(), flag


# ------------------------------------------------------------------------ user errors: one line, no traceback
def test_bad_images(digits_run, tmp_path, capsys):
    ckpt = digits_run / "last.npz"
    fails(capsys, "predict", "--checkpoint", ckpt, tmp_path / "nope.png", match="image file not found")
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    fails(capsys, "predict", "--checkpoint", ckpt, corrupt, match="could not read image")


def test_bad_checkpoints(digits_run, tmp_path, capsys):
    img = tmp_path / "x.png"
    Image.new("L", (8, 8)).save(img)
    fails(capsys, "predict", "--checkpoint", tmp_path / "none.npz", img, match="checkpoint file not found")
    junk = tmp_path / "junk.npz"
    junk.write_text("hello")
    fails(capsys, "eval", "--checkpoint", junk, match="not a tinyvit checkpoint")
    np.savez(tmp_path / "other.npz", w=np.zeros(2))
    fails(capsys, "predict", "--checkpoint", tmp_path / "other.npz", img, match="not a tinyvit checkpoint")
    # A digits model (1 channel, 10 classes) on another preset's data.
    fails(capsys, "eval", "--checkpoint", digits_run / "last.npz", "--preset", "shapes",
          match="3-channel images, but the model takes 1")
    fails(capsys, "train", "--resume", junk, match="not a tinyvit checkpoint")


def test_unknown_preset_or_dataset(capsys, tmp_path):
    fails(capsys, "train", "--preset", "imagenet", "--out", tmp_path, match="unknown preset 'imagenet'")
    fails(capsys, "info", "--preset", "nope", match="unknown preset")
    fails(capsys, "train", "--preset", "digits", "--heads", "3", "--out", tmp_path, *TINY[:6],
          match="not divisible by heads=3")


def test_folder_errors_and_training(tmp_path, capsys):
    root = tmp_path / "imgs"
    fails(capsys, "train", "--preset", "folder", "--out", tmp_path / "o", match="needs --data-dir|needs data_dir")
    fails(capsys, "train", "--preset", "folder", "--data-dir", root, "--out", tmp_path / "o",
          match="does not exist")
    (root / "train" / "cat").mkdir(parents=True)
    (root / "test" / "cat").mkdir(parents=True)
    fails(capsys, "train", "--preset", "folder", "--data-dir", root, "--out", tmp_path / "o",
          match="has one class folder")
    (root / "train" / "dog").mkdir(parents=True)
    fails(capsys, "train", "--preset", "folder", "--data-dir", root, "--out", tmp_path / "o", match="has no images")
    rng = np.random.default_rng(0)
    for split, n in (("train", 6), ("test", 2)):
        for cls, colour in (("cat", 0), ("dog", 2)):
            for i in range(n):
                pixels = (rng.random((12, 12, 3)) * 60).astype(np.uint8)
                pixels[..., colour] += 180
                (root / split / cls).mkdir(parents=True, exist_ok=True)
                Image.fromarray(pixels).save(root / split / cls / f"{i}.png")
    code, out, _ = run(capsys, "train", "--preset", "folder", "--data-dir", root, "--out", tmp_path / "o",
                       "--epochs", "8", "--batch-size", "4", *TINY)
    assert code == 0 and "2 classes" in out and "final test accuracy" in out
    assert load_checkpoint(tmp_path / "o" / "last.npz").class_names == ["cat", "dog"]
    code, out, _ = run(capsys, "predict", "--checkpoint", tmp_path / "o" / "last.npz",
                       root / "test" / "dog" / "0.png", "--top-k", "2")
    assert code == 0 and "cat" in out and "dog" in out
    for split in ("train", "test"):                     # renamed: "ant" now sorts first, labels would swap
        (root / split / "dog").rename(root / split / "ant")
    fails(capsys, "eval", "--checkpoint", tmp_path / "o" / "last.npz",
          match="was trained on the classes cat, dog, but this dataset has ant, cat")
    fails(capsys, "train", "--resume", tmp_path / "o" / "last.npz", "--epochs", "9",
          match="was trained on the classes cat, dog, but this dataset has ant, cat")


def _idx(array: np.ndarray) -> bytes:
    magic = 0x0800 | array.ndim
    return magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape) + array.tobytes()


def test_mnist_files_missing_or_bad_labels(tmp_path, capsys):
    d = tmp_path / "mnist"
    d.mkdir()
    fails(capsys, "train", "--preset", "mnist", "--data-dir", d, "--out", tmp_path / "o",
          match="train-images-idx3-ubyte.* not found")
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 20), ("t10k", 10)):
        (d / f"{prefix}-images-idx3-ubyte.gz").write_bytes(
            gzip.compress(_idx(rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))))
        labels = np.arange(n, dtype=np.uint8) % 10
        (d / f"{prefix}-labels-idx1-ubyte").write_bytes(_idx(labels))
    code, out, _ = run(capsys, "train", "--preset", "mnist", "--data-dir", d, "--out", tmp_path / "o",
                       "--epochs", "1", "--batch-size", "8", "--image-size", "28", "--patch-size", "7",
                       *TINY[4:])
    assert code == 0 and "20 train / 10 test images 28x28x1" in out
    (d / "t10k-labels-idx1-ubyte").write_bytes(_idx(np.full(10, 12, dtype=np.uint8)))
    fails(capsys, "train", "--preset", "mnist", "--data-dir", d, "--out", tmp_path / "o2", match="labels")


def test_unwritable_output_dir(tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file, not a folder")
    fails(capsys, "train", "--preset", "digits", "--out", blocker / "run", *TINY, match="not writable")


def test_bad_flag_values_are_usage_errors(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--epochs", "zero"])
    assert exit_info.value.code == 2
    assert "expected a whole number" in capsys.readouterr().err


def test_python_dash_m_entry_point():
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-m", "tinyvit", "info", "--preset", "digits", "--backend", "numpy"],
                            capture_output=True, text=True, timeout=120, cwd=root)
    assert result.returncode == 0 and "parameters: 136,906" in result.stdout
    result = subprocess.run([sys.executable, "-m", "tinyvit", "eval", "--checkpoint", "/no/such/file.npz"],
                            capture_output=True, text=True, timeout=120, cwd=root)
    assert result.returncode == 1
    assert result.stderr.strip() == "tinyvit: error: checkpoint file not found: /no/such/file.npz"


def _cli_process(*argv, **env):
    root = Path(__file__).resolve().parents[1]
    return subprocess.run([sys.executable, "-m", "tinyvit", *argv], capture_output=True, text=True, timeout=120,
                          cwd=root, env={**os.environ, **env})


def test_a_thread_count_numba_refuses_is_one_line():
    result = _cli_process("info", NUMBA_NUM_THREADS="0")   # numba itself raises as it imports
    assert result.returncode == 1
    assert result.stderr.strip() == ("tinyvit: error: NUMBA_NUM_THREADS='0': Numba needs a thread count of at "
                                     "least 1 (unset it to use every core).")


def test_an_unknown_threading_layer_is_one_line():
    result = _cli_process("info", "--backend", "numba", NUMBA_THREADING_LAYER="bogus")
    assert result.returncode == 1
    assert result.stderr.strip() == ("tinyvit: error: Numba could not start its threads (NUMBA_THREADING_LAYER="
                                     "'bogus'): The threading layer requested 'bogus' is unknown to Numba.")


def test_an_unreadable_thread_count_warns_in_one_line():
    result = _cli_process("info", "--backend", "numba", NUMBA_NUM_THREADS="abc")   # Numba goes on with every core
    assert result.returncode == 0
    assert result.stderr == ("tinyvit: warning: Environment variable 'NUMBA_NUM_THREADS' is defined but its "
                             "associated value 'abc' could not be parsed.\n")


@pytest.mark.parametrize("argv", [["eval", "--checkpoint", ""], ["train", "--out", ""],
                                  ["predict", "", "--checkpoint", "x.npz"]])
def test_an_empty_path_is_a_usage_error(capsys, argv):   # Path("") is the current folder
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2 and "expected a path, got an empty string" in capsys.readouterr().err


def test_the_numba_backend_without_its_jit_warns_in_one_line():
    result = _cli_process("info", "--backend", "numba", NUMBA_DISABLE_JIT="1")
    assert result.returncode == 0
    assert result.stderr.startswith("tinyvit: warning: NUMBA_DISABLE_JIT=1: the numba backend runs its kernels "
                                    "as plain Python") and result.stderr.count("\n") == 1


def test_ctrl_c_during_a_save_keeps_the_previous_checkpoint_and_says_which(tmp_path, capsys, monkeypatch):
    from tinyvit import checkpoint

    real, saves = checkpoint.atomic_write, []

    @contextlib.contextmanager
    def interrupted_second_last(path, suffix=".tmp"):
        with real(path, suffix) as f:
            yield f                             # the whole archive is written ...
            saves.append(path.name)
            if saves.count("last.npz") == 2:   # ... but Ctrl-C comes before it is renamed into place
                raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "atomic_write", interrupted_second_last)
    out = tmp_path / "run"
    code, _, err = run(capsys, "train", "--preset", "digits", "--epochs", "3", "--out", out, *TINY)
    assert code == 130
    assert err.strip().splitlines()[-1] == (f"tinyvit: interrupted; the last checkpoint is {out / 'last.npz'} "
                                            f"(epoch 1); continue with --resume {out / 'last.npz'}")
    assert load_checkpoint(out / "last.npz").epoch == 1
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]   # the unfinished file is removed


def test_sigterm_stops_a_run_like_ctrl_c(tmp_path):
    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "tinyvit", "train", "--preset", "digits", "--epochs", "500",
                             "--out", str(out), *TINY], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 120
    while not (out / "last.npz").is_file() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    last_line = err.strip().splitlines()[-1]
    assert re.fullmatch(r"tinyvit: terminated \(SIGTERM\); the last checkpoint is .*last\.npz \(epoch \d+\); "
                        r"continue with --resume .*last\.npz", last_line), err
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]   # no temp file left behind
    assert (out / "last.npz").stat().st_mode & 0o777 == (out / "metrics.jsonl").stat().st_mode & 0o777
