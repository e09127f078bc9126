"""Matplotlib figures for the lessons; every function draws on a new figure and saves it as a PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # draw to files: the lessons run headless and on any machine
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tinyvit.errors import TinyViTError  # noqa: E402


def save(fig, path: str | Path) -> Path:
    """Save a figure as PNG, creating the folder, and close it; returns the path written."""
    path = Path(path)
    if path.suffix.lower() != ".png":   # 'fig' or 'fig.v1': the file written is always a PNG, and named so
        path = path.with_name(path.name + ".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)
    print(f"saved {path}")
    return path


def to_displayable(image: np.ndarray) -> np.ndarray:
    """(H, W, C) -> what imshow wants: (H, W) for one channel, values scaled to [0, 1]."""
    image = image[..., 0] if image.shape[-1] == 1 else image
    lo, hi = image.min(), image.max()
    return (image - lo) / (hi - lo) if hi > lo else np.zeros_like(image)


def image_grid(images: np.ndarray, titles: list[str] | None, path: str | Path, cols: int = 8,
               title: str = "", cmap: str = "gray") -> Path:
    """A grid of small images (K, H, W, C), each scaled on its own."""
    k = len(images)
    if titles is not None and len(titles) != k:
        raise TinyViTError(f"image_grid: {k} images but {len(titles)} titles.")
    rows = (k + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.4 * rows + 0.4), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < k:
            ax.imshow(to_displayable(images[i]), cmap=cmap)
            if titles:
                ax.set_title(titles[i], fontsize=7)
    fig.suptitle(title)
    return save(fig, path)


def heatmap_grid(maps: np.ndarray, path: str | Path, title: str = "", cmap: str = "viridis",
                 vmin: float | None = None, vmax: float | None = None, cell: float = 0.9) -> Path:
    """A (R, C, h, w) array of small heat maps laid out as an R x C grid, one colour scale; cell in inches."""
    R, C = maps.shape[:2]
    fig, axes = plt.subplots(R, C, figsize=(cell * C + 1, cell * R + 0.6), squeeze=False)
    vmin = maps.min() if vmin is None else vmin
    vmax = maps.max() if vmax is None else vmax
    for r in range(R):
        for c in range(C):
            im = axes[r, c].imshow(maps[r, c], cmap=cmap, vmin=vmin, vmax=vmax)
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
    fig.colorbar(im, ax=axes, shrink=0.6)
    fig.suptitle(title)
    return save(fig, path)


def line_plot(xs, series: dict[str, list], path: str | Path, xlabel: str, ylabel: str, title: str = "",
              logx: bool = False, logy: bool = False) -> Path:
    """One line per entry of `series`, all against the same xs."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for label, ys in series.items():
        ax.plot(xs, ys, marker="o", markersize=3, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title)
    return save(fig, path)


def patch_grid_figure(image: np.ndarray, patch_size: int, path: str | Path, title: str = "") -> Path:
    """The image with its patch grid drawn on it, and the patches laid out in raster order."""
    H, W = image.shape[:2]
    if H != W or H % patch_size:
        raise TinyViTError(f"patch_grid_figure: a {H}x{W} image does not cut into a square grid of "
                           f"{patch_size}x{patch_size} patches.")
    g = H // patch_size
    fig = plt.figure(figsize=(9, 4.2))
    shown = to_displayable(image)  # scale once, so every patch keeps the image's brightness
    ax = fig.add_subplot(1, 2, 1)
    ax.imshow(shown, cmap="gray", vmin=0, vmax=1)
    for t in range(1, g):
        ax.axhline(t * patch_size - 0.5, color="yellow", lw=0.8)
        ax.axvline(t * patch_size - 0.5, color="yellow", lw=0.8)
    ax.set_title(f"{H}x{W} image, {g}x{g} grid of {patch_size}x{patch_size} patches", fontsize=9)
    ax.axis("off")
    for n in range(g * g):
        r, c = divmod(n, g)
        sub = fig.add_subplot(g, 2 * g, r * 2 * g + g + c + 1)
        sub.imshow(shown[r * patch_size:(r + 1) * patch_size, c * patch_size:(c + 1) * patch_size],
                   cmap="gray", vmin=0, vmax=1)
        sub.set_xticks([])
        sub.set_yticks([])
        sub.set_title(str(n), fontsize=5, pad=1)
    fig.suptitle(title)
    return save(fig, path)


def bar_plot(labels: list[str], values: list[float], path: str | Path, ylabel: str, title: str = "",
             reference: float | None = None, reference_label: str = "") -> Path:
    """One bar per label, its value written on top; an optional dashed reference line (e.g. chance)."""
    if len(labels) != len(values):
        raise TinyViTError(f"bar_plot: {len(labels)} labels but {len(values)} values.")
    fig, ax = plt.subplots(figsize=(1.1 * len(labels) + 2, 3.6))
    bars = ax.bar(labels, values, color="tab:blue")
    for bar, v in zip(bars, values, strict=True):
        ax.text(bar.get_x() + bar.get_width() / 2, v, f"{v:.1%}", ha="center", va="bottom", fontsize=8)
    if reference is not None:
        ax.axhline(reference, color="gray", ls="--", lw=1, label=reference_label)
        ax.legend(fontsize=8, loc="lower right")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.08)
    ax.set_title(title)
    plt.setp(ax.get_xticklabels(), rotation=20, ha="right", fontsize=8)
    return save(fig, path)


def attention_distance_plot(distances: np.ndarray, path: str | Path, image_size: int, title: str = "") -> Path:
    """Mean attention distance (layers, heads) as dots per layer, as in the paper's Fig. 7 (right)."""
    L, H = distances.shape
    fig, ax = plt.subplots(figsize=(5, 3.8))
    for h in range(H):
        ax.scatter(np.arange(L), distances[:, h], s=18, label=f"head {h}")
    ax.set_xlabel("network depth (layer)")
    ax.set_ylabel("mean attention distance (pixels)")
    ax.set_ylim(0, image_size)
    ax.set_xticks(range(L))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(title)
    return save(fig, path)


def overlay_grid(images: np.ndarray, maps: np.ndarray, path: str | Path, titles: list[str] | None = None,
                 title: str = "") -> Path:
    """Each image (K, H, W, C) above its heat map (K, g, g) stretched over it, as in the paper's Fig. 6."""
    K = len(images)
    fig, axes = plt.subplots(2, K, figsize=(1.6 * K, 3.6), squeeze=False)
    for k in range(K):
        shown = to_displayable(images[k])
        axes[0, k].imshow(shown, cmap="gray")
        H, W = shown.shape[:2]
        axes[1, k].imshow(shown, cmap="gray")
        axes[1, k].imshow(maps[k], cmap="inferno", alpha=0.6, extent=(-0.5, W - 0.5, H - 0.5, -0.5),
                          interpolation="bilinear")
        for ax in axes[:, k]:
            ax.axis("off")
        if titles:
            axes[0, k].set_title(titles[k], fontsize=7)
    fig.suptitle(title)
    return save(fig, path)
