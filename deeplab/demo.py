"""Segment images with a trained DeepLab and save colour-coded predictions (VOC palette; Cityscapes
train-id colours for Cityscapes models, as the original demo).

    python -m deeplab.demo --params output/.../deeplab_synthetic-0008.params --images a.jpg b.jpg \
        [--cfg experiments/deeplab/cfgs/synthetic_deeplab_dcn.yaml] [--out demo_out]

For each image writes ``<stem>_seg.png`` (the predicted class map in VOC
colours, original resolution) and ``<stem>_overlay.png`` (image, prediction
and a legend of the classes present). The network is built from ``--cfg`` or,
by default, the ``config.yaml`` that training wrote next to the parameters.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import List, Optional, Sequence

import cv2
import numpy as np
from matplotlib.patches import Patch

from dcn.checkpoint import load_network
from dcn.config import add_trained_model_args, trained_config
from dcn.data import CITYSCAPES_COLORS
from dcn.data.image_io import load_image
from dcn.data.records import DatasetFileError
from dcn.data.synthetic import voc_palette
from dcn.engine import make_contexts
from dcn.utils.fileio import unique_stems
from dcn.utils.pyplot import plt

from .data import class_names, prepare_image
from .inference import predict_labels

logger = logging.getLogger(__name__)

PALETTE = np.array(voc_palette(), np.uint8).reshape(256, 3)  # RGB; 255 (ignore) is the VOC border colour
CITYSCAPES_PALETTE = np.zeros((256, 3), np.uint8)
CITYSCAPES_PALETTE[:len(CITYSCAPES_COLORS)] = CITYSCAPES_COLORS


def palette_for(dataset: str) -> np.ndarray:
    """(256, 3) RGB: the Cityscapes train-id colours (as the original demo) for CityScape, else VOC's."""
    return CITYSCAPES_PALETTE if dataset == "CityScape" else PALETTE


def colorize(labels: np.ndarray, palette: np.ndarray = PALETTE) -> np.ndarray:
    """Class map (H, W) -> RGB uint8 (H, W, 3) in the palette's colours (VOC by default)."""
    return palette[labels.astype(np.uint8)]


def save_prediction(img_bgr: np.ndarray, labels: np.ndarray, names: Sequence[str], out_dir: Path, stem: str,
                    palette: np.ndarray = PALETTE) -> List[Path]:
    """Write ``<stem>_seg.png`` and ``<stem>_overlay.png`` into ``out_dir``; returns their paths."""
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
               loc="lower center", ncol=min(len(present), 7), fontsize=7, frameon=False)
    fig.savefig(overlay_path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return [seg_path, overlay_path]


def main(argv: Optional[List[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_trained_model_args(ap)
    ap.add_argument("--images", nargs="+", required=True, help="image files")
    ap.add_argument("--out", default="demo_out", help="folder for the PNG files")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cfg = trained_config(args)
    ctx = make_contexts(cfg.gpus)[0]
    net = load_network(cfg, args.params, ctx)
    names = class_names(cfg)
    failed = []
    for image, stem in zip(args.images, unique_stems(args.images)):  # one.png + one.jpg: two outputs
        try:
            img = load_image(image)
            data = prepare_image(img, cfg.test_scales[0], cfg.network.PIXEL_MEANS)
        except (DatasetFileError, ValueError, cv2.error) as e:  # the other images still get their result
            logger.error("%s: skipped: %s", image, e)
            failed.append(image)
            continue
        labels = predict_labels(net, data, img.shape[:2], ctx)
        paths = save_prediction(img, labels, names, Path(args.out), stem, palette_for(cfg.dataset.dataset))
        logger.info("%s: classes %s -> %s", image, [names[c] for c in np.unique(labels) if c < len(names)],
                    ", ".join(map(str, paths)))
    if failed:
        raise SystemExit(f"{len(failed)} of {len(args.images)} images could not be read: {', '.join(failed)}")


if __name__ == "__main__":
    main()
