"""Matplotlib pictures of sampling locations (paper figures 5-7)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from dcn.utils.pyplot import plt

from .sampling import DeformLayer, feature_to_image, stacked_sampling_points


def plot_stacked_sampling(image_rgb: np.ndarray, layers: list[DeformLayer], units: list[tuple[int, int]],
                          stride: float, path: str | Path, group: int = 0, title: str = "",
                          drop_padding: bool = True, labels: list[str] | None = None) -> list[int]:
    """Figure 6: for each activation unit (feature row, col of the last layer),
    the sampling locations of all stacked layers on the image (red), the unit
    itself (green). ``image_rgb`` is the network input (resized) image whose
    pixels the feature ``stride`` refers to. With ``drop_padding`` the points
    that read only zero padding are left out (with those below them), so a unit
    near the border shows fewer than taps**layers points. Returns the number of
    points drawn per unit."""
    n = len(units)
    fig, axes = plt.subplots(1, n, figsize=(4 * n, 4), squeeze=False)
    H, W = image_rgb.shape[:2]
    counts = []
    for i, (ax, unit) in enumerate(zip(axes[0], units)):
        levels = stacked_sampling_points(layers, unit, group, drop_padding=drop_padding)
        pts = feature_to_image(levels[-1], stride)
        ax.imshow(image_rgb)
        ax.scatter(pts[:, 1], pts[:, 0], s=4, c="red", alpha=0.6, linewidths=0)
        cy, cx = feature_to_image(np.array(unit, dtype=float), stride)
        ax.scatter([cx], [cy], s=40, c="lime", marker="o", edgecolors="black")
        ax.set_xlim(-0.5, W - 0.5)
        ax.set_ylim(H - 0.5, -0.5)
        label = f"{labels[i]}: " if labels else ""
        total = int(np.prod([np.prod(layer.kernel) for layer in layers]))
        ax.set_title(f"{label}unit {tuple(int(v) for v in unit)}: {len(pts)}/{total} points", fontsize=9)
        ax.axis("off")
        counts.append(len(pts))
    total = int(np.prod([np.prod(layer.kernel) for layer in layers]))
    if min(counts, default=total) < total:
        title = (title + "\n" if title else "") + "points not drawn read only zero padding (outside the map)"
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return counts


def plot_roi_parts(image_rgb: np.ndarray, roi: np.ndarray, offsets: np.ndarray, path: str | Path,
                   trans_std: float = 0.1, title: str = "") -> int:
    """Figure 7: the k x k bins of a RoI (x1, y1, x2, y2 in image pixels) shifted
    by their learned normalised offsets (offsets (2, k, k) as (dx, dy), times
    trans_std times the RoI size, as deformable PS RoI pooling applies them).
    Returns the number of bins drawn."""
    x1, y1, x2, y2 = [float(v) for v in roi]
    k = offsets.shape[-1]
    bw, bh = (x2 - x1 + 1) / k, (y2 - y1 + 1) / k
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.imshow(image_rgb)
    ax.add_patch(plt.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec="yellow", lw=1.5, ls="--"))
    for i in range(k):
        for j in range(k):
            dx = offsets[0, i, j] * trans_std * (x2 - x1 + 1)
            dy = offsets[1, i, j] * trans_std * (y2 - y1 + 1)
            ax.add_patch(plt.Rectangle((x1 + j * bw + dx, y1 + i * bh + dy), bw, bh, fill=False, ec="red", lw=1))
    ax.set_xlim(-0.5, image_rgb.shape[1] - 0.5)
    ax.set_ylim(image_rgb.shape[0] - 0.5, -0.5)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return k * k
