"""Pictures of a network's results, shared by the MXNet demos (``rfcn.demo``, ``fpn.demo``,
``deeplab.demo``) and the ONNX one (``dcn.deploy.demo``): NumPy, OpenCV and matplotlib only, no MXNet.

* :func:`draw_detections`: boxes with "class score" labels over the image.
* :func:`save_prediction`: a segmentation as a colour-coded class map and an overlay with a legend.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Sequence

import cv2
import numpy as np

from dcn.utils.pyplot import plt


def draw_detections(img_bgr: np.ndarray, dets: np.ndarray, names: Sequence[str], out_path: Path,
                    thresh: float = 0.5) -> int:
    """Save the image with the detections (rows class, score, x1, y1, x2, y2) scoring >= ``thresh``;
    returns how many were drawn."""
    h, w = img_bgr.shape[:2]
    fig = plt.figure(figsize=(w / 100.0, h / 100.0), dpi=100)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.imshow(img_bgr[:, :, ::-1])
    ax.axis("off")
    colors = plt.get_cmap("tab10")
    kept = dets[dets[:, 1] >= thresh]
    for cls, score, x1, y1, x2, y2 in kept:
        color = colors(int(cls) % 10)
        ax.add_patch(plt.Rectangle((x1, y1), x2 - x1 + 1, y2 - y1 + 1, fill=False, edgecolor=color, linewidth=2))
        name = names[int(cls)] if int(cls) < len(names) else f"class{int(cls) + 1}"
        ax.text(x1, y1 - 2, f"{name} {score:.2f}", fontsize=8, color="white",
                bbox=dict(facecolor=color, alpha=0.7, pad=1, edgecolor="none"))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=100)
    plt.close(fig)
    return len(kept)


def _palettes():
    from dcn.data import CITYSCAPES_COLORS
    from dcn.data.synthetic import voc_palette
    voc = np.array(voc_palette(), np.uint8).reshape(256, 3)  # RGB; 255 (ignore) is the VOC border colour
    city = np.zeros((256, 3), np.uint8)
    city[:len(CITYSCAPES_COLORS)] = CITYSCAPES_COLORS
    return voc, city


PALETTE, CITYSCAPES_PALETTE = _palettes()


def palette_for(dataset: str) -> np.ndarray:
    """(256, 3) RGB: the Cityscapes train-id colours (as the original demo) for CityScape, else VOC's."""
    return CITYSCAPES_PALETTE if dataset == "CityScape" else PALETTE


def colorize(labels: np.ndarray, palette: np.ndarray = PALETTE) -> np.ndarray:
    """Class map (H, W) -> RGB uint8 (H, W, 3) in the palette's colours (VOC by default)."""
    return palette[labels.astype(np.uint8)]


def save_prediction(img_bgr: np.ndarray, labels: np.ndarray, names: Sequence[str], out_dir: Path, stem: str,
                    palette: np.ndarray = PALETTE) -> List[Path]:
    """Write ``<stem>_seg.png`` and ``<stem>_overlay.png`` into ``out_dir``; returns their paths."""
    from matplotlib.patches import Patch
    out_dir.mkdir(parents=True, exist_ok=True)
    color = colorize(labels, palette)
    seg_path, overlay_path = out_dir / f"{stem}_seg.png", out_dir / f"{stem}_overlay.png"
    if not cv2.imwrite(str(seg_path), color[:, :, ::-1]):
        raise OSError(f"{seg_path}: could not write the PNG")
    h, w = labels.shape
    fig, axes = plt.subplots(1, 2, figsize=(2 * w / 100.0 + 0.5, h / 100.0 + 0.8), dpi=100)
    rgb = img_bgr[:, :, ::-1]
    axes[0].imshow(rgb)
    axes[0].set_title("image")
    axes[1].imshow((0.4 * rgb + 0.6 * color).astype(np.uint8))
    axes[1].set_title("prediction")
    for ax in axes:
        ax.axis("off")
    present = [c for c in np.unique(labels) if c < len(names)]
    fig.legend(handles=[Patch(color=palette[c] / 255.0, label=names[c]) for c in present],
               loc="lower center", ncol=max(1, min(len(present), 7)), fontsize=7, frameon=False)
    fig.savefig(overlay_path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return [seg_path, overlay_path]
