"""The lessons that need no training run end to end and save their figures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

LESSONS = Path(__file__).resolve().parent.parent / "lessons"


@pytest.mark.parametrize("script,figures", [
    ("01_tokens_and_pixels.py", ["01_sequence_length.png"]),
    ("02_patches.py", ["02_patch_grid.png", "02_random_filters.png"]),
    ("03_cls_and_positions.py", ["03_random_vectors_orthogonal.png", "03_sincos2d_similarity.png"]),
    ("04_encoder.py", ["04_attention_untrained.png", "04_gelu.png"]),
])
def test_lesson_runs_and_saves_figures(script, figures):
    for name in figures:
        (LESSONS / "figures" / name).unlink(missing_ok=True)
    root = str(LESSONS.parent)  # import tinyvit from this checkout even when it is not installed
    env = {**os.environ, "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    result = subprocess.run([sys.executable, str(LESSONS / script)], capture_output=True, text=True, env=env,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    for name in figures:
        assert (LESSONS / "figures" / name).stat().st_size > 1000


def test_every_lesson_is_numbered_and_has_cells():
    scripts = sorted(LESSONS.glob("[0-9][0-9]_*.py"))
    assert [s.name[:2] for s in scripts] == [f"{i:02d}" for i in range(1, len(scripts) + 1)]
    for s in scripts:
        assert s.read_text().count("# %%") >= 3, s.name
